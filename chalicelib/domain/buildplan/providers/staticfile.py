"""The staticfile provider: a site of plain files (a Staticfile, or an index.html at the root or in
public/), served as files. Also owns the static server that node's single-page apps use."""

from __future__ import annotations

import re
import shlex

from chalicelib.domain.buildplan.plan import BuildPlan
from chalicelib.domain.buildplan.provider import DetectedByFiles, Runtime
from chalicelib.domain.buildplan.providers import python
from chalicelib.domain.buildplan.reader import Reader

STATIC_SERVER = "python3 -m http.server $PORT --bind 127.0.0.1"


def static_server(directory: str) -> str:
    """The start command serving `directory` (relative to the app). Serves files only: no
    fallback to index.html for client-side routes (http.server has none)."""
    if directory in ("", "."):
        return STATIC_SERVER
    return f"cd {shlex.quote(directory)} && {STATIC_SERVER}"


class StaticfileProvider(DetectedByFiles):
    name = "staticfile"
    label = "static site"
    detect_files = ("Staticfile", "index.html", "public/index.html")
    start_help = "an index.html"
    # The static server is python's http.server, so the image is python's.
    runtime = Runtime(python.DEFAULT_VERSION, python.RUNTIME.build_image, python.RUNTIME.runtime_image)

    def plan(self, reader: Reader) -> BuildPlan:
        root = "."
        if reader.exists("Staticfile"):
            match = re.search(
                r"^\s*root\s*:\s*['\"]?([^'\"#\n]+?)['\"]?\s*$", reader.read("Staticfile"), re.M
            )
            if match is not None:
                root = match.group(1).removeprefix("./").rstrip("/") or "."
        elif not reader.exists("index.html") and reader.exists("public/index.html"):
            root = "public"
        return BuildPlan(provider=self.name, install=(), build=(), start_command=static_server(root))
