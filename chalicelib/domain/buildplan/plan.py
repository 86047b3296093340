"""The build plan's contract: `BuildPlan` (what the runners, renderings and `railyard plan` read)
and `SourceTree` (how the planner reads a source).

Artifact contract (shared with the runtimes): an artifact is a .tar.gz of the built app directory,
paths relative to the app root. It contains `.railyard/runtime.json` = `{"env": runtime_env}`. The
runtime extracts the artifact into some directory, replaces `{app}` in each value with that
directory and `{PATH}` with the PATH it would otherwise pass, adds the result to the process
environment, and runs `start_command` with `/bin/sh -c` in the app directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from chalicelib.domain.railway_config import DeployConfig

# Tool setup an install command starts with and that later commands rely on (`pnpm run build`
# needs corepack's pnpm): it must run even when a restored dependency layer skips the install.
_TOOL_SETUP = ("corepack enable",)


def tool_setup(command: str) -> tuple[str | None, str]:
    """(the tool setup `command` starts with or None, the rest of it)."""
    for setup in _TOOL_SETUP:
        if command.startswith(f"{setup} && "):
            return setup, command[len(setup) + 4 :]
    return None, command


class SourceTree(Protocol):
    """Read-only view of an uploaded source. Paths are relative POSIX paths; "." is the root."""

    def exists(self, path: str) -> bool:
        """True when `path` is a file (directories do not count)."""
        ...

    def read_text(self, path: str) -> str: ...

    def list_dir(self, path: str) -> list[str]:
        """Names of the entries of directory `path`, sorted; directories end with "/"."""
        ...


@dataclass(frozen=True)
class BuildPlan:
    """What to run to turn a source tree into an artifact, and how to start the result.

    Contract shared by the local build runner, the CodeBuild buildspec and the Dockerfile
    renderings, and `railyard plan --json` (which prints `to_json()`)."""

    # A provider of the registry (python, node, go ...) or dockerfile, procfile, command.
    provider: str
    install: tuple[str, ...]  # shell commands, run in the app directory
    build: tuple[str, ...]
    start_command: str
    runtime_env: dict[str, str] = field(default_factory=dict)  # see the artifact contract above
    files_read: tuple[str, ...] = ()  # the files the plan was derived from, in the order consulted
    language_version: str | None = None  # e.g. "3.11", "20", "1.22"
    cache_dirs: tuple[str, ...] = ()  # tool caches worth keeping between builds (~/.npm, ~/.cache/pip ...)
    env: dict[str, str] = field(default_factory=dict)  # build-time environment the plan needs
    watch_patterns: tuple[str, ...] = ()  # from config: only changes matching these trigger a deploy
    config_files: tuple[str, ...] = ()  # railway.json / railway.toml / railyard.toml / railpack.json read
    # The dependency layer: the files whose content decides the installed dependencies (lockfiles,
    # manifests, version files, and what install hooks read: local `file:`/path packages, patches,
    # a Prisma schema, .npmrc ...) and the directories `install` produces, with the files it writes
    # that the app runs with (the lockfile Yarn Berry writes when the source has none). A build
    # whose deps_inputs hash like an earlier one's restores deps_dirs instead of running `install`.
    # No deps_inputs (with an install) means the install may read any file: it is never restored
    # from a layer.
    deps_inputs: tuple[str, ...] = ()
    deps_dirs: tuple[str, ...] = ()
    dockerfile: str | None = None  # path of the Dockerfile when provider == "dockerfile"
    deploy: DeployConfig = field(default_factory=DeployConfig)
    # Tool name -> the version spec the app asked for, as written ({"node": ">=18 <21", "pnpm":
    # "9.1.0"}); empty when the app asks for nothing. The toolchain step provides these.
    tools: dict[str, str] = field(default_factory=dict)
    # Config keys Railyard read but does not act on, named with their file ("railpack.json:
    # buildAptPackages"), so a user learns that a setting had no effect.
    ignored_keys: tuple[str, ...] = ()
    # Choices the planner made among several candidates, said so the user can check them ("rust:
    # 2 binaries (api, worker); starting api, Cargo.toml default-run").
    notes: tuple[str, ...] = ()

    @property
    def commands(self) -> tuple[str, ...]:
        return self.install + self.build

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "language_version": self.language_version,
            "tools": dict(self.tools),
            "install": list(self.install),
            "build": list(self.build),
            "start_command": self.start_command,
            "cache_dirs": list(self.cache_dirs),
            "env": dict(self.env),
            "runtime_env": dict(self.runtime_env),
            "watch_patterns": list(self.watch_patterns),
            "config_files": list(self.config_files),
            "ignored_keys": list(self.ignored_keys),
            "notes": list(self.notes),
            "files_read": list(self.files_read),
            "deps_inputs": list(self.deps_inputs),
            "deps_dirs": list(self.deps_dirs),
            "dockerfile": self.dockerfile,
            "warnings": list(self.deploy.warnings),
            # The deploy settings only: the config's ignored keys are in `ignored_keys` above.
            "deploy": self.deploy.to_dict(),
        }
