"""Fixture apps for the detections Railway's builder makes and Railyard once missed (issue 11,
part 4): railpack.json, package.json5, bun without a start script, uv packaged apps, uvicorn-only
apps, Next.js static exports, Rust workspaces with several binaries, zsh/bash start scripts.

Each test names the fixture it plans (see test_buildplan_fixtures.py for the check that every
fixture has a test).
"""

from __future__ import annotations

import shlex

from typer.testing import CliRunner

from railyard import cli
from tests.support.build_fixtures import FIXTURES, plan

VENV = "python3 -m venv --copies .venv"
PIP = ".venv/bin/python -m pip install --disable-pip-version-check --no-input -q"
SERVE = "python3 -m http.server $PORT --bind 127.0.0.1"

# --- railpack.json ------------------------------------------------------------------------------


def test_railpack_json_steps_packages_and_deploy_shape_the_plan() -> None:
    result = plan("railpack-json")

    assert result.provider == "node"
    assert result.config_files == ("railpack.json",)
    # packages.node: the tool for the toolchain step, and a concrete language version
    assert (result.language_version, result.tools) == ("22", {"node": "22"})
    # "..." stands for the provider's own commands
    assert result.install == ("npm ci --no-audit --no-fund", "npm run --if-present postinstall:ci")
    assert result.build == ("npm run build", "node scripts/stamp.js")
    assert result.env == {"NODE_OPTIONS": "--max-old-space-size=1024"}
    assert result.start_command == "node dist/server.js --port $PORT"
    assert result.runtime_env == {"PATH": "{app}/bin:{app}/node_modules/.bin:{PATH}", "HOST": "0.0.0.0"}
    # An install railpack.json changed may read any file: it is not restored from a layer.
    assert result.deps_inputs == ()
    # Everything Railyard cannot act on is named, with the file it came from.
    assert result.ignored_keys == (
        "railpack.json: buildAptPackages",
        "railpack.json: steps.install.commands[2]",
        "railpack.json: steps.build.caches",
        "railpack.json: deploy.paths[1]",
        "railpack.json: deploy.aptPackages",
        "railpack.json: packages.ffmpeg",
    )
    assert result.to_json()["ignored_keys"] == list(result.ignored_keys)


def test_railpack_json_provider_overrides_detection() -> None:
    result = plan("railpack-provider")

    # package.json alone would make it a node app
    assert result.provider == "staticfile"
    assert result.start_command == SERVE
    assert result.install == ()
    assert result.ignored_keys == ()


# --- node ---------------------------------------------------------------------------------------


def test_node_package_json5_installs_with_pnpm() -> None:
    result = plan("node-package-json5")

    assert result.provider == "node"
    assert result.install == ("pnpm install --frozen-lockfile",)  # no corepack: pnpm is provided
    assert result.start_command == "pnpm start"
    assert result.language_version == "20"  # engines ">=20"
    assert result.tools == {"node": ">=20", "pnpm": ">=9"}
    assert result.deps_inputs == ("package.json5", "pnpm-lock.yaml")
    assert "package.json5" in result.files_read


def test_node_bun_project_without_a_start_script_runs_its_module() -> None:
    result = plan("node-bun-module")

    assert result.install == ("bun install --frozen-lockfile",)
    assert result.start_command == "bun index.ts"
    assert result.tools == {"bun": "1.1.30"}
    assert result.deps_inputs == ("package.json", "bun.lock", ".bun-version")


def test_node_next_static_export_is_served_from_out() -> None:
    result = plan("node-next-export")

    assert result.build == ("npm run build",)
    # `next start` refuses an exported app: the export is served as files.
    assert result.start_command == f"cd out && {SERVE}"
    assert "next.config.mjs" in result.files_read


# --- python -------------------------------------------------------------------------------------


def test_python_uv_packaged_app_starts_its_project_script() -> None:
    result = plan("python-uv-scripts")

    assert result.language_version == "3.12"  # .python-version wins over requires-python
    assert result.tools == {"python": "3.12"}
    words = shlex.split(result.start_command)
    assert words[:2] == ["python3", "-c"]
    assert words[2] == "import sys; from hello_api.main import run; sys.exit(run())"
    # the src/ layout package is importable without installing the project
    assert result.runtime_env == {
        "PATH": "{app}/.venv/bin:{PATH}",
        "VIRTUAL_ENV": "{app}/.venv",
        "UV_NO_SYNC": "1",
        "PYTHONPATH": "{app}/src",
    }
    assert result.notes == (
        "python: [project.scripts] hello-api, hello-migrate; starting hello-api (hello_api.main:run)",
    )


def test_python_fasthtml_is_served_by_uvicorn() -> None:
    result = plan("python-fasthtml")

    assert result.start_command == "python3 -m uvicorn main:app --host 0.0.0.0 --port $PORT"
    # python-fasthtml brings uvicorn: nothing added to the install
    assert result.install == (VENV, f"{PIP} -r requirements.txt")


def test_python_uvicorn_only_app_is_served_by_uvicorn() -> None:
    result = plan("python-uvicorn-only")

    assert result.start_command == "python3 -m uvicorn main:app --host 0.0.0.0 --port $PORT"
    assert result.install == (VENV, f"{PIP} -r requirements.txt")


# --- rust and shell -----------------------------------------------------------------------------


def test_rust_workspace_with_several_binaries_builds_the_default_member_and_says_so() -> None:
    result = plan("rust-workspace-bins")

    assert result.build == ("cargo build --release --package api",)
    assert result.start_command == "./target/release/api"
    assert result.notes == (
        "rust: workspace members with a binary: crates/api, crates/worker; building crates/api "
        "(the first of workspace.default-members)",
        "rust: binaries api, seed; starting api (crates/api/Cargo.toml default-run)",
    )
    assert result.deps_inputs == (
        "Cargo.toml",
        "crates/api/Cargo.toml",
        "crates/shared/Cargo.toml",
        "crates/worker/Cargo.toml",
        "Cargo.lock",
    )


def test_shell_script_with_a_zsh_shebang_runs_with_zsh() -> None:
    assert plan("shell-zsh").start_command == "zsh start.sh"


# --- what `railyard plan` shows -----------------------------------------------------------------


def test_railyard_plan_shows_tools_ignored_keys_and_notes() -> None:
    shown = {
        name: CliRunner().invoke(cli.app, ["plan", str(FIXTURES / name)])
        for name in ("railpack-json", "rust-workspace-bins")
    }

    assert all(result.exit_code == 0 for result in shown.values()), shown
    railpack = shown["railpack-json"].stdout.splitlines()
    assert "Tools:            node 22" in railpack
    assert "config: ignoring railpack.json: buildAptPackages" in railpack
    assert "config: ignoring railpack.json: packages.ffmpeg" in railpack
    assert any(
        line.startswith("plan: rust: workspace members")
        for line in shown["rust-workspace-bins"].stdout.splitlines()
    )
