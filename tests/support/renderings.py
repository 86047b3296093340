"""Reading back the AWS renderings of a BuildPlan (chalicelib/domain/renderings) as CodeBuild and
Docker would: the buildspec through yaml.safe_load (a command that does not survive that round
trip would reach CodeBuild changed), a phase's commands, the Dockerfile the buildspec embeds and a
Dockerfile's instructions and RUN commands, and the dependency-layer key the pre_build phase
computes, run in bash."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from chalicelib.domain.buildplan import BuildPlan
from chalicelib.domain.renderings import render_buildspec


def buildspec(plan: BuildPlan, image_uri: str | None = None, **kwargs: Any) -> dict[str, Any]:
    parsed: dict[str, Any] = yaml.safe_load(render_buildspec(plan, image_uri=image_uri, **kwargs))
    return parsed


def phase_commands(spec: dict[str, Any], phase: str) -> list[str]:
    commands: list[str] = spec["phases"][phase]["commands"]
    return commands


def embedded_dockerfile(spec: dict[str, Any]) -> str:
    """The Dockerfile the buildspec writes before `docker build`."""
    for command in phase_commands(spec, "build"):
        match = re.match(r"^mkdir -p \.railyard && echo (\S+) \| base64 -d > \.railyard/Dockerfile$", command)
        if match:
            return base64.b64decode(match.group(1)).decode()
    raise AssertionError("the buildspec writes no Dockerfile")


def dockerfile_instructions(dockerfile: str) -> list[str]:
    return [line for line in dockerfile.splitlines() if line and not line.startswith("#")]


def dockerfile_run_commands(dockerfile: str) -> list[str]:
    """The shell command of every RUN (exec form, parsed as the Dockerfile parser would)."""
    commands = []
    for line in dockerfile_instructions(dockerfile):
        if line.startswith("RUN "):
            argv = json.loads(line[line.index("[") :])
            assert argv[:2] == ["/bin/sh", "-c"]
            commands.append(argv[2])
    return commands


def deps_key(spec: dict[str, Any], cwd: Path, env: dict[str, str]) -> str:
    """The dependency-layer key the pre_build phase computes in `cwd`, with `env` over ours."""
    script = phase_commands(spec, "pre_build")[0] + '\nprintf %s "$RAILYARD_DEPS_KEY"'
    result = subprocess.run(
        ["bash", "-ec", script],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout
