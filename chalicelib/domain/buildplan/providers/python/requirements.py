"""Reading Python requirements as pip, poetry, uv, pdm and pipenv write them: the package names
(which decide the start command) and the local paths (whose files key the dependency layer)."""

from __future__ import annotations

import posixpath
import re
from typing import Any

from chalicelib.domain.buildplan.inputs import Uncacheable, local_path
from chalicelib.domain.buildplan.reader import Reader, string_list, table
from chalicelib.domain.errors import BuildFailed

_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?")
_INCLUDE_LINE = re.compile(r"^(-r|-c|--requirement|--constraint)\s*=?\s*(\S+)")
_EDITABLE_LINE = re.compile(r"^(?:-e|--editable)(?:\s*=\s*|\s+)(\S.*)$")
_NAMED_URL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\s*(?:\[[^\]]*\])?\s*@\s*(\S+)")
_ARCHIVE = re.compile(r"\.(whl|tar\.gz|tgz|tar\.bz2|zip)$")
# Packages whose install brings a server along, so a start command can rely on it.
_BRINGS = {("fastapi", "standard"): "uvicorn", ("python-fasthtml", None): "uvicorn"}


def has_requirements(text: str) -> bool:
    """True when pip would have something to install: a requirement, an include or an editable.
    Options alone (--index-url …) install nothing, and pip rejects a file with only those."""
    for raw in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if not line:
            continue
        if not line.startswith("-") or re.match(r"^(-r|-e|--requirement|--editable)\b", line):
            return True
    return False


def requirement_names(lines: list[str]) -> set[str]:
    names: set[str] = set()
    for raw in lines:
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if not line or line.startswith("-"):
            continue
        match = _REQUIREMENT_NAME.match(line)
        if match is None:
            continue
        name = canonical(match.group(1))
        names.add(name)
        for (package, extra), brought in _BRINGS.items():
            if name == package and (extra is None or extra in (match.group(2) or "")):
                names.add(brought)
    return names


def requirement_files(reader: Reader, path: str, text: str) -> list[tuple[str, str, bool]]:
    """(path, text, is a constraints file) of `path` and every file it pulls in with `-r`/`-c`,
    recursively: they decide the install as much as requirements.txt does. As pip does, an
    included path is relative to the file that includes it."""
    found: list[tuple[str, str, bool]] = []
    pending = [(path, text, False)]
    seen = {path}
    while pending:
        current, content, constraint = pending.pop(0)
        found.append((current, content, constraint))
        for raw in content.splitlines():
            match = _INCLUDE_LINE.match(raw.strip())
            if match is None or "://" in match.group(2):
                continue
            try:
                included = local_path(posixpath.dirname(current), match.group(2))
            except Uncacheable:
                continue
            if included is None or included in seen or not reader.exists(included):
                continue
            seen.add(included)
            is_constraint = constraint or match.group(1) in ("-c", "--constraint")
            pending.append((included, reader.read(included), is_constraint))
    return found


def requirement_paths(lines: list[str]) -> list[str]:
    """The local paths among requirement lines, as written (relative to the app directory, pip's
    working directory): `./lib`, `-e ./lib`, `lib/x.whl`, `pkg @ file:///${PROJECT_ROOT}/pkg`."""
    found: list[str] = []
    for raw in lines:
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        editable = _EDITABLE_LINE.match(line)
        if editable is None and line.startswith("-"):
            continue
        path = _requirement_path(editable.group(1) if editable else line)
        if path is not None:
            found.append(path)
    return found


def _requirement_path(spec: str) -> str | None:
    named = _NAMED_URL.match(spec)
    spec = named.group(1) if named else re.split(r"\s*;", spec, maxsplit=1)[0].strip()
    spec = spec.split("#", 1)[0]  # #egg=name
    if spec.startswith("file:"):
        spec = spec.removeprefix("file:")
        spec = spec[2:] if spec.startswith("//") else spec
        # PDM writes project-relative paths as file:///${PROJECT_ROOT}/...
        spec = re.sub(r"^/?\$\{PROJECT_ROOT\}", ".", spec)
    elif "://" in spec or re.match(r"^(git|hg|svn|bzr)\+", spec):
        return None
    elif not (spec.startswith((".", "/")) or "/" in spec or _ARCHIVE.search(spec)):
        return None  # a package name
    return re.sub(r"\[[^\]]*\]$", "", spec) or None  # ./lib[extra]


def path_sources(tables: list[dict[str, Any]]) -> list[str]:
    """`path = ...` entries of dependency tables (poetry, uv sources, Pipfile), in any of the
    forms they take: a table, or a list of tables with markers."""
    found: list[str] = []
    for dependencies in tables:
        for spec in dependencies.values():
            for entry in spec if isinstance(spec, list) else [spec]:
                if isinstance(entry, dict) and isinstance(entry.get("path"), str):
                    found.append(entry["path"])
    return found


def poetry_dependency_tables(poetry: dict[str, Any]) -> list[dict[str, Any]]:
    groups = table(poetry, "group")
    return [
        table(poetry, "dependencies"),
        table(poetry, "dev-dependencies"),
        *(table(table(groups, name), "dependencies") for name in groups),
    ]


def pdm_requirements(project: dict[str, Any], pdm: dict[str, Any]) -> list[str]:
    lines = string_list(project.get("dependencies"))
    for group_table in (table(project, "optional-dependencies"), table(pdm, "dev-dependencies")):
        for group in group_table.values():
            lines += string_list(group)
    return lines


def normalized(dependencies: dict[str, Any]) -> set[str]:
    """Package names of a poetry or Pipfile dependency table (and what they bring along)."""
    names = {canonical(name) for name in dependencies if name != "python"}
    return names | {
        brought for (package, extra), brought in _BRINGS.items() if extra is None and package in names
    }


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pipfile_requirements(packages: dict[str, Any]) -> list[str]:
    """Pipfile [packages] as pip requirements, for a Pipfile without Pipfile.lock."""
    requirements: list[str] = []
    for name, spec in packages.items():
        if spec == "*" or spec == {"version": "*"}:
            requirements.append(name)
        elif isinstance(spec, str):
            requirements.append(f"{name}{spec}")
        elif isinstance(spec, dict) and isinstance(spec.get("version"), str) and len(spec) == 1:
            requirements.append(f"{name}{spec['version']}")
        else:
            raise BuildFailed(
                f"Pipfile: packages.{name} is a git, path or extras requirement that Railyard installs "
                "only from Pipfile.lock; run `pipenv lock` and commit Pipfile.lock"
            )
    return requirements
