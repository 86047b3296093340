"""The two AWS renderings of a BuildPlan: the CodeBuild buildspec and the Dockerfile.

Plans are built here as BuildPlan literals (not by the planner), so these tests pin the renderings'
contract whatever detection decides. Buildspecs are read back with yaml.safe_load: a command that
does not survive that round trip would reach CodeBuild changed.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
import yaml

from chalicelib.domain.buildplan import BuildPlan
from chalicelib.domain.errors import BuildFailed
from chalicelib.domain.renderings import render_buildspec, render_dockerfile

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
        "python3 -m pip install --disable-pip-version-check --no-input -q -r requirements.txt "
        "--target .railyard/deps",
    ),
    build=(),
    start_command="python3 -m gunicorn --bind 0.0.0.0:$PORT app:app",
    runtime_env={"PYTHONPATH": "{app}/.railyard/deps"},
    files_read=("requirements.txt", "app.py"),
    language_version="3.11",
    cache_dirs=("~/.cache/pip",),
    env={"PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    deps_inputs=("requirements.txt", ".python-version"),
    deps_dirs=(".railyard/deps",),
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
    text = render_buildspec(plan, image_uri=kwargs.pop("image_uri", IMAGE), **kwargs)
    parsed: dict[str, Any] = yaml.safe_load(text)
    return parsed


def _commands(spec: dict[str, Any], phase: str) -> list[str]:
    commands: list[str] = spec["phases"][phase]["commands"]
    return commands


def _embedded_dockerfile(spec: dict[str, Any]) -> str:
    """The Dockerfile the buildspec writes before `docker build`."""
    for command in _commands(spec, "build"):
        match = re.match(r"^mkdir -p \.railyard && echo (\S+) \| base64 -d > \.railyard/Dockerfile$", command)
        if match:
            return base64.b64decode(match.group(1)).decode()
    raise AssertionError("the buildspec writes no Dockerfile")


def _instructions(dockerfile: str) -> list[str]:
    return [line for line in dockerfile.splitlines() if line and not line.startswith("#")]


def _run_commands(dockerfile: str) -> list[str]:
    """The shell command of every RUN (exec form, parsed as the Dockerfile parser would)."""
    commands = []
    for line in _instructions(dockerfile):
        if line.startswith("RUN "):
            argv = json.loads(line[line.index("[") :])
            assert argv[:2] == ["/bin/sh", "-c"]
            commands.append(argv[2])
    return commands


# -- buildspec ------------------------------------------------------------------------------------


def test_node_buildspec_phases_commands_cache_and_env() -> None:
    spec = _spec(NODE_SPA)

    assert spec["version"] == 0.2
    assert spec["phases"]["install"]["runtime-versions"] == {"nodejs": "20"}
    pre_build = _commands(spec, "pre_build")
    assert pre_build == [
        "aws ecr get-login-password --region eu-west-1 | docker login --username AWS "
        "--password-stdin 123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    ]
    build = _commands(spec, "build")
    assert build[:2] == ["npm ci --no-audit --no-fund", "npm run build"]
    assert build[-1] == 'docker build -f .railyard/Dockerfile -t "$IMAGE_URI" .'
    # The artifact contract: runtime.json, then the tarball CodeBuild uploads, before the image.
    assert any(".railyard/runtime.json" in c and "node_modules/.bin" in c for c in build)
    assert "tar --sort=name --exclude=./.railyard-out -czf .railyard-out/artifact.tar.gz ." in build
    assert _commands(spec, "post_build") == ['docker push "$IMAGE_URI"']
    # A failed build must not go on to post_build and push.
    assert spec["phases"]["build"]["on-failure"] == "ABORT"

    variables = spec["env"]["variables"]
    assert variables["NODE_ENV"] == "production"
    assert variables["VITE_API_URL"] == "https://api.example.com/v1?x=1&y=2"
    assert variables["IMAGE_URI"] == IMAGE
    assert variables["CI"] == "true"
    assert spec["cache"]["paths"] == ["/root/.npm/**/*", "node_modules/**/*"]
    assert spec["artifacts"] == {"base-directory": ".railyard-out", "files": ["artifact.tar.gz"]}


def test_node_buildspec_embeds_the_rendered_dockerfile_and_keeps_host_deps_out_of_the_context() -> None:
    spec = _spec(NODE_SPA)
    assert _embedded_dockerfile(spec) == render_dockerfile(NODE_SPA)
    ignore_cmd = next(c for c in _commands(spec, "build") if "Dockerfile.dockerignore" in c)
    encoded = ignore_cmd.split()[1]
    assert "node_modules" in base64.b64decode(encoded).decode().splitlines()


def test_python_buildspec() -> None:
    spec = _spec(PYTHON_GUNICORN, image_uri=None)

    # Without an image there is nothing to log in to or push, and no docker at all.
    assert "pre_build" not in spec["phases"]
    assert "post_build" not in spec["phases"]
    assert spec["phases"]["install"]["runtime-versions"] == {"python": "3.11"}  # a string, never 3.1
    build = _commands(spec, "build")
    assert build[0] == PYTHON_GUNICORN.install[0]
    assert not any("docker" in c for c in build)
    assert "IMAGE_URI" not in spec["env"]["variables"]
    assert spec["env"]["variables"]["PIP_DISABLE_PIP_VERSION_CHECK"] == "1"
    assert spec["cache"]["paths"] == ["/root/.cache/pip/**/*", ".railyard/deps/**/*"]


def test_go_buildspec() -> None:
    spec = _spec(GO)
    assert spec["phases"]["install"]["runtime-versions"] == {"golang": "1.22"}
    build = _commands(spec, "build")
    assert build[:2] == ["go mod download", "CGO_ENABLED=0 go build -ldflags='-s -w' -o out ./cmd/server"]
    assert spec["cache"]["paths"] == ["/root/go/pkg/mod/**/*", "/root/.cache/go-build/**/*"]


def test_dockerfile_provider_buildspec_builds_the_users_dockerfile() -> None:
    spec = _spec(DOCKERFILE)
    assert "install" not in spec["phases"]  # no managed runtime to select
    build = _commands(spec, "build")
    assert build[-1] == 'docker build -f deploy/Dockerfile -t "$IMAGE_URI" .'
    assert not any("base64" in c for c in build)
    assert _commands(spec, "post_build") == ['docker push "$IMAGE_URI"']
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
    assert _commands(spec, "build")[0] == command
    assert spec["env"]["variables"]["SPECIAL"] == command


def test_a_line_break_in_a_build_variable_is_refused_by_the_dockerfile() -> None:
    plan = BuildPlan(provider="node", install=(), build=(), start_command="x", env={"MULTI": "a\nb"})
    with pytest.raises(BuildFailed, match="MULTI contains a line break"):
        render_dockerfile(plan)


def test_dependency_layer_in_s3_restores_and_skips_install_on_a_hit() -> None:
    spec = _spec(NODE_SPA, cache_bucket_path="railyard-cache/deps-cache/svc_01")

    key_cmd, restore = _commands(spec, "pre_build")[1:]
    # The key covers provider, version, install commands and every deps input's content.
    assert key_cmd.startswith("export RAILYARD_DEPS_KEY=$(")
    assert "for f in package.json package-lock.json;" in key_cmd
    assert "node 20 'npm ci --no-audit --no-fund'" in key_cmd
    assert '"s3://railyard-cache/deps-cache/svc_01/deps/$RAILYARD_DEPS_KEY.tar.gz"' in restore
    assert "deps: cache hit" in restore and "deps: cache miss" in restore

    install, save = _commands(spec, "build")[:2]
    assert install == 'if [ "${RAILYARD_DEPS_HIT:-0}" != 1 ]; then\nnpm ci --no-audit --no-fund\nfi'
    assert "tar -czf /tmp/railyard-deps.tar.gz -- node_modules" in save
    # Failing to save the layer must not fail the build.
    assert "|| echo" in save


def test_no_dependency_layer_without_inputs() -> None:
    plan = BuildPlan(provider="node", install=("npm install",), build=(), start_command="npm start")
    spec = _spec(plan, image_uri=None, cache_bucket_path="railyard-cache/x")
    assert "pre_build" not in spec["phases"]
    assert _commands(spec, "build")[0] == "npm install"


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
    lines = _instructions(dockerfile)
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
    assert _run_commands(dockerfile)[:2] == ["npm ci --no-audit --no-fund", "npm run build"]
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
    assert 'ENV PYTHONPATH="/app/.railyard/deps"' in lines
    assert "COPY --from=build /usr/local /usr/local" in lines  # console scripts of a global install


def test_go_dockerfile_runs_the_binary_on_a_slim_base() -> None:
    dockerfile = render_dockerfile(GO)
    assert dockerfile is not None
    lines = _assert_common_dockerfile(GO, dockerfile)
    assert lines[0] == "FROM golang:1.22 AS build"
    assert "FROM debian:bookworm-slim AS runtime" in lines
    assert "COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt" in lines
    assert _run_commands(dockerfile)[:2] == list(GO.install + GO.build)
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
    lines = _instructions(dockerfile)
    assert 'COPY ["package.json", "package-lock.json", "./"]' in lines
    assert 'COPY ["packages/api/package.json", "./packages/api/"]' in lines


def test_without_deps_inputs_install_runs_after_the_whole_source_is_copied() -> None:
    plan = BuildPlan(
        provider="python",
        install=("python3 -m pip install --target .railyard/deps .",),
        build=(),
        start_command="python3 main.py",
    )
    dockerfile = render_dockerfile(plan)
    assert dockerfile is not None
    lines = _instructions(dockerfile)
    assert lines[0] == "FROM python:3.12-slim AS build"  # the default version
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
    [("20.x", "node:20-slim"), ("v18.19.0", "node:18.19.0-slim"), ("latest", "node:22-slim")],
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
