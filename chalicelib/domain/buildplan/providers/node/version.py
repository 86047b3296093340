"""Which Node (and bun, pnpm, yarn) an app asks for.

Node, in Railway's builder's order: `engines.node`, .nvmrc, .node-version, mise.toml /
.tool-versions; else the default. The package manager's version: bun's .bun-version, then the
`packageManager` field, then `engines.<manager>`, then mise.toml / .tool-versions.
"""

from __future__ import annotations

import re
from typing import Any

from chalicelib.domain.buildplan.provider import Runtime
from chalicelib.domain.buildplan.providers.node.package_managers import NodeManager, declared_manager
from chalicelib.domain.buildplan.reader import Reader
from chalicelib.domain.buildplan.versions import Requested, declared, version_line

DEFAULT_VERSION = "20"
# CodeBuild selects Node.js by major version only.
RUNTIME = Runtime(DEFAULT_VERSION, "node:{v}-slim", "node:{v}-slim", "nodejs", codebuild_version_parts=1)
VERSION_FILES = (".nvmrc", ".node-version")

LTS_CODENAMES = {
    "lts/*": DEFAULT_VERSION,
    "lts": DEFAULT_VERSION,
    "node": DEFAULT_VERSION,
    "latest": DEFAULT_VERSION,
    "lts/gallium": "16",
    "lts/hydrogen": "18",
    "lts/iron": "20",
    "lts/jod": "22",
}


def requested_node(reader: Reader, manifest: dict[str, Any]) -> Requested | None:
    engine = _engines(manifest).get("node")
    if isinstance(engine, str) and engine.strip():
        return Requested(engine.strip(), "package.json engines.node")
    for path in VERSION_FILES:
        pinned = version_line(reader, path)
        if pinned is not None:
            return Requested(pinned, path)
    return declared(reader, "node")


def language_version(requested: Requested | None) -> str:
    """The concrete major (or pinned version) for the plan."""
    if requested is None:
        return DEFAULT_VERSION
    if requested.source.endswith("engines.node"):
        return node_major(requested.spec) or DEFAULT_VERSION
    return LTS_CODENAMES.get(requested.spec.lower(), requested.spec.removeprefix("v"))


def node_major(spec: str) -> str | None:
    """The major version an `engines.node` range asks for ("18.x", "^20.1", ">=18" …). An open
    lower bound below the default takes the default, a newer LTS being what "at least" means."""
    match = re.search(r"(\d+)", spec)
    if match is None:
        return None
    major = int(match.group(1))
    if spec.strip().startswith(">") and major < int(DEFAULT_VERSION):
        return DEFAULT_VERSION
    return str(major)


def requested_manager(reader: Reader, manifest: dict[str, Any], manager: NodeManager) -> Requested | None:
    """The version of the package manager in use that the app asks for (npm comes with node)."""
    tool = manager.tool
    if tool == "npm":
        return None
    if tool == "bun":
        pinned = version_line(reader, ".bun-version")
        if pinned is not None:
            return Requested(pinned, ".bun-version")
    field = declared_manager(manifest)
    if field is not None and field[0] == tool:
        return Requested(field[1], "package.json packageManager")
    engine = _engines(manifest).get(tool)
    if isinstance(engine, str) and engine.strip():
        return Requested(engine.strip(), f"package.json engines.{tool}")
    return declared(reader, tool)


def _engines(manifest: dict[str, Any]) -> dict[str, Any]:
    engines = manifest.get("engines")
    return engines if isinstance(engines, dict) else {}
