"""Which Python dependency manager a project uses, and what installing its dependencies takes.

requirements.txt first (Railpack's order), then the lockfile tools (poetry, uv, pdm, pipenv), then
a bare pyproject.toml. Every install goes into the app's own virtualenv, `.venv`, made from the
python the toolchain step put first on PATH (never the platform's interpreter): pip installs into
it; uv syncs it (`uv sync --frozen`, with uv itself installed into the venv, because apps call
`uv run`); poetry, pdm and pipenv are bootstrapped with pip into `.railyard/tools`, used only to
export the lockfile to a requirements file that the venv's pip installs, and removed. So the build
host needs nothing but the toolchain's python, and the dependency layer is `.venv` alone.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.buildplan.providers.python import requirements as reqs
from chalicelib.domain.buildplan.reader import Reader, string_list, table

VENV_DIR = ".venv"
# `python3` is the toolchain's (first on the build's PATH); the image renderings' is the image's.
# --copies: the venv's python is a file, not a link to an absolute path outside the app, which an
# artifact must not hold (the runtime refuses to unpack one); it finds its stdlib through
# pyvenv.cfg's `home` and libpython through the toolchain copy's RUNPATH (adapters/builds/pythons.py).
CREATE_VENV = f"python3 -m venv --copies {VENV_DIR}"
PIP_INSTALL = f"{VENV_DIR}/bin/python -m pip install --disable-pip-version-check --no-input -q"
TOOLS_DIR = ".railyard/tools"
# The uv a uv plan installs into its venv: one pinned version, so the same lockfile syncs the same
# way on every build and in every rendering (bump it deliberately; uv reads older lockfiles).
UV_VERSION = "0.13.9"
_LOCKED_REQUIREMENTS = f"{TOOLS_DIR}/requirements.txt"
# uv syncs the venv the build made: from the lockfile exactly (--frozen), without dev groups,
# keeping what the venv already holds (pip, uv itself: --inexact), with workspace members and path
# dependencies installed as copies (--no-editable: nothing points back into the build directory)
# and without the project itself, which runs from its source (so a source-only change keeps the
# dependency layer). Never a downloaded interpreter; files copied, not linked, out of uv's cache in
# HOME, so the venv stands alone.
UV_SYNC = (
    f"UV_PROJECT_ENVIRONMENT={VENV_DIR} UV_PYTHON_DOWNLOADS=never UV_LINK_MODE=copy "
    f"{VENV_DIR}/bin/uv sync --frozen --no-dev --inexact --no-editable --no-install-project"
)


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
    # The command that installs the locked dependencies itself (uv sync) instead of pip from `source`.
    sync: str | None = None
    cache_dir: str = "~/.cache/pip"


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
        found.bootstrap = (f"{PIP_INSTALL} uv=={UV_VERSION}",)
        found.sync = UV_SYNC
        found.cache_dir = "~/.cache/uv"
        found.deps_inputs += ["pyproject.toml", "uv.lock"]
        uv = table(tool, "uv")
        found.local += reqs.path_sources([table(uv, "sources")])
        # Workspace members are installed too: their files decide the layer as much as the lock.
        found.local += [_glob_root(m) for m in string_list(table(uv, "workspace").get("members"))]
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


def _glob_root(pattern: str) -> str:
    """The directory a member glob ("packages/*") lies under; "." for a glob at the root."""
    literal: list[str] = []
    for part in pattern.split("/"):
        if set(part) & set("*?["):
            break
        literal.append(part)
    return "/".join(literal) or "."


def _locked(found: Dependencies, lockfile: str, packages: str, export: str) -> None:
    """Install from `lockfile`, exported to requirements by the tool in `packages`."""
    found.bootstrap = (
        f"{PIP_INSTALL} --target {TOOLS_DIR} {packages}",
        f"PYTHONPATH={TOOLS_DIR} {VENV_DIR}/bin/python -m {export} {_LOCKED_REQUIREMENTS}",
    )
    found.source = f"-r {_LOCKED_REQUIREMENTS}"
    found.deps_inputs += ["pyproject.toml", lockfile]


def _pipenv(reader: Reader, found: Dependencies, pipfile: dict[str, Any]) -> None:
    packages = table(pipfile, "packages")
    found.names |= reqs.normalized(packages)
    if reader.exists("Pipfile.lock"):
        found.bootstrap = (
            f"{PIP_INSTALL} --target {TOOLS_DIR} pipenv",
            f"PYTHONPATH={TOOLS_DIR} {VENV_DIR}/bin/python -m pipenv requirements > {_LOCKED_REQUIREMENTS}",
        )
        found.source = f"-r {_LOCKED_REQUIREMENTS}"
        found.deps_inputs += ["Pipfile", "Pipfile.lock"]
        found.local += reqs.path_sources([packages, table(pipfile, "dev-packages")])
    else:
        found.source = " ".join(shlex.quote(r) for r in reqs.pipfile_requirements(packages)) or None
        found.deps_inputs += ["Pipfile"]


def install_commands(found: Dependencies, extra: tuple[str, ...]) -> tuple[str, ...]:
    """Everything `install` runs: the venv, the tool bootstrap, the install itself (plus the server
    packages the start command needs), and the removal of the export tools."""
    if found.sync is not None:
        commands = (CREATE_VENV, *found.bootstrap, found.sync)
        return commands + ((pip_install(None, extra),) if extra else ())
    commands = (CREATE_VENV, *found.bootstrap, pip_install(found.source, extra))
    return commands + ((f"rm -rf {TOOLS_DIR}",) if found.bootstrap else ())


def pip_install(source: str | None, extra: tuple[str, ...]) -> str:
    extras = "".join(f" {e}" for e in extra)
    if source is None:
        return f"{PIP_INSTALL}{extras}"
    return f"{PIP_INSTALL} {source}{extras}"
