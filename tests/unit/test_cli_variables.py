"""`railyard variables` and `railyard variables set` (against the fake Railyard API of
tests/support/fake_cli_api.py, over real HTTP on 127.0.0.1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli_runs import linked_app, logged_in, run
from tests.support.fake_cli_api import FakeState

pytestmark = pytest.mark.usefixtures("isolated_cli")


def test_variables_set_sends_one_patch_with_every_pair(
    fake_api: FakeState, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logged_in(fake_api)
    linked_app(fake_api, tmp_path / "app")
    monkeypatch.chdir(tmp_path / "app")

    result = run("variables", "set", "A=1", "DATABASE_URL=postgres://u:p@h/db?x=y", "_EMPTY=", "--detach")

    assert result.exit_code == 0, result.output
    patches = [r for r in fake_api.requests if r[0] == "PATCH"]
    assert len(patches) == 1
    assert fake_api.variable_patches == [
        {"set": {"A": "1", "DATABASE_URL": "postgres://u:p@h/db?x=y", "_EMPTY": ""}}
    ]
    assert "dep-0001" in result.output

    listed = run("variables")
    assert listed.exit_code == 0
    assert "DATABASE_URL=postgres://u:p@h/db?x=y" in listed.stdout.splitlines()


@pytest.mark.parametrize("bad", ["NOEQUALS", "=value", "1ABC=x", "BAD-KEY=x", "BAD KEY=x"])
def test_malformed_assignment_is_rejected_before_any_request(
    fake_api: FakeState, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    logged_in(fake_api)
    linked_app(fake_api, tmp_path / "app")
    monkeypatch.chdir(tmp_path / "app")

    result = run("variables", "set", "GOOD=1", bad)

    assert result.exit_code != 0
    assert fake_api.requests == []
