"""Reading a source tree for planning: the `Reader` every provider gets, and the small helpers
over parsed documents that every provider uses.

The reader records which files shaped the plan (`BuildPlan.files_read`), in the order they were
consulted; `peek` reads without recording, for files read only to rule something out.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.buildplan.plan import SourceTree
from chalicelib.domain.errors import BuildFailed
from chalicelib.domain.railway_config import parse_json, parse_toml


@dataclass
class Reader:
    """Wraps the tree to record which files the plan depended on.

    `exists` and `read` record; `peek` does not, for files read only to rule something out (an
    `app.py` that turns out not to define a Flask app did not shape the plan)."""

    tree: SourceTree
    seen: list[str] = field(default_factory=list)
    _listings: dict[str, list[str]] = field(default_factory=dict)

    def exists(self, path: str) -> bool:
        found = self.tree.exists(path)
        if found:
            self.mark(path)
        return found

    def read(self, path: str) -> str:
        self.mark(path)
        return self.tree.read_text(path)

    read_text = read  # so the reader is itself a railway_config.ConfigSource

    def peek(self, path: str) -> str | None:
        return self.tree.read_text(path) if self.tree.exists(path) else None

    def mark(self, path: str) -> None:
        if path not in self.seen:
            self.seen.append(path)

    def first(self, *paths: str) -> str | None:
        """The first of `paths` that exists (recorded), or None."""
        return next((path for path in paths if self.exists(path)), None)

    def existing(self, *paths: str) -> tuple[str, ...]:
        return tuple(path for path in paths if self.exists(path))

    def list_dir(self, path: str) -> list[str]:
        """Entries of `path`, or [] when it is not a directory. Walks down from the root because
        a directory-backed tree raises for a missing directory and a dict-backed one does not."""
        path = path.strip("/") or "."
        if path in self._listings:
            return self._listings[path]
        entries: list[str] = []
        if path == ".":
            entries = self.tree.list_dir(".")
        else:
            parent, _, name = path.rpartition("/")
            if f"{name}/" in self.list_dir(parent or "."):
                entries = self.tree.list_dir(path)
        self._listings[path] = entries
        return entries

    def subdirs(self, path: str) -> list[str]:
        return [entry[:-1] for entry in self.list_dir(path) if entry.endswith("/")]

    def expand_dirs(self, pattern: str) -> list[str]:
        """Directories matching a workspace glob ("packages/*", "crates/api"). Each segment
        matches one directory level ("**" is treated as "*")."""
        found = ["."]
        for segment in pattern.strip().removeprefix("./").rstrip("/").split("/"):
            if segment in ("", "."):
                continue
            glob = segment.replace("**", "*")
            found = [
                name if parent == "." else f"{parent}/{name}"
                for parent in found
                for name in self.subdirs(parent)
                if fnmatch.fnmatchcase(name, glob)
            ]
        return [directory for directory in found if directory != "."]

    def json(self, path: str) -> dict[str, Any]:
        return _object(parse_json(self.read(path), path), path)

    def json5(self, path: str) -> dict[str, Any]:
        """A JSON5 document (comments, trailing commas, unquoted keys): package.json5, and
        railpack.json, whose documented examples carry comments."""
        import json5  # only the rare source with such a file pays for the import

        try:
            document = json5.loads(self.read(path))
        except ValueError as exc:
            raise BuildFailed(f"{path} is not valid JSON5: {exc}") from None
        return _object(document, path)

    def toml(self, path: str) -> dict[str, Any]:
        return parse_toml(self.read(path), path)


def _object(document: Any, path: str) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise BuildFailed(f"{path} must be a JSON object, not {type(document).__name__}")
    return document


def table(document: dict[str, Any], key: str) -> dict[str, Any]:
    """`document[key]` when it is a table/object, else {} (absent or of another type)."""
    value = document.get(key)
    return value if isinstance(value, dict) else {}


def string_list(value: Any) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []
