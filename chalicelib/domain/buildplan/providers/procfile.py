"""The Procfile: the process it names starts the app (before any provider's default), and a
Procfile alone is enough to deploy (provider "procfile").

Which process, as Railway's builders choose it (Nixpacks and Railpack read one process per
service): `release` never (it is a release-phase command, not a service), `web` when present, else
`worker`, else the first of the others by name. The order is `PROCESS_PREFERENCE`, declared once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from chalicelib.domain.buildplan.reader import Reader
from chalicelib.domain.errors import BuildFailed

NAME = "procfile"
PROCFILE = "Procfile"
LABEL = "a process line such as `web:` or `worker:`"
LOOKED_FOR = (PROCFILE,)
# Preferred process names, best first; any other (but the skipped) comes after, by name.
PROCESS_PREFERENCE = ("web", "worker")
# Names that are never the service's process: Heroku's release phase.
SKIPPED_PROCESSES = frozenset({"release"})
_LINE = re.compile(r"^([A-Za-z0-9_-]+)\s*:\s*(.*)$")


def procfile_processes(reader: Reader) -> dict[str, tuple[int, str]]:
    """name -> (line number, command) of every process line, in file order (a name's first line
    wins, as Heroku reads it)."""
    if not reader.exists(PROCFILE):
        return {}
    found: dict[str, tuple[int, str]] = {}
    for number, raw in enumerate(reader.read(PROCFILE).splitlines(), start=1):
        match = _LINE.match(raw.strip())
        if match is not None and match.group(1) not in found:
            found[match.group(1)] = (number, match.group(2).strip())
    return found


def chosen_process(names: Iterable[str]) -> str | None:
    """The process name the service runs (see the module docstring), or None."""
    candidates = [name for name in names if name not in SKIPPED_PROCESSES]
    for preferred in PROCESS_PREFERENCE:
        if preferred in candidates:
            return preferred
    return min(candidates, default=None)


def procfile_start(reader: Reader) -> str | None:
    """The command of the chosen process, or None when the Procfile names none. Raises
    BuildFailed when the chosen process has no command."""
    processes = procfile_processes(reader)
    name = chosen_process(processes)
    if name is None:
        return None
    number, command = processes[name]
    if not command:
        raise BuildFailed(f"Procfile line {number}: `{name}:` has no command")
    return command
