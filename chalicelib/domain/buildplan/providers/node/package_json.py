"""Reading a Node manifest: package.json, or package.json5 (which pnpm reads when there is no
package.json), its fields, and the workspace members it (or pnpm-workspace.yaml) declares."""

from __future__ import annotations

import re
from typing import Any

from chalicelib.domain.buildplan.reader import Reader
from chalicelib.domain.errors import BuildFailed

MANIFESTS = ("package.json", "package.json5")


def manifest_path(reader: Reader) -> str:
    """The manifest the node plan reads: package.json, else package.json5."""
    return next((path for path in MANIFESTS if reader.exists(path)), MANIFESTS[0])


def load_manifest(reader: Reader, path: str) -> dict[str, Any]:
    return reader.json5(path) if path.endswith(".json5") else reader.json(path)


def object_field(manifest: dict[str, Any], name: str, path: str = "package.json") -> dict[str, Any]:
    value = manifest.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BuildFailed(f"{path}: `{name}` must be an object, not {type(value).__name__}")
    return value


def script(scripts: dict[str, Any], name: str) -> str | None:
    value = scripts.get(name)
    return value if isinstance(value, str) and value.strip() else None


def workspaces(reader: Reader, manifest: dict[str, Any]) -> tuple[str, ...]:
    """Member directories of npm/yarn/bun `workspaces` or pnpm-workspace.yaml that have a
    package.json."""
    raw = manifest.get("workspaces")
    patterns: list[Any] = []
    if isinstance(raw, list):
        patterns = list(raw)
    elif isinstance(raw, dict) and isinstance(raw.get("packages"), list):
        patterns = list(raw["packages"])
    if reader.exists("pnpm-workspace.yaml"):
        patterns += re.findall(
            r"^\s*-\s*['\"]?([^'\"#\n]+?)['\"]?\s*$", reader.read("pnpm-workspace.yaml"), re.M
        )
    members: list[str] = []
    for pattern in patterns:
        if not isinstance(pattern, str) or pattern.startswith("!"):
            continue
        for directory in reader.expand_dirs(pattern):
            if directory not in members and reader.exists(f"{directory}/package.json"):
                members.append(directory)
    return tuple(members)
