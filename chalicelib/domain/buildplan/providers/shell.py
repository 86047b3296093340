"""The shell provider: a `start.sh` at the root, run with the shell its shebang names."""

from __future__ import annotations

import re

from chalicelib.domain.buildplan.plan import BuildPlan
from chalicelib.domain.buildplan.provider import PLAIN_RUNTIME, DetectedByFiles
from chalicelib.domain.buildplan.reader import Reader

NAME = "shell"
SCRIPT = "start.sh"
# Shells a shebang may name and the one that runs it. `sh` may be dash, which a bash script
# (arrays, [[ ]]) breaks under, so a bash or zsh script runs with its own shell. Other shells (fish,
# ksh, mksh ...) fall back to bash, as Railway's builder does; no shebang means sh.
_SHELLS = {"sh": "sh", "dash": "sh", "bash": "bash", "zsh": "zsh"}
_FALLBACK_SHELL = "bash"
# Debian packages a shell needs on the plain image, which has sh and bash only (Railway's builder
# installs zsh the same way). A local build runs the script with the host's shell.
SHELL_PACKAGES = {"zsh": "zsh"}
_SHEBANG = re.compile(r"^#!\s*(\S+)(?:\s+(\S+))?")


def shebang_shell(first_line: str) -> str:
    """The shell to run a script with, from its first line."""
    match = _SHEBANG.match(first_line)
    if match is None:
        return "sh"
    program = match.group(1).rsplit("/", 1)[-1]
    if program == "env" and match.group(2):  # #!/usr/bin/env bash
        program = match.group(2)
    return _SHELLS.get(program, _FALLBACK_SHELL)


class ShellProvider(DetectedByFiles):
    name = NAME
    label = "shell"
    detect_files = (SCRIPT,)
    start_help = SCRIPT
    runtime = PLAIN_RUNTIME

    def plan(self, reader: Reader) -> BuildPlan:
        first_line = (reader.read(SCRIPT).splitlines() or [""])[0]
        shell = shebang_shell(first_line)
        return BuildPlan(provider=self.name, install=(), build=(), start_command=f"{shell} {SCRIPT}")
