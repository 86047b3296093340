"""`railyard init`: a project and service made once, and the directory linked to them (against the
fake Railyard API of tests/support/fake_cli_api.py, over real HTTP on 127.0.0.1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli_runs import logged_in, run
from tests.support.fake_cli_api import FakeState

pytestmark = pytest.mark.usefixtures("isolated_cli")


def test_init_creates_project_and_service_and_links_the_directory(
    fake_api: FakeState, tmp_path: Path
) -> None:
    logged_in(fake_api)
    app_dir = tmp_path / "My Cool_App"
    app_dir.mkdir()

    result = run("init", "--dir", str(app_dir))

    assert result.exit_code == 0, result.output
    link = json.loads((app_dir / ".railyard.json").read_text())
    service = fake_api.services[link["serviceId"]]
    assert (link["project"], link["environment"], link["service"]) == (
        "my-cool-app",
        "production",
        "my-cool-app",
    )
    assert service["name"] == "my-cool-app"
    assert fake_api.environments[link["environmentId"]]["projectId"] == link["projectId"]

    posts_before = [r for r in fake_api.requests if r[0] == "POST"]
    again = run("init", "--dir", str(app_dir))
    assert again.exit_code == 0
    assert "Already linked to my-cool-app/production/my-cool-app" in again.output
    assert [r for r in fake_api.requests if r[0] == "POST"] == posts_before
