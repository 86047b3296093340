"""What a provider is: the `Provider` protocol every module under providers/ implements, and the
`Runtime` each one owns (its language's default version, its official images, its CodeBuild
runtime), which the renderings read instead of keeping tables of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from chalicelib.domain.buildplan.plan import BuildPlan
from chalicelib.domain.buildplan.reader import Reader


@dataclass(frozen=True)
class Runtime:
    """What a provider's plans run on.

    `build_image` / `runtime_image` are image references with "{v}" for the version (the plan's,
    else `default_version`). `codebuild_runtime` is the key of CodeBuild's `runtime-versions`
    (None: the standard image has no managed runtime for it); CodeBuild selects some runtimes by
    major version only (`codebuild_version_parts` = 1) and others by major.minor."""

    default_version: str | None
    build_image: str
    runtime_image: str
    codebuild_runtime: str | None = None
    codebuild_version_parts: int = 2


# Providers without a language of their own still need a shell.
PLAIN_RUNTIME = Runtime(None, "debian:bookworm-slim", "debian:bookworm-slim")


class Provider(Protocol):
    """One way of building a source, as Railway's builder has one provider per language.

    `detect` looks only at whether the files that identify the provider exist; `plan` reads what
    it needs and returns the provider's plan, with `start_command` empty when it found none (the
    planner then explains `start_help`). Config files and the service's settings are applied
    afterwards by the planner, never here."""

    @property
    def name(self) -> str:
        """The `BuildPlan.provider` this provider's plans carry."""
        ...

    @property
    def label(self) -> str:
        """How a user calls what it builds ("Node.js"), for "looked for" messages."""
        ...

    @property
    def detect_files(self) -> tuple[str, ...]:
        """The files whose presence selects this provider, in the order they are checked."""
        ...

    @property
    def start_help(self) -> str:
        """What `plan` looks for to find a start command, for the error when it finds none."""
        ...

    @property
    def runtime(self) -> Runtime: ...

    def detect(self, reader: Reader) -> bool: ...

    def plan(self, reader: Reader) -> BuildPlan: ...


class DetectedByFiles:
    """The common `detect`: a provider whose `detect_files` exist (checked in order) is the one."""

    detect_files: tuple[str, ...]

    def detect(self, reader: Reader) -> bool:
        return any(reader.exists(path) for path in self.detect_files)
