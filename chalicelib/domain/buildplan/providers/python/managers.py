"""Which Python dependency manager a project uses, and what installing its dependencies takes.

requirements.txt first (Railpack's order), then the lockfile tools (poetry, uv, pdm, pipenv), then
a bare pyproject.toml. Each ends in one requirements source that pip installs into
`.railyard/deps`: package-manager tools are bootstrapped with pip into `.railyard/tools`, used only
to export the lockfile to a requirements file, and removed, so the build host needs nothing but
python3 and every Python plan installs the same way.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.buildplan.providers.python import requirements as reqs
from chalicelib.domain.buildplan.reader import Reader, string_list, table

PIP_INSTALL = "python3 -m pip install --disable-pip-version-check --no-input -q"
DEPS_DIR = ".railyard/deps"
TOOLS_DIR = ".railyard/tools"
_LOCKED_REQUIREMENTS = f"{TOOLS_DIR}/requirements.txt"


@dataclass
class Dependencies:
    """What the dependency manager says: the package names, the files that decide the install,
    the local paths it installs, the tool bootstrap, and the requirements source for pip
    ("-r FILE", space-separated requirements, "." for the project itself, or None)."""

    names: set[str] = field(default_factory=set)
    deps_inputs: list[str] = field(default_factory=list)
    local: list[str] = field(default_factory=list)
    bootstrap: tuple[str, ...] = ()
    source: str | None = None


def dependencies(reader: Reader, pyproject: dict[str, Any], pipfile: dict[str, Any]) -> Dependencies:
    project = table(pyproject, "project")
    tool = table(pyproject, "tool")
    poetry = table(tool, "poetry")
    found = Dependencies()
    declared = string_list(project.get("dependencies"))
    if reader.exists("requirements.txt"):
        text = reader.read("requirements.txt")
        for path, content, constraint in reqs.requirement_files(reader, "requirements.txt", text):
            found.deps_inputs.append(path)
            if not constraint:
                found.names |= reqs.requirement_names(content.splitlines())
                found.local += reqs.requirement_paths(content.splitlines())
        found.source = "-r requirements.txt" if reqs.has_requirements(text) else None
    elif poetry or reader.exists("poetry.lock"):
        found.names |= reqs.normalized(table(poetry, "dependencies")) | reqs.requirement_names(declared)
        if reader.exists("poetry.lock"):
            _locked(
                found,
                "poetry.lock",
                "poetry poetry-plugin-export",
                "poetry export --without-hashes --format requirements.txt --output",
            )
            found.local += reqs.path_sources(reqs.poetry_dependency_tables(poetry))
        else:
            # Without a lock, poetry-core builds the project and pip resolves its constraints. That
            # install depends on the whole source, so there are no deps_inputs (not cached).
            found.source = "."
    elif reader.exists("uv.lock"):
        found.names |= reqs.requirement_names(declared)
        _locked(
            found,
            "uv.lock",
            "uv",
            "uv export --frozen --no-dev --no-hashes --no-emit-workspace --output-file",
        )
        found.local += reqs.path_sources([table(table(tool, "uv"), "sources")])
    elif reader.exists("pdm.lock") or table(tool, "pdm"):
        found.names |= reqs.requirement_names(declared)
        if reader.exists("pdm.lock"):
            _locked(
                found, "pdm.lock", "pdm", "pdm export --prod --without-hashes --format requirements --output"
            )
            found.local += reqs.requirement_paths(reqs.pdm_requirements(project, table(tool, "pdm")))
        else:
            found.source = "."
    elif pipfile:
        _pipenv(reader, found, pipfile)
    elif pyproject:
        dynamic = "dependencies" in string_list(project.get("dynamic"))
        if isinstance(project.get("dependencies"), list) and not dynamic:
            # Install what the project declares, not the project itself: the app runs from its
            # source, and a layer keyed by pyproject.toml stays valid across source-only changes.
            found.names |= reqs.requirement_names(declared)
            found.source = " ".join(shlex.quote(r) for r in declared) or None
            found.deps_inputs.append("pyproject.toml")
            found.local += reqs.requirement_paths(declared)
        else:
            found.source = "."  # dynamic or undeclared dependencies: only the build backend knows them
    return found


def _locked(found: Dependencies, lockfile: str, packages: str, export: str) -> None:
    """Install from `lockfile`, exported to requirements by the tool in `packages`."""
    found.bootstrap = (
        f"{PIP_INSTALL} --target {TOOLS_DIR} {packages}",
        f"PYTHONPATH={TOOLS_DIR} python3 -m {export} {_LOCKED_REQUIREMENTS}",
    )
    found.source = f"-r {_LOCKED_REQUIREMENTS}"
    found.deps_inputs += ["pyproject.toml", lockfile]


def _pipenv(reader: Reader, found: Dependencies, pipfile: dict[str, Any]) -> None:
    packages = table(pipfile, "packages")
    found.names |= reqs.normalized(packages)
    if reader.exists("Pipfile.lock"):
        found.bootstrap = (
            f"{PIP_INSTALL} --target {TOOLS_DIR} pipenv",
            f"PYTHONPATH={TOOLS_DIR} python3 -m pipenv requirements > {_LOCKED_REQUIREMENTS}",
        )
        found.source = f"-r {_LOCKED_REQUIREMENTS}"
        found.deps_inputs += ["Pipfile", "Pipfile.lock"]
        found.local += reqs.path_sources([packages, table(pipfile, "dev-packages")])
    else:
        found.source = " ".join(shlex.quote(r) for r in reqs.pipfile_requirements(packages)) or None
        found.deps_inputs += ["Pipfile"]


def pip_install(source: str | None, extra: tuple[str, ...]) -> str:
    extras = "".join(f" {e}" for e in extra)
    if source is None:
        return f"{PIP_INSTALL} --target {DEPS_DIR}{extras}"
    if source.startswith("-r "):
        return f"{PIP_INSTALL} {source}{extras} --target {DEPS_DIR}"
    return f"{PIP_INSTALL} --target {DEPS_DIR} {source}{extras}"
