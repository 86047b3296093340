"""`railyard rollback` and its `--preview` (against the fake Railyard API of
tests/support/fake_cli_api.py, over real HTTP on 127.0.0.1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli_runs import logged_in_app, run
from tests.support.fake_cli_api import FakeState

pytestmark = pytest.mark.usefixtures("isolated_cli")


def test_rollback_sends_the_target_and_follows(fake_api: FakeState, tmp_path: Path) -> None:
    app_dir, _ = logged_in_app(fake_api, tmp_path)

    result = run("rollback", "dep-0042", "--dir", str(app_dir))

    assert result.exit_code == 0, result.output
    assert fake_api.rollback_bodies == [{"deploymentId": "dep-0042"}]
    assert "✔ Deployed:" in result.output


def test_rollback_preview_names_what_would_come_back_and_makes_nothing(
    fake_api: FakeState, tmp_path: Path
) -> None:
    app_dir, _ = logged_in_app(fake_api, tmp_path)

    result = run("rollback", "dep-0042", "--preview", "--dir", str(app_dir))

    assert result.exit_code == 0, result.output
    assert "A rollback would run release v1" in result.output
    assert "values of GREETING differ from the current ones" in result.output
    assert fake_api.rollback_bodies == []
