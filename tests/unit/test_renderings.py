"""The two AWS renderings of a BuildPlan: the CodeBuild buildspec and the Dockerfile.

Plans are built here as BuildPlan literals (not by the planner), so these tests pin the renderings'
contract whatever detection decides. Buildspecs are read back with yaml.safe_load: a command that
does not survive that round trip would reach CodeBuild changed.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from chalicelib.domain.buildplan import DEFAULT_NODE_VERSION, DEFAULT_PYTHON_VERSION, BuildPlan, plan_build
from chalicelib.domain.errors import BuildFailed
from chalicelib.domain.renderings import (
    VARIABLES_DIGEST_ENV,
    render_buildspec,
    render_dockerfile,
    variables_digest,
)
from tests.support.renderings import (
    buildspec,
    deps_key,
    dockerfile_instructions,
    dockerfile_run_commands,
    embedded_dockerfile,
    phase_commands,
)
from tests.support.source_tree import DictTree

IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/railyard/svc_01:dep_01"

NODE_SPA = BuildPlan(
    provider="node",
    install=("npm ci --no-audit --no-fund",),
    build=("npm run build",),
    start_command="npx --yes serve -s dist -l tcp://0.0.0.0:$PORT",
    runtime_env={"PATH": "{app}/node_modules/.bin:{PATH}"},
    files_read=("package.json", "package-lock.json", "vite.config.ts"),
    language_version="20",
    cache_dirs=("~/.npm",),
    env={"NODE_ENV": "production", "VITE_API_URL": "https://api.example.com/v1?x=1&y=2"},
    deps_inputs=("package.json", "package-lock.json"),
    deps_dirs=("node_modules",),
)

PYTHON_GUNICORN = BuildPlan(
    provider="python",
    install=(
        "python3 -m venv --copies .venv",
        ".venv/bin/python -m pip install --disable-pip-version-check --no-input -q -r requirements.txt",
    ),
    build=(),
    start_command="python3 -m gunicorn --bind 0.0.0.0:$PORT app:app",
    runtime_env={"PATH": "{app}/.venv/bin:{PATH}", "VIRTUAL_ENV": "{app}/.venv"},
    files_read=("requirements.txt", "app.py"),
    language_version="3.11",
    cache_dirs=("~/.cache/pip",),
    env={"PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    deps_inputs=("requirements.txt", ".python-version"),
    deps_dirs=(".venv",),
)

GO = BuildPlan(
    provider="go",
    install=("go mod download",),
    build=("CGO_ENABLED=0 go build -ldflags='-s -w' -o out ./cmd/server",),
    start_command="./out",
    files_read=("go.mod", "go.sum", "cmd/server/main.go"),
    language_version="1.22",
    cache_dirs=("~/go/pkg/mod", "~/.cache/go-build"),
    deps_inputs=("go.mod", "go.sum"),
)

DOCKERFILE = BuildPlan(
    provider="dockerfile",
    install=(),
    build=(),
    start_command="",
    files_read=("Dockerfile",),
    dockerfile="deploy/Dockerfile",
)


def _spec(plan: BuildPlan, **kwargs: Any) -> dict[str, Any]:
    return buildspec(plan, image_uri=kwargs.pop("image_uri", IMAGE), **kwargs)


def _own_shell(command: str) -> str:
    """How the buildspec runs a plan command: in a subshell of its own."""
    return f"(\n{command}\n)"


# -- buildspec ------------------------------------------------------------------------------------


def test_node_buildspec_phases_commands_cache_and_env() -> None:
    spec = _spec(NODE_SPA)

    assert spec["version"] == 0.2
    assert spec["phases"]["install"]["runtime-versions"] == {"nodejs": "20"}
    pre_build = phase_commands(spec, "pre_build")
    assert pre_build == [
        "aws ecr get-login-password --region eu-west-1 | docker login --username AWS "
        "--password-stdin 123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    ]
    build = phase_commands(spec, "build")
    assert build[:2] == [_own_shell("npm ci --no-audit --no-fund"), _own_shell("npm run build")]
    assert build[-1] == 'docker build -f .railyard/Dockerfile -t "$IMAGE_URI" .'
    # The artifact contract: runtime.json, then the tarball CodeBuild uploads, before the image.
    assert any(".railyard/runtime.json" in c and "node_modules/.bin" in c for c in build)
    assert "tar --sort=name --exclude=./.railyard-out -czf .railyard-out/artifact.tar.gz ." in build
    assert phase_commands(spec, "post_build") == ['docker push "$IMAGE_URI"']
    # A failed build must not go on to post_build and push.
    assert spec["phases"]["build"]["on-failure"] == "ABORT"

    variables = spec["env"]["variables"]
    assert variables["NODE_ENV"] == "production"
    assert variables["VITE_API_URL"] == "https://api.example.com/v1?x=1&y=2"
    assert variables["IMAGE_URI"] == IMAGE
    assert variables["CI"] == "true"
    assert spec["cache"]["paths"] == ["/root/.npm/**/*"]
    assert spec["artifacts"] == {"base-directory": ".railyard-out", "files": ["artifact.tar.gz"]}


def test_node_buildspec_embeds_the_rendered_dockerfile_and_keeps_host_deps_out_of_the_context() -> None:
    spec = _spec(NODE_SPA)
    assert embedded_dockerfile(spec) == render_dockerfile(NODE_SPA)
    ignore_cmd = next(c for c in phase_commands(spec, "build") if "Dockerfile.dockerignore" in c)
    encoded = ignore_cmd.split()[1]
    assert "node_modules" in base64.b64decode(encoded).decode().splitlines()


def test_python_buildspec() -> None:
    spec = _spec(PYTHON_GUNICORN, image_uri=None)

    # Without an image there is nothing to log in to or push, and no docker at all.
    assert "pre_build" not in spec["phases"]
    assert "post_build" not in spec["phases"]
    assert spec["phases"]["install"]["runtime-versions"] == {"python": "3.11"}  # a string, never 3.1
    build = phase_commands(spec, "build")
    assert build[0] == _own_shell(PYTHON_GUNICORN.install[0])
    assert not any("docker" in c for c in build)
    assert "IMAGE_URI" not in spec["env"]["variables"]
    assert spec["env"]["variables"]["PIP_DISABLE_PIP_VERSION_CHECK"] == "1"
    assert spec["cache"]["paths"] == ["/root/.cache/pip/**/*"]


def test_go_buildspec() -> None:
    spec = _spec(GO)
    assert spec["phases"]["install"]["runtime-versions"] == {"golang": "1.22"}
    build = phase_commands(spec, "build")
    assert build[:2] == [_own_shell(c) for c in GO.install + GO.build]
    # The compile cache holds objects of this service's code: not shared through the project cache.
    assert spec["cache"]["paths"] == ["/root/go/pkg/mod/**/*"]


def test_dockerfile_provider_buildspec_builds_the_users_dockerfile() -> None:
    spec = _spec(DOCKERFILE)
    assert "install" not in spec["phases"]  # no managed runtime to select
    build = phase_commands(spec, "build")
    assert build[-1] == 'docker build -f deploy/Dockerfile -t "$IMAGE_URI" .'
    assert not any("base64" in c for c in build)
    assert phase_commands(spec, "post_build") == ['docker push "$IMAGE_URI"']
    assert "cache" not in spec


@pytest.mark.parametrize(
    "command",
    [
        "echo 'a: b' # not a comment to YAML",
        'node -e "console.log({a: [1, 2]})"',
        "printf '%s\\n' \"tab\there\" && echo $HOME | tr ':' '\\n'",
        "echo - * & | > @ ` % ! ? [x] {y}",
        "echo 'héllo wörld 😀 \u2028 line separator'",
        "yes: no",
        "true\nfalse",  # a multi-line command
        "~",
    ],
)
def test_commands_with_yaml_special_characters_round_trip(command: str) -> None:
    plan = BuildPlan(
        provider="node",
        install=(),
        build=(command,),
        start_command="npm start",
        env={"SPECIAL": command},
    )
    # No image: a Dockerfile ENV cannot hold a line break (see the next test); YAML is the subject.
    spec = _spec(plan, image_uri=None)
    assert phase_commands(spec, "build")[0] == _own_shell(command)
    assert spec["env"]["variables"]["SPECIAL"] == command


def test_a_line_break_in_a_build_variable_is_refused_by_the_dockerfile() -> None:
    plan = BuildPlan(provider="node", install=(), build=(), start_command="x", env={"MULTI": "a\nb"})
    with pytest.raises(BuildFailed, match="MULTI contains a line break"):
        render_dockerfile(plan)


def test_dependency_layer_in_s3_restores_and_skips_install_on_a_hit() -> None:
    spec = _spec(NODE_SPA, cache_bucket_path="railyard-cache/deps-cache/svc_01")

    key_cmd, restore = phase_commands(spec, "pre_build")[1:]
    # The key covers provider, version, install commands and every deps input's content.
    assert key_cmd.startswith("export RAILYARD_DEPS_KEY=$(")
    assert "for f in package.json package-lock.json;" in key_cmd
    assert "node 20 'npm ci --no-audit --no-fund' NODE_ENV=production" in key_cmd
    assert '"s3://railyard-cache/deps-cache/svc_01/deps/$RAILYARD_DEPS_KEY.tar.gz"' in restore
    assert "deps: cache hit" in restore and "deps: cache miss" in restore

    install, save = phase_commands(spec, "build")[:2]
    assert install == 'if [ "${RAILYARD_DEPS_HIT:-0}" != 1 ]; then\n(\nnpm ci --no-audit --no-fund\n)\nfi'
    assert "tar --ignore-failed-read -czf /tmp/railyard-deps.tar.gz -- node_modules" in save
    # Failing to save the layer must not fail the build.
    assert "|| echo" in save


def test_no_dependency_layer_without_inputs() -> None:
    plan = BuildPlan(provider="node", install=("npm install",), build=(), start_command="npm start")
    spec = _spec(plan, image_uri=None, cache_bucket_path="railyard-cache/x")
    assert "pre_build" not in spec["phases"]
    assert phase_commands(spec, "build")[0] == _own_shell("npm install")


def test_rust_installs_its_toolchain_with_rustup() -> None:
    plan = BuildPlan(
        provider="rust",
        install=(),
        build=("cargo build --release",),
        start_command="./target/release/app",
        language_version="1.79",
    )
    spec = _spec(plan, image_uri=None)
    install = spec["phases"]["install"]
    assert "runtime-versions" not in install
    assert any("rustup toolchain install 1.79" in c for c in install["commands"])


def test_invalid_build_variable_name_is_refused() -> None:
    plan = BuildPlan(provider="node", install=(), build=(), start_command="x", env={"BAD NAME": "1"})
    with pytest.raises(BuildFailed, match="BAD NAME"):
        render_buildspec(plan, image_uri=None)


# -- Dockerfile -----------------------------------------------------------------------------------


def _assert_common_dockerfile(plan: BuildPlan, dockerfile: str) -> list[str]:
    lines = dockerfile_instructions(dockerfile)
    froms = [line for line in lines if line.startswith("FROM ")]
    assert len(froms) >= 2, "multi-stage"
    users = [line for line in lines if line.startswith("USER ")]
    assert users, "runs as a non-root user"
    uid = users[-1].split()[1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0
    assert "ENV PORT=8080" in lines
    assert "EXPOSE ${PORT}" in lines
    # The start command runs under a shell, so $PORT in it is expanded at start, and comes last.
    assert lines[-1] == "CMD " + json.dumps(["/bin/sh", "-c", plan.start_command])
    assert json.loads(lines[-1][4:])[2] == plan.start_command
    # Every deps input is copied before the source, and install runs in between.
    source_copy = lines.index("COPY . .")
    for path in plan.deps_inputs:
        copy_index = next(i for i, line in enumerate(lines) if line.startswith("COPY [") and path in line)
        assert copy_index < source_copy
    run_lines = [i for i, line in enumerate(lines) if line.startswith("RUN ")]
    if plan.deps_inputs and plan.install:
        first_install = next(i for i in run_lines if plan.install[0] in lines[i].replace('\\"', '"'))
        assert first_install < source_copy
    return lines


def test_node_spa_dockerfile() -> None:
    dockerfile = render_dockerfile(NODE_SPA)
    assert dockerfile is not None
    lines = _assert_common_dockerfile(NODE_SPA, dockerfile)
    assert lines[0] == "FROM node:20-slim AS build"
    assert "FROM node:20-slim AS runtime" in lines
    assert 'COPY ["package.json", "package-lock.json", "./"]' in lines
    assert dockerfile_run_commands(dockerfile)[:2] == ["npm ci --no-audit --no-fund", "npm run build"]
    assert "RUN --mount=type=cache,target=/root/.npm " in dockerfile
    assert 'ENV VITE_API_URL="https://api.example.com/v1?x=1&y=2"' in lines
    # runtime_env is resolved for the image: {app} -> /app, {PATH} -> the image's PATH.
    assert 'ENV PATH="/app/node_modules/.bin:${PATH}"' in lines
    assert "COPY --from=build --chown=10001:10001 /app /app" in lines


def test_python_gunicorn_dockerfile() -> None:
    dockerfile = render_dockerfile(PYTHON_GUNICORN)
    assert dockerfile is not None
    lines = _assert_common_dockerfile(PYTHON_GUNICORN, dockerfile)
    assert lines[0] == "FROM python:3.11-slim AS build"
    assert "FROM python:3.11-slim AS runtime" in lines
    assert 'COPY ["requirements.txt", ".python-version", "./"]' in lines
    # The venv is made in /app by the image's python and runs there: nothing outside /app is copied.
    assert dockerfile_run_commands(dockerfile)[:2] == list(PYTHON_GUNICORN.install)
    assert 'ENV PATH="/app/.venv/bin:${PATH}"' in lines
    assert 'ENV VIRTUAL_ENV="/app/.venv"' in lines
    assert "COPY --from=build /usr/local /usr/local" not in lines


def test_go_dockerfile_runs_the_binary_on_a_slim_base() -> None:
    dockerfile = render_dockerfile(GO)
    assert dockerfile is not None
    lines = _assert_common_dockerfile(GO, dockerfile)
    assert lines[0] == "FROM golang:1.22 AS build"
    assert "FROM debian:bookworm-slim AS runtime" in lines
    assert "COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt" in lines
    assert dockerfile_run_commands(dockerfile)[:2] == list(GO.install + GO.build)
    assert "--mount=type=cache,target=/root/go/pkg/mod" in dockerfile


def test_dockerfile_provider_has_no_rendered_dockerfile() -> None:
    assert render_dockerfile(DOCKERFILE) is None


def test_nested_deps_inputs_keep_their_directories() -> None:
    plan = BuildPlan(
        provider="node",
        install=("npm ci",),
        build=(),
        start_command="npm start",
        deps_inputs=("package.json", "package-lock.json", "packages/api/package.json"),
    )
    dockerfile = render_dockerfile(plan)
    assert dockerfile is not None
    lines = dockerfile_instructions(dockerfile)
    assert 'COPY ["package.json", "package-lock.json", "./"]' in lines
    assert 'COPY ["packages/api/package.json", "./packages/api/"]' in lines


def test_without_deps_inputs_install_runs_after_the_whole_source_is_copied() -> None:
    plan = BuildPlan(
        provider="python",
        install=("python3 -m venv --copies .venv", ".venv/bin/python -m pip install ."),
        build=(),
        start_command="python3 main.py",
    )
    dockerfile = render_dockerfile(plan)
    assert dockerfile is not None
    lines = dockerfile_instructions(dockerfile)
    assert lines[0] == f"FROM python:{DEFAULT_PYTHON_VERSION}-slim AS build"  # the provider's default
    install = next(i for i, line in enumerate(lines) if "pip install" in line)
    assert lines.index("COPY . .") < install


def test_dockerfile_env_values_stay_literal() -> None:
    plan = BuildPlan(
        provider="node",
        install=(),
        build=(),
        start_command="node server.js",
        env={"SECRETISH": 'a$HOME"b\\c'},
    )
    dockerfile = render_dockerfile(plan)
    assert dockerfile is not None
    assert 'ENV SECRETISH="a\\$HOME\\"b\\\\c"' in dockerfile.splitlines()


def test_start_command_with_quotes_and_comment_survives_cmd() -> None:
    plan = BuildPlan(
        provider="node",
        install=(),
        build=(),
        start_command="node -e \"require('http').createServer().listen(process.env.PORT)\" # x",
    )
    dockerfile = render_dockerfile(plan)
    assert dockerfile is not None
    last = dockerfile.splitlines()[-1]
    assert json.loads(last[len("CMD ") :]) == ["/bin/sh", "-c", plan.start_command]


@pytest.mark.parametrize(
    ("version", "image"),
    [
        ("20.x", "node:20-slim"),
        ("v18.19.0", "node:18.19.0-slim"),
        ("latest", f"node:{DEFAULT_NODE_VERSION}-slim"),  # the planner's default, not one of its own
    ],
)
def test_loose_versions_are_normalised(version: str, image: str) -> None:
    plan = BuildPlan(
        provider="node", install=(), build=(), start_command="npm start", language_version=version
    )
    dockerfile = render_dockerfile(plan)
    assert dockerfile is not None
    assert f"FROM {image} AS build" in dockerfile


def test_version_ranges_are_refused_not_pasted_into_from() -> None:
    plan = BuildPlan(
        provider="node", install=(), build=(), start_command="npm start", language_version=">=18\nRUN id"
    )
    with pytest.raises(BuildFailed, match="not a concrete version"):
        render_dockerfile(plan)
    with pytest.raises(BuildFailed, match="not a concrete version"):
        render_buildspec(plan, image_uri=None)


# -- review findings: cache scope, shell state, tool setup, toolchains, key inputs ------------------


def _run_build_phase(spec: dict[str, Any], cwd: Path, env: dict[str, str] | None = None) -> None:
    """Runs the build phase's commands as CodeBuild 0.2 does: one after another in one bash."""
    script = "set -e\n" + "\n".join(phase_commands(spec, "build")) + "\n"
    subprocess.run(["bash", "-c", script], cwd=cwd, env={**os.environ, **(env or {})}, check=True, timeout=30)


