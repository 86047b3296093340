"""Which Python an app asks for, in order: .python-version, mise.toml / .tool-versions, runtime.txt,
pyproject's requires-python (or poetry's python dependency), Pipfile's [requires]; else the
default."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.buildplan.provider import Runtime
from chalicelib.domain.buildplan.reader import Reader, table
from chalicelib.domain.buildplan.versions import Requested, declared, version_from_spec, version_line

DEFAULT_VERSION = "3.11"
RUNTIME = Runtime(DEFAULT_VERSION, "python:{v}-slim", "python:{v}-slim", "python")
VERSION_FILES = (".python-version", "runtime.txt")


def requested_python(
    reader: Reader, project: dict[str, Any], poetry: dict[str, Any], pipfile: dict[str, Any]
) -> Requested | None:
    """The version spec the app asks for, as written, and where."""
    pinned = version_line(reader, ".python-version")
    if pinned is not None:
        return Requested(pinned, ".python-version")
    from_mise = declared(reader, "python")
    if from_mise is not None:
        return from_mise
    if reader.exists("runtime.txt"):
        runtime = reader.read("runtime.txt").strip().removeprefix("python-")
        if runtime:
            return Requested(runtime, "runtime.txt")
    poetry_python = table(poetry, "dependencies").get("python")
    for spec, source in (
        (project.get("requires-python"), "pyproject.toml"),
        (poetry_python, "pyproject.toml"),
    ):
        if isinstance(spec, str) and spec.strip():
            return Requested(spec.strip(), source)
    requires = table(pipfile, "requires")
    for key in ("python_full_version", "python_version"):
        if isinstance(requires.get(key), str):
            return Requested(str(requires[key]), "Pipfile")
    return None


def language_version(requested: Requested | None) -> str:
    """The concrete version for the plan: a pinned version as written, a range's best fit."""
    if requested is None:
        return DEFAULT_VERSION
    spec = requested.spec
    if requested.source == "pyproject.toml":
        return version_from_spec(spec, DEFAULT_VERSION)
    if spec.lower() in ("latest", "system"):
        return DEFAULT_VERSION
    return spec
