"""Unit tests of the build planner over an in-memory source tree."""

from __future__ import annotations

import json
import re

import pytest

from chalicelib.domain.buildplan import LOOKED_FOR, BuildPlan, plan_build
from chalicelib.domain.errors import BuildFailed, NothingToBuild
from tests.fakes import DictTree

PIP = "python3 -m pip install --disable-pip-version-check --no-input -q"


def plan(files: dict[str, str], override: str | None = None) -> BuildPlan:
    return plan_build(DictTree(files), override)


def package(**fields: object) -> str:
    return json.dumps(fields)


# --- python -------------------------------------------------------------------------------------


def test_python_requirements_installs_into_deps_and_starts_main() -> None:
    result = plan({"requirements.txt": "flask==3.0.0\n", "main.py": "", "app.py": ""})

    assert result.provider == "python"
    assert result.install == (f"{PIP} -r requirements.txt --target .railyard/deps",)
    assert result.build == ()
    assert result.start_command == "python3 main.py"
    assert result.runtime_env == {"PYTHONPATH": "{app}/.railyard/deps"}
    assert result.files_read == ("requirements.txt", "main.py")


def test_python_requirements_without_requirement_lines_skips_pip() -> None:
    text = "# pinned later\n\n   \n--index-url https://example.invalid/simple  # mirror\n"

    result = plan({"requirements.txt": text, "app.py": ""})

    assert result.install == ()
    assert result.start_command == "python3 app.py"


def test_python_requirements_include_counts_as_requirement() -> None:
    result = plan({"requirements.txt": "-r base.txt\n", "main.py": ""})

    assert result.install == (f"{PIP} -r requirements.txt --target .railyard/deps",)


def test_pyproject_without_requirements_installs_the_project() -> None:
    result = plan({"pyproject.toml": "[project]\nname='x'\n", "main.py": ""})

    assert result.install == (f"{PIP} --target .railyard/deps .",)
    assert result.provider == "python"


def test_python_manifest_wins_over_package_json() -> None:
    result = plan({"requirements.txt": "", "package.json": "{", "main.py": ""})

    assert result.provider == "python"  # the malformed package.json was never read


def test_python_without_entry_point_names_what_was_looked_for() -> None:
    with pytest.raises(NothingToBuild) as raised:
        plan({"requirements.txt": "flask\n"})

    message = str(raised.value)
    for looked_for in ("main.py", "app.py", "Procfile", "railyard service settings", "startCommand"):
        assert looked_for in message


def test_loose_python_file_is_a_python_project() -> None:
    result = plan({"app.py": "print(1)"})

    assert (result.provider, result.install, result.start_command) == ("python", (), "python3 app.py")


# --- node ---------------------------------------------------------------------------------------


def test_node_with_lockfile_uses_npm_ci_and_build_and_start_scripts() -> None:
    manifest = package(
        dependencies={"express": "^4"}, scripts={"build": "tsc", "start": "node dist/index.js"}
    )

    result = plan({"package.json": manifest, "package-lock.json": "{}"})

    assert result.provider == "node"
    assert result.install == ("npm ci --no-audit --no-fund",)
    assert result.build == ("npm run build",)
    assert result.start_command == "npm start"
    assert result.runtime_env == {"PATH": "{app}/node_modules/.bin:{PATH}"}
    assert result.files_read == ("package.json", "package-lock.json")


def test_node_without_lockfile_uses_npm_install() -> None:
    result = plan({"package.json": package(devDependencies={"typescript": "5"}, main="lib/a b.js")})

    assert result.install == ("npm install --no-audit --no-fund",)
    assert result.start_command == "node 'lib/a b.js'"


def test_node_without_dependencies_installs_nothing() -> None:
    result = plan({"package.json": package(name="x", dependencies={}), "server.js": ""})

    assert result.install == ()
    assert result.build == ()
    assert result.start_command == "node server.js"


def test_node_prefers_index_js_over_server_js() -> None:
    result = plan({"package.json": "{}", "index.js": "", "server.js": ""})

    assert result.start_command == "node index.js"


