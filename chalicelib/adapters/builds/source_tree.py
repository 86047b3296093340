"""The source a build plans from: an extracted upload read as a SourceTree, and the one way both
build runners (local.py, codebuild.py) plan it."""

from __future__ import annotations

import os
from collections.abc import Callable

from chalicelib.domain.buildplan import BuildPlan, SourceTree, plan_build
from chalicelib.domain.ports import BuildRequest

Planner = Callable[[SourceTree, str | None], BuildPlan]


def plan_source(src: str, request: BuildRequest, planner: Planner | None) -> BuildPlan:
    """The plan of an extracted source: an injected planner (tests, benches) or the real one for
    the deployment's environment. Both build runners plan through here."""
    tree, override = DirectorySourceTree(src), request.settings.start_command
    if planner is not None:
        return planner(tree, override)
    return plan_build(tree, override, environment=request.environment)


class DirectorySourceTree:
    """SourceTree over an extracted directory."""

    def __init__(self, root: str) -> None:
        self._root = root

    def _path(self, path: str) -> str:
        parts = [p for p in path.split("/") if p not in ("", ".")]
        joined = os.path.join(self._root, *parts)
        root = os.path.realpath(self._root)
        # Paths come from files in the upload (dockerfilePath, go.work, -r lines): never read outside.
        real = os.path.realpath(joined)
        if path.startswith("/") or ".." in parts or (real != root and not real.startswith(root + os.sep)):
            return os.path.join(self._root, ".railyard-outside-the-source")  # reads as missing
        return joined

    def exists(self, path: str) -> bool:
        return os.path.isfile(self._path(path))

    def read_text(self, path: str) -> str:
        # utf-8-sig: editors on Windows write a BOM, which json.loads would reject.
        with open(self._path(path), encoding="utf-8-sig", errors="replace") as handle:
            return handle.read()

    def list_dir(self, path: str) -> list[str]:
        with os.scandir(self._path(path)) as entries:
            return sorted(e.name + ("/" if e.is_dir(follow_symlinks=False) else "") for e in entries)
