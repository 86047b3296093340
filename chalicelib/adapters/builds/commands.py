"""Build commands as supervised subprocesses: their output streamed into the build log line by line,
heartbeats while they run, a deadline, cancellation, and the whole process group stopped however
they end (BuildCommands); and the environment they start from."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import IO, Any

from chalicelib.adapters import process_groups
from chalicelib.domain.errors import BuildFailed
from chalicelib.domain.ports import LogSink, Progress

LOG_TAIL_LINES = 20
_MAX_LINE_BYTES = 8192  # a progress bar without newlines must not become one giant log message
_SHELL_BUILTINS = frozenset({"cd", "exit", "export", "set", "unset", ".", ":", "exec", "eval", "true"})
_EOF = object()


class BuildCommands:
    """Runs the build commands of one runner (any number of builds at once)."""

    def __init__(
        self, progress_interval: float, kill_grace: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        # The port asks for a heartbeat at least every 5 s while a command runs.
        self._progress_interval = min(progress_interval, 5.0)
        self._kill_grace = kill_grace
        self._clock = clock
        self._running: set[subprocess.Popen[bytes]] = set()
        self._running_lock = threading.Lock()

    def close(self) -> None:
        """Stops every command still running (the platform is shutting down): builds run in their
        own sessions, so nothing else would reach them."""
        with self._running_lock:
            running = list(self._running)
        for proc in running:
            self.stop(proc)

    def run(
        self,
        command: str,
        cwd: str,
        env: Mapping[str, str],
        deadline: float,
        timeout: float,
        log: LogSink,
        progress: Progress,
        spawn: Mapping[str, Any] | None = None,
    ) -> None:
        progress()  # a cancelled deployment should not start its next command
        log.write(f"$ {command}")
        # Its own session, so one killpg reaches npm, node, sh and anything they started.
        proc = subprocess.Popen(
            ["/bin/sh", "-c", command],
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **(spawn or {}),  # the service's uid when isolating (Identity.spawn_kwargs)
        )
        process_groups.track(proc)  # so that it cannot outlive the platform
        with self._running_lock:
            self._running.add(proc)
        assert proc.stdout is not None
        lines: queue.Queue[object] = queue.Queue()
        reader = threading.Thread(target=_pump, args=(proc.stdout, lines), daemon=True)
        reader.start()
        tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
        next_progress = self._clock() + self._progress_interval
        rc: int | None = None
        eof = False
        try:
            while not (eof and rc is not None):
                now = self._clock()
                if now >= deadline:
                    self.stop(proc)
                    log.write(f"build: timed out after {timeout:g} s; stopped `{command}`")
                    log.flush()
                    raise BuildFailed(f"build timed out after {timeout:g} s")
                if now >= next_progress:
                    log.flush()
                    progress()
                    next_progress = self._clock() + self._progress_interval
                if rc is None:
                    rc = proc.poll()
                    if rc is not None:
                        # Background children would hold the pipe open and outlive the build.
                        _signal_group(proc.pid, signal.SIGKILL)
                wait = max(0.0, min(0.1, deadline - now, next_progress - now))
                try:
                    item = lines.get(timeout=wait)
                except queue.Empty:
                    continue
                if item is _EOF:
                    eof = True
                    continue
                assert isinstance(item, str)
                tail.append(item)
                log.write(item)
        finally:
            if rc is None:
                self.stop(proc)  # cancelled (progress raised) or any other error
            with self._running_lock:
                self._running.discard(proc)
            process_groups.untrack(proc)  # the group was killed above, or by _stop
            reader.join(timeout=1.0)
            # A process that escaped the group may still hold the pipe; closing it under a blocked
            # readline would block here too, so leave that (daemon) reader to finish on its own.
            if not reader.is_alive():
                proc.stdout.close()
        if rc != 0:
            log.write(f"build: log tail (last {len(tail)} lines of `{command}`):")
            for line in tail:
                log.write(line)
            log.flush()
            raise BuildFailed(f"`{command}` exited with code {rc}")
        log.flush()

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGTERM the whole group, give it `kill_grace` seconds, then SIGKILL whatever is left."""
        _signal_group(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=self._kill_grace)
        # Always: the leader may exit on SIGTERM while its children ignore it.
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait()


def _pump(stream: IO[bytes], lines: queue.Queue[object]) -> None:
    """Reader thread: the main loop must keep heartbeating while a command is silent."""
    try:
        while chunk := stream.readline(_MAX_LINE_BYTES):
            lines.put(chunk.decode("utf-8", errors="replace").rstrip("\r\n"))
    except (OSError, ValueError):
        pass  # the pipe was closed under us after a kill
    finally:
        lines.put(_EOF)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    # ESRCH means the group is already gone; a pgid is never reused while any member lives.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def build_env(base: Mapping[str, str], variables: Mapping[str, str]) -> dict[str, str]:
    # `base` is the tenancy's allow-list: the platform's own credentials and settings never reach
    # user build scripts.
    env = {**base, **variables}
    env["CI"] = "true"
    return env


def require_toolchain(command: str, env: Mapping[str, str]) -> None:
    try:
        words = shlex.split(command)
    except ValueError:
        return  # not simple enough to tell; the shell will report it
    # `NAME=value program ...` sets a variable for the program; the program is the first other word.
    words = [w for w in words if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", w)] or [""]
    program = words[0]
    if not program:
        return
    if program in _SHELL_BUILTINS or "/" in program:
        return
    if shutil.which(program, path=env.get("PATH", os.defpath)) is None:
        raise BuildFailed(
            f"`{program}` is not installed on the build host (needed for `{command}`); "
            f"install it or set a different start command"
        )
