"""What any `railyard` command says when it cannot work: no config or link, an API it cannot reach,
an API error (against the fake Railyard API of tests/support/fake_cli_api.py, over real HTTP)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from railyard.settings import Config, save_config
from tests.support.cli_runs import linked_app, logged_in, logged_in_app, run, write_tree
from tests.support.fake_cli_api import TOKEN, FakeState

pytestmark = pytest.mark.usefixtures("isolated_cli")


def test_missing_config_and_missing_link_say_what_to_run(fake_api: FakeState, tmp_path: Path) -> None:
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    write_tree(app_dir, {"app.py": "x\n"})
    linked_elsewhere = tmp_path / "linked"
    linked_app(fake_api, linked_elsewhere)

    no_config = run("status", "--dir", str(linked_elsewhere))
    logged_in(fake_api)
    no_link = run("up", "--dir", str(app_dir))

    assert no_config.exit_code == 1
    assert "railyard dev" in no_config.stderr and "railyard login" in no_config.stderr
    assert no_link.exit_code == 1
    assert "railyard init" in no_link.stderr
    assert fake_api.requests == []


def test_an_unreachable_api_is_one_line_naming_its_url(fake_api: FakeState, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    save_config(Config(api_url=f"http://127.0.0.1:{closed_port}", token=TOKEN))
    linked_app(fake_api, tmp_path / "app")

    result = run("status", "--dir", str(tmp_path / "app"))

    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"error: cannot reach the Railyard API at http://127.0.0.1:{closed_port} "
        "(connection refused); is `railyard dev` running?"
    ]


def test_an_api_error_prints_code_and_message(fake_api: FakeState, tmp_path: Path) -> None:
    app_dir, _ = logged_in_app(fake_api, tmp_path)

    result = run("logs", "--deployment", "dep-missing", "--follow", "--build", "--dir", str(app_dir))

    assert result.exit_code == 1
    assert "error: NotFound: deployment dep-missing not found" in result.stderr
