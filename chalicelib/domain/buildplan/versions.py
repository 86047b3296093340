"""Where apps state the versions of their tools, read the same way for every provider: mise.toml
`[tools]`, .tool-versions, one-line version files, a manifest's version line, and version specifiers.

`BuildPlan.tools` carries a spec as the app wrote it (the toolchain step resolves it);
`language_version` carries the one concrete version the planner chose from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.buildplan.reader import Reader, table
from chalicelib.domain.railway_config import parse_toml

# The tools a plan's `tools` may name: those the toolchain step provides. A version file that names
# another tool (ruby in .tool-versions of a node app) is not a request Railyard can act on.
TOOLS = ("node", "bun", "pnpm", "yarn", "python")
# mise's own config files (the first found wins), then asdf's file, which mise reads too.
MISE_FILES = ("mise.toml", ".mise.toml")
TOOL_VERSIONS_FILE = ".tool-versions"


@dataclass(frozen=True)
class Requested:
    """A version an app asked for: the spec as written and the file (or key) that said it."""

    spec: str
    source: str


def version_line(reader: Reader, path: str) -> str | None:
    """The first non-blank, non-comment line of a one-line version file (.nvmrc,
    .python-version ...), or None when the file is absent or says nothing."""
    if not reader.exists(path):
        return None
    for line in reader.read(path).splitlines():
        stripped = line.split("#", 1)[0].strip()
        if stripped:
            return stripped.split()[0]
    return None


def declared(reader: Reader, tool: str) -> Requested | None:
    """`tool`'s version from mise.toml `[tools]` (mise's own file wins, as in mise), else from
    .tool-versions; None when neither names it."""
    for path in MISE_FILES:
        if reader.tree.exists(path):
            document = parse_toml(reader.tree.read_text(path), path)
            spec = _mise_spec(table(document, "tools").get(tool))
            if spec is not None:
                reader.mark(path)  # only a file that named the tool shaped the plan
                return Requested(spec, path)
    if reader.tree.exists(TOOL_VERSIONS_FILE):
        for line in reader.tree.read_text(TOOL_VERSIONS_FILE).splitlines():
            words = line.split("#", 1)[0].split()
            if len(words) >= 2 and words[0] == tool:
                reader.mark(TOOL_VERSIONS_FILE)
                return Requested(words[1], TOOL_VERSIONS_FILE)  # the first listed is the one used
    return None


def declared_tools(reader: Reader) -> dict[str, str]:
    """Every tool of TOOLS that mise.toml or .tool-versions names, with its spec."""
    found = {tool: declared(reader, tool) for tool in TOOLS}
    return {tool: requested.spec for tool, requested in found.items() if requested is not None}


def _mise_spec(value: Any) -> str | None:
    # mise accepts `node = "20"`, `node = ["20", "18"]` (the first is used) and
    # `node = { version = "20", ... }`.
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("version")
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    return value.strip() or None if isinstance(value, str) else None


def stated_version(text: str, pattern: str, default: str) -> str:
    """The version a manifest states on a line matching `pattern` (its first group: go.mod's
    `go 1.22`, a Gemfile's `ruby "3.3"`), else `default`."""
    stated = re.search(pattern, text, re.M)
    return stated.group(1) if stated else default


def version_from_spec(spec: object, default: str) -> str:
    """A major.minor satisfying a version specifier (">=3.10", "^3.12", "==3.11.*", "~=3.12",
    ">=3.9,<3.11"): the pinned one, else the default when it fits, else the lowest allowed; the
    default when `spec` is not a string or names no version (composer's `"php": "*"`)."""
    if not isinstance(spec, str):
        return default
    lower: tuple[int, int] | None = None
    upper: tuple[int, int] | None = None
    for clause in re.split(r"[,\s]+(?=[<>=!~^])|,", spec):
        match = re.match(r"^\s*(===|==|~=|\^|~|>=|>|<=|<|!=)?\s*v?(\d+)(?:\.(\d+))?", clause)
        if match is None:
            continue
        operator = match.group(1) or "=="
        version = (int(match.group(2)), int(match.group(3) or 0))
        if operator in ("==", "===", "~"):
            return f"{version[0]}.{version[1]}"
        if operator in (">=", ">", "^", "~="):
            lower = version
        elif operator == "<":
            upper = version
        elif operator == "<=":
            upper = (version[0], version[1] + 1)
    if lower is None and upper is None:
        return default
    major, minor = (int(part) for part in default.split(".")[:2])
    candidate = max((major, minor), lower or (0, 0))
    if upper is not None and candidate >= upper:
        # "<3.11" allows 3.10; "<4" (or "<3.0") allows nothing we can name, so take the lower bound.
        below = (upper[0], upper[1] - 1) if upper[1] > 0 else None
        candidate = below if below is not None and below >= (lower or (0, 0)) else (lower or candidate)
    return f"{candidate[0]}.{candidate[1]}"
