"""The local runtime's picture of what runs: a release of a web service and its replicas (process,
port, restart bookkeeping, output tail), a cron service's schedule and runs, the service's sandbox,
and the wording of why a replica stopped.

Plain objects: the runtime (local.py and its siblings) decides what happens to them, under its lock.
"""

from __future__ import annotations

import collections
import subprocess
import threading
import time
from datetime import datetime
from pathlib import Path

from chalicelib.adapters import tenancy
from chalicelib.adapters.runtime.local_processes import (
    SharedLog,
    copy_output,
    describe_exit,
    free_port,
    start_group,
)
from chalicelib.adapters.runtime.readiness import ReadinessRule
from chalicelib.domain.ports import ReleaseSpec
from chalicelib.domain.workloads import Workload

TAIL_LINES = 10


class NeverHealthy(Exception):
    """A replica exhausted its health check deadline or its restarts; args[0] is the reason."""

    @property
    def reason(self) -> str:
        return str(self.args[0])


class Stopping(Exception):
    """The release is being stopped on purpose (stop, drain, close); supervision just ends."""


class Release:
    """One activated release of one web service: its replicas and the fate they share."""

    def __init__(
        self,
        spec: ReleaseSpec,
        app_dir: Path,
        env: dict[str, str],
        log: SharedLog,
        sandbox: Sandbox,
        readiness: ReadinessRule,
    ) -> None:
        self.spec = spec
        self.app_dir = app_dir
        self.env = env
        self.log = log
        self.sandbox = sandbox
        self.readiness = readiness
        self.workload = Workload.WEB  # what it turned out to be, set when it goes live
        self.stopping = threading.Event()  # set once: no more restarts, no crash report
        self.serving = False  # the route (or, for a worker or job, the host) belongs to this release
        self.crash_reported = False
        count = spec.settings.num_replicas
        self.replicas = [Replica(self, number, count) for number in range(1, count + 1)]

    def processes(self) -> list[subprocess.Popen[bytes]]:
        """The process of every replica still in play. One that gave up was stopped then, and its
        group id may belong to someone else by now."""
        return [
            proc
            for replica in self.replicas
            if not replica.gave_up and (proc := replica.current_proc()) is not None
        ]


class Replica:
    """One replica of a release: its current process, port and restart bookkeeping."""

    def __init__(self, release: Release, number: int, count: int) -> None:
        self.release = release
        self.number = number
        # Log lines of a single-replica service read as they always did.
        self.label = "" if count == 1 else f" replica {number}/{count}"
        self.prefix = "" if count == 1 else f"replica {number}/{count}: "
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.host = "127.0.0.1"  # where the platform reaches the port: the replica's namespace
        self.restarts = 0
        self.up = False  # in the route: passed its health check and its process has not exited since
        self.gave_up = False  # exhausted its restarts; stays down until the next deploy
        self.completed = False  # its process exited 0 and is not restarted: it ran to completion
        self.healthy_since: float | None = None
        self._lock = threading.Lock()  # guards spawn against a concurrent stop
        self._tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self._tail_lock = threading.Lock()
        self._reader: threading.Thread | None = None

    def spawn(self) -> subprocess.Popen[bytes]:
        release = self.release
        with self._lock:
            if release.stopping.is_set():
                raise Stopping
            port = free_port()
            release.sandbox.claim_port(port)
            env = {
                **release.env,
                "PORT": str(port),
                "RAILWAY_REPLICA_ID": f"{release.spec.release_id}-{self.number}",
                "RAILYARD_REPLICA_ID": str(self.number),
            }
            try:
                with release.sandbox.tenancy.launch(release.sandbox.identity) as launch:
                    proc = start_group(release.spec.start_command, release.app_dir, env, launch)
            except RuntimeError as refused:  # the host would not make the replica's network
                raise NeverHealthy(f"{self.prefix}could not start: {refused}") from None
            # A fresh tail per process: a failure reason quotes the process that failed, not its
            # predecessors (whose reader may still be appending its last lines).
            tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
            self.proc, self.port, self.host, self._tail = proc, port, launch.address, tail
            self._reader = threading.Thread(
                target=self._pump, args=(proc, tail), name=f"railyard-app-output:{proc.pid}", daemon=True
            )
            self._reader.start()
        release.log.write(
            f"started release {release.spec.release_id}{self.label} (pid {proc.pid}, PORT={port})"
        )
        return proc

    def _pump(self, proc: subprocess.Popen[bytes], tail: collections.deque[str]) -> None:
        def keep(line: str) -> None:
            with self._tail_lock:
                tail.append(line)

        copy_output(proc, self.release.log, keep)

    def output_tail(self, lines: int = TAIL_LINES) -> list[str]:
        # The reader may still be copying the last lines of a process that just exited.
        reader, proc = self._reader, self.proc
        exited = proc is not None and proc.poll() is not None
        if exited and reader is not None and reader is not threading.current_thread():
            reader.join(timeout=1.0)
        with self._tail_lock:
            return list(self._tail)[-lines:]

    def current_proc(self) -> subprocess.Popen[bytes] | None:
        with self._lock:
            return self.proc

    def join_threads(self, timeout: float) -> None:
        if self._reader is not None:
            self._reader.join(timeout)


