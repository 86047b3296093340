"""`railyard login --token` (and plain `railyard login` after `railyard dev`): the token is checked
before anything is saved (against the fake Railyard API of tests/support/fake_cli_api.py, over real
HTTP on 127.0.0.1). The device flow is test_cli_auth.py's."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tests.support.cli_runs import api_url, logged_in, run
from tests.support.fake_cli_api import TOKEN, FakeState

pytestmark = pytest.mark.usefixtures("isolated_cli")


def test_login_verifies_the_token_and_saves_config(fake_api: FakeState, tmp_path: Path) -> None:
    result = run("login", "--token", TOKEN, "--api-url", api_url(fake_api) + "/")

    assert result.exit_code == 0, result.output
    config_file = tmp_path / "home" / "config.json"
    assert json.loads(config_file.read_text()) == {"api_url": api_url(fake_api), "token": TOKEN}
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600  # it holds a bearer token
    assert ("GET", "/v1/whoami") in fake_api.requests


def test_login_with_a_bad_token_saves_nothing(fake_api: FakeState, tmp_path: Path) -> None:
    result = run("login", "--token", "wrong", "--api-url", api_url(fake_api))

    assert result.exit_code == 1
    assert "error: Unauthorized: invalid or missing token" in result.stderr
    assert not (tmp_path / "home" / "config.json").exists()


def test_login_without_token_checks_the_config_the_platform_wrote(fake_api: FakeState) -> None:
    logged_in(fake_api)

    result = run("login")

    assert result.exit_code == 0, result.output
    assert "Already logged in" in result.output
    assert fake_api.requests == [("GET", "/v1/whoami")]
