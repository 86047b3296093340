"""The Procfile: its `web:` line starts the app (before any provider's default), and a Procfile
alone is enough to deploy (provider "procfile")."""

from __future__ import annotations

import re

from chalicelib.domain.buildplan.reader import Reader
from chalicelib.domain.errors import BuildFailed

NAME = "procfile"
PROCFILE = "Procfile"
LABEL = "a `web:` line"
LOOKED_FOR = (PROCFILE,)
_LINE = re.compile(r"^([A-Za-z0-9_-]+)\s*:\s*(.*)$")


def procfile_web(reader: Reader) -> str | None:
    if not reader.exists(PROCFILE):
        return None
    for number, raw in enumerate(reader.read(PROCFILE).splitlines(), start=1):
        match = _LINE.match(raw.strip())
        if match is None or match.group(1) != "web":
            continue
        command = match.group(2).strip()
        if not command:
            raise BuildFailed(f"Procfile line {number}: `web:` has no command")
        return command
    return None
