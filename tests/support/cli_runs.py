"""Running the `railyard` CLI in a test: invoking it, logging it in to the fake API
(tests/support/fake_cli_api.py), a directory linked to a service, and a tree of files to deploy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from railyard import cli
from railyard.settings import Config, Link, save_config, save_link
from tests.support.fake_cli_api import TOKEN, FakeState


def api_url(state: FakeState) -> str:
    return f"http://127.0.0.1:{state.port}"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli.app, list(args))


def logged_in(state: FakeState) -> None:
    save_config(Config(api_url=api_url(state), token=TOKEN))


def linked_app(state: FakeState, directory: Path) -> dict[str, Any]:
    """A project 'demo' with service 'web' in production, linked from ``directory``."""
    project, env = state.add_project("demo")
    service = state.add_service(env, "web")
    directory.mkdir(parents=True, exist_ok=True)
    save_link(
        directory,
        Link(
            projectId=project["id"],
            environmentId=env["id"],
            serviceId=service["id"],
            project="demo",
            environment="production",
            service="web",
        ),
    )
    return service


def write_tree(root: Path, files: dict[str, str]) -> None:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


def logged_in_app(
    state: FakeState, tmp_path: Path, files: dict[str, str] | None = None
) -> tuple[Path, dict[str, Any]]:
    """Logged in, and ``tmp_path``/app linked as in `linked_app` (with ``files`` written in it):
    the directory and its service."""
    logged_in(state)
    app_dir = tmp_path / "app"
    service = linked_app(state, app_dir)
    write_tree(app_dir, files or {})
    return app_dir, service


APP_FILES = {
    "app.py": "print('hi')\n",
    "requirements.txt": "flask\n",
    "src/lib/util.py": "X = 1\n",
    "static/logo.svg": "<svg/>\n",
    ".railyardignore": "# local only\n*.log\nsecrets/\n/build\n",
    # everything below must stay out of the tarball
    ".git/HEAD": "ref: refs/heads/main\n",
    "node_modules/left-pad/index.js": "module.exports = 1\n",
    ".venv/bin/python": "#!/bin/sh\n",
    "venv/lib/site.py": "\n",
    "__pycache__/app.cpython-311.pyc": "\0",
    "src/lib/__pycache__/util.cpython-311.pyc": "\0",
    "src/stale.pyc": "\0",
    ".railyard/cache": "x\n",
    "debug.log": "noise\n",
    "secrets/key.pem": "-----BEGIN-----\n",
    "build/out.js": "built\n",
}
EXPECTED_PACKED = {"app.py", "requirements.txt", "src/lib/util.py", "static/logo.svg", ".railyardignore"}