def test_malformed_package_json_names_file_line_and_reason() -> None:
    text = '{\n  "name": "x",\n  "scripts": {"build": "tsc",}\n}\n'

    with pytest.raises(BuildFailed) as raised:
        plan({"package.json": text, "index.js": ""})

    assert not isinstance(raised.value, NothingToBuild)
    message = str(raised.value)
    assert "package.json" in message
    assert "line 3" in message
    assert "Expecting property name" in message


def test_package_json_that_is_not_an_object_fails() -> None:
    with pytest.raises(BuildFailed, match=re.escape("package.json must be a JSON object")):
        plan({"package.json": "[]"})


def test_node_without_start_names_what_was_looked_for() -> None:
    with pytest.raises(NothingToBuild) as raised:
        plan({"package.json": package(scripts={"build": "tsc"})})

    assert "scripts.start" in str(raised.value)
    assert "index.js" in str(raised.value)


# --- static -------------------------------------------------------------------------------------


def test_static_site_at_root() -> None:
    result = plan({"index.html": "<h1>hi</h1>"})

    assert result.provider == "staticfile"
    assert result.commands == ()
    assert result.start_command == "python3 -m http.server $PORT --bind 127.0.0.1"


def test_static_site_in_public_serves_from_there() -> None:
    result = plan({"public/index.html": "<h1>hi</h1>", "README.md": ""})

    assert result.provider == "staticfile"
    assert result.start_command == "cd public && python3 -m http.server $PORT --bind 127.0.0.1"


# --- start command precedence -------------------------------------------------------------------


def test_procfile_web_line_wins_over_provider_default() -> None:
    procfile = "# processes\nworker: python3 worker.py\nweb: gunicorn app:app --bind :$PORT\n"

    result = plan({"requirements.txt": "", "main.py": "", "Procfile": procfile})

    assert result.provider == "python"
    assert result.start_command == "gunicorn app:app --bind :$PORT"
    assert "Procfile" in result.files_read


def test_override_wins_over_procfile_and_provider() -> None:
    files = {"package.json": package(scripts={"start": "node a.js"}), "Procfile": "web: node b.js"}

    result = plan(files, override="  node c.js  ")

    assert result.start_command == "node c.js"
    assert result.provider == "node"


def test_only_procfile_is_a_procfile_provider() -> None:
    result = plan({"Procfile": "web: ./serve --port $PORT\n", "serve": ""})

    assert (result.provider, result.commands, result.start_command) == (
        "procfile",
        (),
        "./serve --port $PORT",
    )
    assert result.runtime_env == {}


def test_only_override_is_a_command_provider() -> None:
    result = plan({"run.sh": "#!/bin/sh"}, override="./run.sh")

    assert (result.provider, result.start_command) == ("command", "./run.sh")


def test_blank_override_is_ignored() -> None:
    assert plan({"index.html": ""}, override="   ").provider == "staticfile"


def test_procfile_web_without_command_fails() -> None:
    with pytest.raises(BuildFailed, match="Procfile line 1"):
        plan({"Procfile": "web:\n", "main.py": ""})


# --- nothing detected ---------------------------------------------------------------------------


def test_nothing_detected_lists_every_file_looked_for_and_the_fix() -> None:
    with pytest.raises(NothingToBuild) as raised:
        plan({"README.md": "", "src/lib.rs": "", "Procfile": "worker: ./w\n"})

    message = str(raised.value)
    for name in LOOKED_FOR:
        assert name in message
    assert "railyard service settings" in message
    assert "settings.startCommand" in message
    assert "no `web:` line" in message
    assert "Found at the top level: Procfile, README.md, src/." in message


def test_nothing_detected_points_at_a_lone_subdirectory() -> None:
    with pytest.raises(NothingToBuild, match="Everything is inside `myapp/`"):
        plan({"myapp/main.py": ""})


def test_nothing_detected_says_when_the_source_is_empty() -> None:
    with pytest.raises(NothingToBuild, match="The source is empty"):
        plan({})
