"""Detection rules around the fixture apps (test_buildplan_fixtures_detection.py): railpack.json's
precedence and its bad input, shebang shells, Rust binary choice, and start-command variants."""

from __future__ import annotations

import json
import re

import pytest

from chalicelib.domain.buildplan import BuildPlan, plan_build
from chalicelib.domain.errors import BuildFailed, NothingToBuild
from tests.support.source_tree import DictTree

SERVE = "python3 -m http.server $PORT --bind 127.0.0.1"


def plan(files: dict[str, str], override: str | None = None) -> BuildPlan:
    return plan_build(DictTree(files), override)


NODE_APP = {
    "package.json": json.dumps(
        {"scripts": {"build": "tsc", "start": "node dist/a.js"}, "dependencies": {"x": "1"}}
    ),
    "package-lock.json": "{}",
}
RAILPACK = json.dumps(
    {"steps": {"build": {"commands": ["railpack-build"]}}, "deploy": {"startCommand": "railpack-start"}}
)

# --- railpack.json ------------------------------------------------------------------------------


def test_railway_json_and_the_service_setting_win_over_railpack_json() -> None:
    railway = json.dumps(
        {"build": {"buildCommand": "railway-build"}, "deploy": {"startCommand": "railway-start"}}
    )
    files = {**NODE_APP, "railpack.json": RAILPACK}

    alone = plan(files)
    with_railway = plan({**files, "railway.json": railway})
    with_setting = plan({**files, "railway.json": railway}, override="setting-start")

    assert (alone.build, alone.start_command) == (("railpack-build",), "railpack-start")
    assert (with_railway.build, with_railway.start_command) == (("railway-build",), "railway-start")
    assert with_setting.start_command == "setting-start"
    assert with_railway.config_files == ("railway.json", "railpack.json")


def test_a_railpack_start_command_alone_is_enough_to_deploy() -> None:
    result = plan({"run.sh": "", "railpack.json": '{"deploy": {"startCommand": "sh run.sh"}}'})

    assert (result.provider, result.start_command) == ("command", "sh run.sh")


def test_railpack_provider_names_as_railpack_spells_them() -> None:
    result = plan(
        {
            "go.mod": "module example.com/app\n",
            "main.go": "package main\n",
            "railpack.json": '{"provider": "golang"}',
        }
    )

    assert result.provider == "go"


@pytest.mark.parametrize(
    ("railpack", "message"),
    [
        (
            '{"provider": "elixir"}',
            "railpack.json: provider 'elixir' is not one Railyard builds; it builds php, go",
        ),
        ('{"provider": "python"}', "railpack.json: provider is 'python', but none of requirements.txt"),
        ('{"provider": ', "railpack.json is not valid JSON5"),
        ('{"steps": {"build": {"commands": "make"}}}', "railpack.json: steps.build.commands must be a list"),
        ('["node"]', "railpack.json must be a JSON object"),
    ],
)
def test_bad_railpack_json_fails_naming_the_file_and_the_key(railpack: str, message: str) -> None:
    with pytest.raises(BuildFailed, match=re.escape(message)):
        plan({**NODE_APP, "railpack.json": railpack})


def test_a_dockerfile_build_says_railpack_json_is_not_used() -> None:
    result = plan({"Dockerfile": "FROM scratch\n", "railpack.json": RAILPACK})

    assert result.provider == "dockerfile"
    assert result.ignored_keys == ("railpack.json: the whole file (a Dockerfile builds this source)",)


def test_a_version_range_in_railpack_packages_is_a_tool_not_a_language_version() -> None:
    result = plan({**NODE_APP, "railpack.json": '{"packages": {"node": ">=20 <23", "bun": "1.1"}}'})

    assert result.tools == {"node": ">=20 <23", "bun": "1.1"}
    assert result.language_version == "20"  # the detected one; the toolchain step resolves the range