class CronJob:
    """The schedule of one cron service: the release whose start command runs, and when next."""

    def __init__(
        self,
        spec: ReleaseSpec,
        app_dir: Path,
        env: dict[str, str],
        log: SharedLog,
        next_at: datetime,
        sandbox: Sandbox,
    ) -> None:
        self.spec = spec
        self.sandbox = sandbox
        self.app_dir = app_dir
        self.env = env
        self.log = log
        self.expression = spec.settings.cron_schedule or ""
        self.next_at = next_at


class CronRun:
    """One run of a cron job: a process group that must exit on its own."""

    def __init__(self, job: CronJob, proc: subprocess.Popen[bytes], started_at: datetime) -> None:
        self.job = job
        self.proc = proc
        self.started_at = started_at
        self.started = time.monotonic()
        self.watcher: threading.Thread | None = None


class Sandbox:
    """One service's identity on this runtime's tenancy (chalicelib/adapters/tenancy.py)."""

    def __init__(self, owner: tenancy.Tenancy, identity: tenancy.Identity) -> None:
        self.tenancy = owner
        self.identity = identity

    @classmethod
    def of(cls, owner: tenancy.Tenancy, service_id: str) -> Sandbox:
        """The service's sandbox (its identity is made on first use: a uid, a private HOME)."""
        return cls(owner, owner.identity(service_id))

    def claim_port(self, port: int) -> None:
        self.tenancy.claim_port(self.identity, port)

    def take(self, app_dir: Path) -> None:
        """The unpacked app becomes the service's (the platform unpacked it as itself)."""
        uid = self.identity.uid
        if uid is not None and app_dir.stat().st_uid != uid:
            self.tenancy.hand_over(app_dir, self.identity)


def no_http(hostname: str, workload: Workload) -> str:
    """What the router answers for the host of a worker or a job (and the log line saying so)."""
    what = "a worker (it opened no port)" if workload is Workload.WORKER else "a job (it ran to completion)"
    return f"service {hostname!r} is {what}: it serves no HTTP and has no URL"


def crash_reason(replica: Replica, code: int) -> str:
    settings = replica.release.spec.settings
    if settings.restart_policy_type == "NEVER":
        why = "restart policy NEVER"
    elif settings.restart_policy_type == "ON_FAILURE" and code == 0:
        why = "restart policy ON_FAILURE does not restart a clean exit"
    else:
        why = f"restarts exhausted ({replica.restarts}/{settings.restart_policy_max_retries})"
    return with_tail(f"the process {describe_exit(code)}; {why}", replica.output_tail(5))


def with_tail(reason: str, tail: list[str]) -> str:
    if not tail:
        return reason
    lines = "\n".join(f"  {line[:300]}" for line in tail)
    return f"{reason}; last output:\n{lines}"
