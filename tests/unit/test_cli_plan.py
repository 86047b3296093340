"""`railyard plan`: the build plan of a directory, read locally without the API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli_runs import run, write_tree

pytestmark = pytest.mark.usefixtures("isolated_cli")

NODE_MANIFEST = {
    "name": "shop",
    "scripts": {"build": "vite build", "start": "node server.js"},
    "dependencies": {"express": "^4.19.0"},
}


def test_plan_prints_the_plan_as_json_without_the_api(tmp_path: Path) -> None:
    write_tree(tmp_path, {"package.json": json.dumps(NODE_MANIFEST), "server.js": "\n"})

    result = run("plan", str(tmp_path), "--json")

    assert result.exit_code == 0, result.output
    planned = json.loads(result.stdout)
    assert planned["provider"] == "node"
    assert planned["start_command"] == "npm start"
    assert planned["build"] == ["npm run build"]
    assert any(command.startswith("npm ") for command in planned["install"])
    assert "package.json" in planned["files_read"]
    for key in ("language_version", "cache_dirs", "env", "watch_patterns", "config_files"):
        assert key in planned


def test_plan_prints_a_readable_summary_of_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_tree(tmp_path, {"package.json": json.dumps(NODE_MANIFEST), "server.js": "\n"})
    monkeypatch.chdir(tmp_path)

    result = run("plan")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "Provider:         node" in lines
    assert "Start command:    npm start" in lines
    assert "Build:            npm run build" in lines
    assert any(line.startswith("Install:          npm ") for line in lines)
    for label in ("Language version:", "Cache dirs:", "Config files:"):
        assert any(line.startswith(label) for line in lines), label


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"package.json": '{"name": '}, "package.json"),  # malformed manifest: BuildFailed
        ({"README.md": "hi\n"}, "could not tell how to build"),  # no provider: NothingToBuild
    ],
)
def test_plan_errors_are_one_error_line_and_exit_1(
    tmp_path: Path, files: dict[str, str], message: str
) -> None:
    write_tree(tmp_path, files)

    result = run("plan", str(tmp_path))

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert message in result.stderr