# --- shell --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first_line", "shell"),
    [
        ("#!/bin/bash", "bash"),
        ("#!/usr/bin/env bash", "bash"),
        ("#!/bin/zsh", "zsh"),
        ("#!/usr/bin/env zsh", "zsh"),
        ("#!/bin/sh", "sh"),
        ("#!/bin/dash", "sh"),
        ("#!/usr/bin/env fish", "bash"),  # not POSIX: bash, as Railway's builder falls back
        ("echo no shebang", "sh"),
    ],
)
def test_start_sh_runs_with_the_shell_its_shebang_names(first_line: str, shell: str) -> None:
    assert plan({"start.sh": f"{first_line}\necho hi\n"}).start_command == f"{shell} start.sh"


# --- rust ---------------------------------------------------------------------------------------

CARGO = '[package]\nname = "app"\nversion = "0.1.0"\n'


def test_a_package_with_several_binaries_and_no_default_run_asks_for_one() -> None:
    files = {"Cargo.toml": CARGO, "src/main.rs": "", "src/bin/worker.rs": "", "src/bin/tool/main.rs": ""}

    with pytest.raises(NothingToBuild) as raised:
        plan(files)

    message = str(raised.value)
    assert "binaries app, tool, worker and no package.default-run in Cargo.toml" in message
    assert plan(files, override="./target/release/worker").start_command == "./target/release/worker"


def test_default_run_picks_among_several_binaries() -> None:
    files = {"Cargo.toml": CARGO + 'default-run = "worker"\n', "src/main.rs": "", "src/bin/worker.rs": ""}

    result = plan(files)

    assert result.start_command == "./target/release/worker"
    assert result.notes == ("rust: binaries app, worker; starting worker (Cargo.toml default-run)",)


def test_a_workspace_without_default_members_builds_the_first_member_with_a_binary() -> None:
    files = {
        "Cargo.toml": '[workspace]\nmembers = ["lib", "web", "jobs"]\n',
        "lib/Cargo.toml": '[package]\nname = "lib"\n',
        "lib/src/lib.rs": "",
        "web/Cargo.toml": '[package]\nname = "web"\n',
        "web/src/main.rs": "",
        "jobs/Cargo.toml": '[package]\nname = "jobs"\n',
        "jobs/src/main.rs": "",
    }

    result = plan(files)

    assert result.build == ("cargo build --release --package web",)
    assert result.notes == ("rust: workspace members with a binary: web, jobs; building web",)


# --- node and python start commands -------------------------------------------------------------


def test_bun_without_start_script_or_module_runs_main() -> None:
    result = plan({"package.json": json.dumps({"main": "src/server.ts", "packageManager": "bun@1.1.20"})})

    assert result.start_command == "bun src/server.ts"
    assert result.tools == {"bun": "1.1.20"}


def test_node_without_a_start_script_ignores_module() -> None:
    # `module` is a bundler's entry for a library; only bun runs it as the app.
    result = plan({"package.json": json.dumps({"module": "index.mjs"}), "server.js": ""})

    assert result.start_command == "node server.js"


def test_next_export_with_dist_dir_serves_that_directory() -> None:
    files = {
        "package.json": json.dumps({"scripts": {"build": "next build"}, "dependencies": {"next": "14"}}),
        "next.config.js": "module.exports = { output: 'export', distDir: 'build' }\n",
    }

    assert plan(files).start_command == f"cd build && {SERVE}"


def test_an_app_object_without_uvicorn_installed_runs_the_main_file() -> None:
    result = plan({"requirements.txt": "starlette\n", "main.py": "app = Starlette()\n"})

    assert result.start_command == "python3 main.py"


def test_a_project_script_in_a_flat_layout_needs_no_extra_import_path() -> None:
    pyproject = '[project]\nname = "svc"\ndependencies = []\n[project.scripts]\nserve = "svc:main"\n'

    result = plan({"pyproject.toml": pyproject, "svc/__init__.py": ""})

    assert result.start_command == "python3 -c 'import sys; from svc import main; sys.exit(main())'"
    assert result.runtime_env == {}  # nothing to install: no venv, and no import path either


def test_a_project_script_that_is_not_an_entry_point_is_not_run() -> None:
    pyproject = (
        '[project]\nname = "svc"\ndependencies = []\n[project.scripts]\nserve = "svc:main; rm -rf ~"\n'
    )

    with pytest.raises(NothingToBuild):
        plan({"pyproject.toml": pyproject})