def test_the_project_cache_holds_only_shareable_download_caches() -> None:
    # GIVEN a plan whose cache dirs mix a download cache, an in-app cache and a compile cache
    plan = dataclasses.replace(NODE_SPA, cache_dirs=("~/.npm", ".next/cache", "~/.cache/go-build"))

    # WHEN it is rendered, with or without the per-service dependency layer
    for cache_bucket_path in (None, "railyard-cache/deps-cache/svc_01"):
        spec = _spec(plan, cache_bucket_path=cache_bucket_path)

        # THEN CodeBuild's project-wide cache gets only the download cache: node_modules and
        # .next/cache of one service would otherwise be restored into every other service's build
        assert spec["cache"]["paths"] == ["/root/.npm/**/*"]
    assert "cache" not in _spec(dataclasses.replace(plan, cache_dirs=(".next/cache",)))


def test_a_cd_in_one_plan_command_does_not_move_the_next_ones_or_the_artifact(tmp_path: Path) -> None:
    # GIVEN a plan whose install changes directory (go workspaces do: `cd api && ...`)
    (tmp_path / "api").mkdir()
    plan = BuildPlan(
        provider="shell",
        install=("cd api && touch installed", "touch second"),
        build=("touch built",),
        start_command="sh start.sh",
    )

    # WHEN the build phase runs in one shell, as CodeBuild 0.2 runs it
    _run_build_phase(_spec(plan, image_uri=None), tmp_path)

    # THEN every command started at the root, and the artifact packs the root
    assert (tmp_path / "api" / "installed").exists()
    assert (tmp_path / "second").exists() and (tmp_path / "built").exists()
    with tarfile.open(tmp_path / ".railyard-out" / "artifact.tar.gz") as tar:
        names = set(tar.getnames())
    assert {"./api/installed", "./built", "./.railyard/runtime.json"} <= names


