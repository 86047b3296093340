"""The local runtime's process groups: starting a command in a group of its own, copying its output
into a deployment's log, and stopping groups (SIGTERM, a shared grace, SIGKILL).

Every process user code runs in locally (replicas, pre-deploy commands, cron runs) is started and
stopped here, so each one is tracked (chalicelib/adapters/process_groups.py) and none outlives the
platform.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from chalicelib.adapters import process_groups
from chalicelib.adapters.netns import Launch
from chalicelib.domain.ports import LogSink

logger = logging.getLogger(__name__)

KILLED_EXIT_SECONDS = 2.0  # at most, for SIGKILLed members to be scheduled and end (a loaded machine)
LINE_LIMIT = 64 * 1024  # one log line at most; longer output is split, never buffered unbounded


class SharedLog:
    """Serialises the caller's, the readers' and the monitors' writes into one sink.

    The sink outlives `activate`; a sink that starts failing must not take supervision down with it,
    so its errors are logged once and swallowed.
    """

    def __init__(self, sink: LogSink) -> None:
        self._sink = sink
        self._lock = threading.Lock()
        self._failed = False

    def write(self, message: str) -> None:
        with self._lock:
            try:
                self._sink.write(message)
            except Exception:
                self._report_failure()

    def flush(self) -> None:
        with self._lock:
            try:
                self._sink.flush()
            except Exception:
                self._report_failure()

    def _report_failure(self) -> None:
        if not self._failed:
            self._failed = True
            logger.warning("runtime log sink failed; app output may be lost", exc_info=True)


def start_group(command: str, cwd: Path, env: dict[str, str], launch: Launch) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        launch.argv(["/bin/sh", "-c", command]),
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # own process group: stopping kills the whole tree
        close_fds=True,
        **launch.popen,  # the service's own uid and network namespace, when isolating
    )
    process_groups.track(proc)  # so that it cannot outlive the platform
    return proc


def copy_output(proc: subprocess.Popen[bytes], log: SharedLog, keep: Callable[[str], None] | None) -> None:
    """Copy the process's output into the log line by line until every writer of the pipe is gone."""
    stream = proc.stdout
    assert stream is not None
    with stream:
        for raw in iter(lambda: stream.readline(LINE_LIMIT), b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if keep is not None:
                keep(line)
            log.write(line)
    proc.wait()
    log.flush()


def free_port() -> int:
    # Bind-then-release has a tiny race with other processes; a lost race shows up as a failed
    # health check followed by a restart on a new port, which the policy already handles.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    # The group id is the leader's pid (start_new_session); the kernel does not reuse a pid while a
    # group of that id still has members, so this never hits an unrelated process group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def stop_groups(procs: list[subprocess.Popen[bytes]], grace: float) -> int:
    """SIGTERM every group, give them one shared `grace`, then SIGKILL the groups (also stragglers
    whose leader is gone). Returns how many leaders were still running when the grace ran out."""
    for proc in procs:
        signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    late = sum(proc.poll() is None for proc in procs)
    for proc in procs:
        signal_group(proc, signal.SIGKILL)
        proc.wait()
    # The leaders are reaped; members they forked (a `cmd &` in a start command) are someone
    # else's children, so wait here until the kernel has ended them too: "stopped" means gone.
    pgids = {proc.pid for proc in procs}
    deadline = time.monotonic() + KILLED_EXIT_SECONDS
    while pgids and time.monotonic() < deadline:
        pgids = process_groups.running_groups(pgids)
        if pgids:
            time.sleep(0.01)
    for proc in procs:
        process_groups.untrack(proc)
    return late


def describe_exit(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
        return f"was killed by signal {-code}"
    return f"exited with code {code}"
