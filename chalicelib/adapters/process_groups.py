"""Every process group the local platform starts (apps, pre-deploy and cron commands, build
commands), written down so that none outlives the platform.

Each tracked group is a file `<directory>/<pgid>` holding its leader's start time (field 22 of
/proc/<pid>/stat), written before anything else can happen to the process. Two things read the
directory: the reaper (railyard/localdev/reaper.py), a small child of the platform that stops every
listed group the moment the platform dies, however it dies; and the platform's next start, which
stops what a killed reaper could not (`stop_leftovers`). A group is stopped only if it is provably
ours: its leader is alive with the recorded start time, or the leader is gone and the group still
has members (the kernel does not reuse a group id while a member lives).

The registry is process-wide (`configure` once, in the composition of the local platform); without
it, `track` and `untrack` do nothing, which is what tests of a runtime on its own want.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

_directory: Path | None = None


def configure(directory: Path | None) -> None:
    global _directory
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
    _directory = directory


def track(proc: subprocess.Popen[bytes]) -> None:
    """Records `proc`'s group (it must lead its own session: start_new_session=True)."""
    if _directory is None:
        return
    started = start_time(proc.pid)
    if started is not None:
        partial = _directory / f".{proc.pid}.partial"
        partial.write_text(started)
        os.replace(partial, _directory / str(proc.pid))


def untrack(proc: subprocess.Popen[bytes]) -> None:
    """Forgets `proc`'s group once it has been stopped (its leader reaped, the group killed)."""
    if _directory is not None:
        (_directory / str(proc.pid)).unlink(missing_ok=True)


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot, or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    return stat.rsplit(")", 1)[1].split()[19]


def running_groups(pgids: set[int]) -> set[int]:
    """Which of these groups still have a member that runs: a killed process is not gone until the
    kernel has scheduled its exit, and one whose leader is gone is not the caller's child to wait
    for. A zombie (exited, waiting for its reaper) does not run."""
    running: set[int] = set()
    with os.scandir("/proc") as entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            try:
                fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # gone meanwhile
            if fields[0] not in ("Z", "X") and int(fields[2]) in pgids:
                running.add(int(fields[2]))
    return running


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def ours(pgid: int, recorded_start: str) -> bool:
    leader_start = start_time(pgid)
    if leader_start is not None:
        return leader_start == recorded_start
    return _group_alive(pgid)


def stop_leftovers(directory: Path, grace: float = 2.0) -> list[int]:
    """SIGTERM every recorded group that is still ours, then SIGKILL after `grace`; clears the
    directory. Returns the group ids it signalled."""
    if not directory.is_dir():
        return []
    targets: list[int] = []
    for entry in directory.iterdir():
        if entry.name.startswith("."):
            entry.unlink(missing_ok=True)
            continue
        with contextlib.suppress(ValueError, OSError):
            pgid = int(entry.name)
            if ours(pgid, entry.read_text().strip()):
                targets.append(pgid)
    for pgid in targets:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while targets and time.monotonic() < deadline and any(_group_alive(pgid) for pgid in targets):
        time.sleep(0.05)
    for pgid in targets:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    for entry in directory.iterdir():
        entry.unlink(missing_ok=True)
    return targets