def test_corepack_is_enabled_even_when_the_dependency_layer_skips_the_install(tmp_path: Path) -> None:
    # GIVEN a pnpm plan with a dependency layer, on a build where the layer was restored
    plan = BuildPlan(
        provider="node",
        install=("corepack enable && pnpm install --frozen-lockfile",),
        build=("pnpm run build",),
        start_command="pnpm start",
        deps_inputs=("package.json", "pnpm-lock.yaml"),
        deps_dirs=("node_modules",),
    )
    spec = _spec(plan, image_uri=None, cache_bucket_path="railyard-cache/deps-cache/svc_01")
    build = phase_commands(spec, "build")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("corepack", "pnpm"):
        (bin_dir / tool).write_text(f'#!/bin/sh\necho "{tool} $*" >> "$CALLS"\n')
        (bin_dir / tool).chmod(0o755)
    calls = tmp_path / "calls"

    # WHEN the install and build commands run with RAILYARD_DEPS_HIT=1
    # setup, the guarded install, then the plan's build command
    script = "\n".join([build[0], build[1], build[build.index(_own_shell("pnpm run build"))]])
    env = {"RAILYARD_DEPS_HIT": "1", "CALLS": str(calls), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    subprocess.run(["bash", "-ec", script], cwd=tmp_path, env={**os.environ, **env}, check=True, timeout=30)

    # THEN corepack's shims were set up for `pnpm run build`, and only the install was skipped
    assert calls.read_text().splitlines() == ["corepack enable", "pnpm run build"]


@pytest.mark.parametrize(
    ("toolchain", "image", "rustup"),
    [
        ("stable", "rust:1", None),  # the planner's default when nothing pins a toolchain
        (None, "rust:1", None),
        ("1.79.0", "rust:1.79.0", None),
        ("nightly-2024-05-01", "rust:1", "nightly-2024-05-01"),
        ("beta", "rust:1", "beta"),
    ],
)
def test_rust_toolchain_channels_render(toolchain: str | None, image: str, rustup: str | None) -> None:
    plan = BuildPlan(
        provider="rust",
        install=("cargo fetch",),
        build=("cargo build --release",),
        start_command="./target/release/app",
        language_version=toolchain,
        deps_inputs=("Cargo.toml", "Cargo.lock"),
        deps_dirs=("target",),
    )

    spec = _spec(plan, image_uri=None)
    dockerfile = render_dockerfile(plan)

    assert dockerfile is not None
    assert any(
        f"rustup toolchain install {toolchain or 'stable'} " in c
        for c in spec["phases"]["install"]["commands"]
    )
    assert f"FROM {image} AS build" in dockerfile
    runs = dockerfile_run_commands(dockerfile)
    if rustup is None:
        assert not any("rustup" in c for c in runs)
    else:
        assert runs[0] == f"rustup toolchain install {rustup} --profile minimal && rustup default {rustup}"


def test_a_rust_toolchain_that_is_not_a_release_or_channel_is_refused() -> None:
    plan = BuildPlan(provider="rust", install=(), build=(), start_command="x", language_version="stable; id")
    with pytest.raises(BuildFailed, match="rust toolchain"):
        render_dockerfile(plan)
    with pytest.raises(BuildFailed, match="rust toolchain"):
        render_buildspec(plan, image_uri=None)


@pytest.mark.parametrize(
    ("provider", "install", "inputs"),
    [
        ("rust", "cargo fetch", ("Cargo.toml", "Cargo.lock")),
        ("php", "composer install --no-dev", ("composer.json", "composer.lock")),
    ],
)
def test_installs_that_need_the_whole_source_run_after_it_is_copied(
    provider: str, install: str, inputs: tuple[str, ...]
) -> None:
    # cargo refuses a manifest whose src/main.rs is absent; Laravel's composer scripts run artisan.
    plan = BuildPlan(
        provider, (install,), (), "x", language_version=None, deps_inputs=inputs, deps_dirs=("x",)
    )

    dockerfile = render_dockerfile(plan)

    assert dockerfile is not None
    lines = dockerfile_instructions(dockerfile)
    assert not any(line.startswith("COPY [") for line in lines)
    install_at = next(i for i, line in enumerate(lines) if install in line)
    assert lines.index("COPY . .") < install_at


def test_the_s3_dependency_key_covers_plan_env_build_variables_and_inputs(tmp_path: Path) -> None:
    # GIVEN the same node plan and source, rendered for the S3 dependency layer
    (tmp_path / "package.json").write_text("{}")
    (tmp_path / "package-lock.json").write_text("{}")
    layered = dataclasses.replace(NODE_SPA, env={})
    spec = _spec(layered, image_uri=None, cache_bucket_path="railyard-cache/deps-cache/svc_01")
    base = deps_key(spec, tmp_path, {})

    # WHEN the plan's env, the build's variables or an input's content differ
    with_env = _spec(
        dataclasses.replace(layered, env={"YARN_NODE_LINKER": "node-modules"}),
        image_uri=None,
        cache_bucket_path="railyard-cache/deps-cache/svc_01",
    )
    dev = variables_digest({"NODE_ENV": "development"})
    prod = variables_digest({"NODE_ENV": "production", "NO_CACHE": "1"})

    # THEN each is another key (NODE_ENV=production drops devDependencies from node_modules)
    keys = {
        base,
        deps_key(with_env, tmp_path, {}),
        deps_key(spec, tmp_path, {VARIABLES_DIGEST_ENV: dev}),
        deps_key(spec, tmp_path, {VARIABLES_DIGEST_ENV: prod}),
    }
    (tmp_path / "package-lock.json").write_text('{"lockfileVersion": 3}')
    keys.add(deps_key(spec, tmp_path, {}))
    assert len(keys) == 5 and all(re.fullmatch(r"[0-9a-f]{64}", k) for k in keys)
    # and the digest ignores the NO_CACHE directive, as the local runner's key does
    assert prod == variables_digest({"NODE_ENV": "production"})


def test_planned_install_hook_inputs_are_copied_before_the_image_install() -> None:
    # GIVEN a node app whose install runs `prisma generate` and copies a local package
    files = {
        "package.json": json.dumps(
            {
                "dependencies": {"@prisma/client": "5", "shared": "file:./packages/shared"},
                "scripts": {"start": "node server.js"},
            }
        ),
        "package-lock.json": "{}",
        "prisma/schema.prisma": "model A { id Int @id }",
        "packages/shared/package.json": "{}",
        "packages/shared/index.js": "",
    }
    plan = plan_build(DictTree(files), None)

    # WHEN the Dockerfile is rendered
    dockerfile = render_dockerfile(plan)

    # THEN the schema and the local package are in the image before `npm ci` runs
    assert dockerfile is not None
    lines = _assert_common_dockerfile(plan, dockerfile)
    assert 'COPY ["prisma/schema.prisma", "./prisma/"]' in lines
    assert 'COPY ["packages/shared/index.js", "packages/shared/package.json", "./packages/shared/"]' in lines


@pytest.mark.parametrize(
    "inputs",
    [
        ("package.json", "package-lock.json", "packages/ui/pages/[id].js"),  # COPY would glob it
        ("package.json", *(f"packages/p{i}/index.js" for i in range(17))),  # a layer per directory
    ],
)
def test_inputs_that_cannot_be_copied_one_by_one_are_installed_after_the_whole_source(
    inputs: tuple[str, ...],
) -> None:
    plan = dataclasses.replace(NODE_SPA, deps_inputs=inputs)

    dockerfile = render_dockerfile(plan)

    assert dockerfile is not None
    lines = dockerfile_instructions(dockerfile)
    assert not any(line.startswith("COPY [") for line in lines)
    install_at = next(i for i, line in enumerate(lines) if "npm ci" in line)
    assert lines.index("COPY . .") < install_at
