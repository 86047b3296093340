"""LocalRuntime: the `Runtime` port on one machine — supervised processes behind one HTTP router.

Owns, for the embedded default platform:
- unpacking release artifacts into `<tenant root>/releases/{release_id}/app` (once; atomic rename;
  the tenant root is the data dir unless the platform isolates tenants: tenancy.py);
- replicas (Railway's deploy.numReplicas): a release runs as N processes, each its own process group
  (`/bin/sh -c <start command>`, own session) on its own free port, in a network namespace of its
  own when the platform encloses apps (tenancy.py `launch`: reached at that namespace's address,
  127.0.0.1 otherwise), as the service's own uid when
  the platform isolates tenants (chalicelib/adapters/tenancy.py: the unpacked release, a private
  HOME and the port are that uid's alone), with an allow-listed environment, never the platform's,
  plus the release's variables, PORT, RAILWAY_REPLICA_ID (`<release id>-<n>`, unique per replica)
  and RAILYARD_REPLICA_ID (`n`, 1-based, as in the log lines "replica n/N"); each process's output
  is copied line by line into the deployment's log sink for the life of the process;
- readiness (runtime/readiness.py: every replica must pass the health check, or without a
  health-check path open $PORT or stay up the worker settle time, before the switch; a release
  whose processes exit 0 ran to completion, a job: domain/workloads.py), the zero-downtime switch
  of the route table (a worker or a job gets no route: its host answers 404 saying so), made only
  once the deployment's promotion committed (checked after the service's lock is
  taken, committed right before the route moves: docs/decisions/0010), and the router's round
  robin over the replicas that are up;
- the teardown of the previous release, with Railway's meaning of the two settings: after the new
  release is live the old one keeps running for `overlap_seconds` (the route already points at the
  new one; requests in flight finish), then gets SIGTERM and `draining_seconds` to exit before
  SIGKILL. Both values come from the new release's settings (Railway: the deployment being rolled
  out decides how the previous one goes). `stop()` uses the stopped release's own draining time;
- restart policies per replica after activation: a replica whose process exits leaves the route at
  once and comes back when its new process passes the health check, while the others keep serving.
  Crash reporting (decision): a replica that exhausts its restarts stays down until the next deploy
  and says so in the log; the domain is told (`on_crash`, once per release) only when every replica
  of the live release has exhausted its restarts, because CRASHED means "this release no longer
  serves" and a release with one replica left still does;
- cron services (Railway's deploy.cronSchedule): activation unpacks and runs the pre-deploy command,
  records the schedule and returns — no process, no health check, no route (the hostname answers
  404). One scheduler thread for all cron services sleeps on an Event until the earliest next run
  (times from the injected clock, UTC) and starts the start command as a run with the release's
  environment; a run due while the service's previous run is still running is skipped (logged);
  runs are never restarted and a failing run is never reported as a crash (its exit code and
  duration are logged). A run ends when its command exits: what it left in the background is
  killed then. numReplicas, the health check and the restart policy do not apply (one run at a
  time). A redeploy replaces the schedule (a run in progress finishes; the next waits for it),
  `stop()` removes it and stops the run in progress, `run_now()` is Railway's "Run now", and
  `wake_scheduler()` makes the scheduler re-read an injected clock that a test moved;
- stopping everything it started on `close()` (each app gets its drainingSeconds, at most
  CLOSE_GRACE_SECONDS, all in parallel).

Artifact contract (written by the build runner): the tar root is the app's working directory; an
optional `.railyard/runtime.json` = `{"env": {"NAME": "value"}}` adds environment variables, where
`{app}` becomes the absolute app directory and `{PATH}` the PATH user code gets. A `.venv` in it
is moved to the app directory's path when unpacked (chalicelib/adapters/venvs.py).

Threads: `activate` runs in the caller's thread (it calls `progress()` so cancellation and heartbeats
work); each replica gets an output reader per process and one monitor after activation; the teardown
of a previous release runs in its own thread so `activate` returns as soon as the new release serves;
each cron run has one watcher thread.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chalicelib.adapters import process_groups, tenancy, venvs
from chalicelib.adapters.netns import Launch
from chalicelib.adapters.runtime.readiness import ReadinessRule
from chalicelib.adapters.runtime.router import Router, RouteTable
from chalicelib.domain.errors import (
    BadRequest,
    HealthCheckFailed,
    NotFound,
    PreDeployFailed,
    TransientError,
)
from chalicelib.domain.ids import Clock, utcnow
from chalicelib.domain.models import ServiceSettings
from chalicelib.domain.ports import BlobStore, CrashListener, LogSink, Progress, Promotion, ReleaseSpec
from chalicelib.domain.schedule import next_run
from chalicelib.domain.workloads import DEFAULT_WORKER_SETTLE_SECONDS, Workload, of_replicas

logger = logging.getLogger(__name__)

# close() gives every app its drainingSeconds, but no more than this: stopping the platform (Ctrl-C)
# must not wait an hour for an app that asked for it.
CLOSE_GRACE_SECONDS = 5.0
# The same cap for a release that never served (failed health check, cancelled deploy): the caller's
# thread waits for it.
DISCARD_GRACE_SECONDS = 5.0
HEALTHCHECK_INTERVAL_SECONDS = 0.01  # short: each poll interval is added to every deploy
HEALTHCHECK_REQUEST_TIMEOUT_SECONDS = 1.0
PROGRESS_INTERVAL_SECONDS = 2.0  # the port asks for at least every 5 s
# An instance that served this long before exiting gets its full restart budget back, so a service
# that crashes once a day is not CRASHED after its third day.
RESTART_BUDGET_RESET_SECONDS = 30.0
# The scheduler sleeps until the next run, computed on the wall clock, but waits on the monotonic
# clock: waking at least this often notices a wall clock that jumped (suspend, NTP).
SCHEDULER_MAX_SLEEP_SECONDS = 60.0
TAIL_LINES = 10
_LINE_LIMIT = 64 * 1024  # one log line at most; longer output is split, never buffered unbounded
_RELEASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_RUNTIME_JSON = Path(".railyard") / "runtime.json"
# Release directories being deleted (forget_release); never a release id, which starts alphanumeric.
_TRASH_PREFIX = ".forgotten-"


class _NeverHealthy(Exception):
    """A replica exhausted its health check deadline or its restarts; args[0] is the reason."""

    @property
    def reason(self) -> str:
        return str(self.args[0])


class _Stopping(Exception):
    """The release is being stopped on purpose (stop, drain, close); supervision just ends."""


def _no_progress() -> None:
    return None


class _SharedLog:
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


class _Release:
    """One activated release of one web service: its replicas and the fate they share."""

    def __init__(
        self,
        spec: ReleaseSpec,
        app_dir: Path,
        env: dict[str, str],
        log: _SharedLog,
        sandbox: _Sandbox,
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
        self.replicas = [_Replica(self, number, count) for number in range(1, count + 1)]

    def processes(self) -> list[subprocess.Popen[bytes]]:
        """The process of every replica still in play. One that gave up was stopped then, and its
        group id may belong to someone else by now."""
        return [
            proc
            for replica in self.replicas
            if not replica.gave_up and (proc := replica.current_proc()) is not None
        ]


class _Replica:
    """One replica of a release: its current process, port and restart bookkeeping."""

    def __init__(self, release: _Release, number: int, count: int) -> None:
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
                raise _Stopping
            port = _free_port()
            release.sandbox.claim_port(port)
            env = {
                **release.env,
                "PORT": str(port),
                "RAILWAY_REPLICA_ID": f"{release.spec.release_id}-{self.number}",
                "RAILYARD_REPLICA_ID": str(self.number),
            }
            try:
                with release.sandbox.tenancy.launch(release.sandbox.identity) as launch:
                    proc = _start_group(release.spec.start_command, release.app_dir, env, launch)
            except RuntimeError as refused:  # the host would not make the replica's network
                raise _NeverHealthy(f"{self.prefix}could not start: {refused}") from None
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

        _copy_output(proc, self.release.log, keep)

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


class _CronJob:
    """The schedule of one cron service: the release whose start command runs, and when next."""

    def __init__(
        self,
        spec: ReleaseSpec,
        app_dir: Path,
        env: dict[str, str],
        log: _SharedLog,
        next_at: datetime,
        sandbox: _Sandbox,
    ) -> None:
        self.spec = spec
        self.sandbox = sandbox
        self.app_dir = app_dir
        self.env = env
        self.log = log
        self.expression = spec.settings.cron_schedule or ""
        self.next_at = next_at


class _CronRun:
    """One run of a cron job: a process group that must exit on its own."""

    def __init__(self, job: _CronJob, proc: subprocess.Popen[bytes], started_at: datetime) -> None:
        self.job = job
        self.proc = proc
        self.started_at = started_at
        self.started = time.monotonic()
        self.watcher: threading.Thread | None = None


class LocalRuntime:
    """Runs releases as local processes behind one router. See the module docstring."""

    def __init__(
        self,
        data_dir: str,
        blobs: BlobStore,
        artifact_bucket: str,
        on_crash: CrashListener,
        router_host: str = "127.0.0.1",
        router_port: int = 0,
        domain_suffix: str = "localhost",
        clock: Clock = utcnow,
        worker_settle_seconds: float = DEFAULT_WORKER_SETTLE_SECONDS,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.blobs = blobs
        self.artifact_bucket = artifact_bucket
        self.on_crash = on_crash
        self.router_host = router_host
        self.router_port = router_port
        self.domain_suffix = domain_suffix
        self._clock = clock  # cron schedules only; durations and deadlines use time.monotonic
        self.worker_settle_seconds = worker_settle_seconds
        self._tenancy = tenancy.current(self.data_dir)  # who user code runs as, and where
        self._routes = RouteTable()
        self._router = Router(self._routes, router_host, router_port, domain_suffix)
        self._lock = threading.RLock()
        self._closed = False
        self._closing = threading.Event()
        self._active: dict[str, _Release] = {}  # service id → release that owns its route
        self._releases: set[_Release] = set()  # everything that may still have a process
        self._cron: dict[str, _CronJob] = {}  # service id → its schedule
        self._cron_running: dict[str, _CronRun] = {}  # service id → its run in progress
        self._scheduler: threading.Thread | None = None
        self._wakeup = threading.Event()
        self._service_locks: dict[str, threading.Lock] = {}
        self._threads: list[threading.Thread] = []
        self._forget_once_stopped: set[str] = set()  # release ids retention pruned while they ran

    # lifecycle

    def start(self) -> None:
        self.router_port = self._router.start()
        self._tenancy.expose(self.router_port)  # apps reach each other through the router only

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            releases = list(self._releases)
            runs = list(self._cron_running.values())
            self._releases.clear()
            self._active.clear()
            self._cron.clear()
            scheduler = self._scheduler
        self._closing.set()
        self._wakeup.set()
        self._router.stop()
        for release in releases:
            release.stopping.set()
        # Signal every group first and share one grace period, so N apps take 5 s, not 5N s.
        procs = [proc for release in releases for proc in release.processes()] + [run.proc for run in runs]
        drainings = [r.spec.settings.draining_seconds for r in releases] + [
            run.job.spec.settings.draining_seconds for run in runs
        ]
        _stop_groups(procs, min(CLOSE_GRACE_SECONDS, max(drainings, default=0.0)))
        for release in releases:
            for replica in release.replicas:
                replica.join_threads(timeout=1.0)
        if scheduler is not None:
            scheduler.join(timeout=1.0)
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=1.0)

    # the Runtime port

    def url_for(self, hostname: str) -> str:
        return f"http://{hostname}.{self.domain_suffix}:{self.router_port}"

    def route_domains(self, hostname: str, domains: tuple[str, ...]) -> None:
        """A custom domain verified or removed since the deploy: the router follows at once."""
        self._routes.set_aliases(hostname, domains, take=True)

    def active_release(self, hostname: str) -> str | None:
        """The release id receiving traffic for `hostname`, for tests and diagnostics."""
        with self._lock:
            for release in self._active.values():
                if release.spec.hostname == hostname and release.serving:
                    return release.spec.release_id
        return None

    def stop(self, service_id: str) -> None:
        with self._lock:
            release = self._active.pop(service_id, None)
            job = self._cron.pop(service_id, None)
            run = self._cron_running.get(service_id)
            if release is not None:
                release.stopping.set()  # under the lock: a replica giving up now reports no crash
                release.serving = False
                self._routes.mark_unavailable(release.spec.hostname)
        if job is not None:
            job.log.write(f"cron: schedule {job.expression} removed; no more runs")
            self._wakeup.set()
        # Also a run of an earlier cron release of a service that has been a web service since.
        if run is not None and run.proc.poll() is None:
            seconds = run.job.spec.settings.draining_seconds
            run.job.log.write(
                f"cron: stopping the run in progress (pid {run.proc.pid}): "
                f"SIGTERM; draining up to {seconds:g}s"
            )
            if _stop_groups([run.proc], seconds):
                run.job.log.write(f"cron: SIGKILL after {seconds:g}s (the run was still running)")
        if release is None:
            return
        seconds = release.spec.settings.draining_seconds
        release.log.write(
            f"stopping release {release.spec.release_id}; route removed; SIGTERM; draining up to {seconds:g}s"
        )
        if _stop_groups(release.processes(), seconds):
            release.log.write(
                f"release {release.spec.release_id}: SIGKILL after {seconds:g}s (still running)"
            )
        self._forget(release)

    def activate(
        self, spec: ReleaseSpec, log: LogSink, progress: Progress, promotion: Promotion | None = None
    ) -> None:
        # One activation per service at a time: a worker delivered twice, or a newer deployment
        # overtaking an older one, must not interleave their switches. The promotion is checked
        # and committed under this lock, so its decision still holds when the route moves.
        lock = self._service_lock(spec.service_id)
        while not lock.acquire(timeout=PROGRESS_INTERVAL_SECONDS):
            progress()
        try:
            if promotion is not None:
                promotion.check()  # superseded or given up while waiting: start nothing
            self._activate(spec, _SharedLog(log), progress, promotion)
        finally:
            lock.release()

    # cron services

    def run_now(self, service_id: str) -> bool:
        """Start a run of the cron service now (Railway's "Run now"). False when it was skipped
        because the previous run is still running; NotFound when the service has no schedule here."""
        with self._lock:
            job = self._cron.get(service_id)
        if job is None:
            raise NotFound(f"service {service_id} has no cron schedule on this runtime")
        return self._start_run(job, "run now")

    def next_cron_run(self, service_id: str) -> datetime | None:
        """When the service's next scheduled run is due (UTC), or None without a schedule."""
        with self._lock:
            job = self._cron.get(service_id)
            return None if job is None else job.next_at

    def wake_scheduler(self) -> None:
        """Make the scheduler read the clock now: for an injected clock that was moved forward."""
        self._wakeup.set()

    # activation

    def _activate(
        self, spec: ReleaseSpec, log: _SharedLog, progress: Progress, promotion: Promotion | None
    ) -> None:
        with self._lock:
            current = self._active.get(spec.service_id)
            job = self._cron.get(spec.service_id)
        already = (
            current is not None and current.serving and current.spec.release_id == spec.release_id
        ) or (job is not None and job.spec.release_id == spec.release_id)
        if already:
            log.write(f"release {spec.release_id} is already active; nothing to do")
            return

        app_dir = self._ensure_app_dir(spec, log)
        progress()
        env = self._environment(spec, app_dir)
        if spec.settings.cron_schedule:
            self._activate_cron(spec, app_dir, env, log, progress, promotion)
            return
        settings = spec.settings
        readiness = ReadinessRule(
            settings.healthcheck_path, settings.healthcheck_timeout, self.worker_settle_seconds
        )
        release = _Release(spec, app_dir, env, log, self._sandbox(spec), readiness)
        self._track(release)
        count = settings.num_replicas
        try:
            if settings.pre_deploy_command:
                self._pre_deploy(spec, app_dir, env, log, progress)
            log.write(
                f"starting: {spec.start_command}"
                if count == 1
                else f"starting {count} replicas: {spec.start_command}"
            )
            for replica in release.replicas:
                replica.spawn()
            log.write(readiness.waiting("" if count == 1 else f" from {count} replicas"))
            workload, waited = self._wait_healthy(release, release.replicas, progress)
        except _NeverHealthy as failed:
            log.write(f"{'healthcheck' if readiness.strict else 'readiness'}: failed: {failed.reason}")
            self._discard(release)
            raise HealthCheckFailed(failed.reason) from None
        except _Stopping:
            self._discard(release)
            raise TransientError("the local runtime shut down during activation") from None
        except BaseException:
            # DeploymentCancelled from progress() and anything unexpected: the new release dies,
            # the previous one keeps serving.
            self._discard(release)
            raise
        if workload is not Workload.JOB:
            log.write(readiness.passed(workload, waited))
        self._switch(release, promotion, workload)

    def _switch(self, release: _Release, promotion: Promotion | None, workload: Workload) -> None:
        """The commit point, then the route: the release goes live only if its promotion commits
        (docs/decisions/0010); if it does not, the new release is discarded and the previous one,
        never touched, keeps serving."""
        spec = release.spec
        try:
            with self._lock:
                if self._closed:  # not worth committing a release that can no longer serve
                    raise TransientError("the local runtime shut down during activation")
            if promotion is not None:
                promotion.commit(workload)
        except BaseException as refused:
            release.log.write(f"release {spec.release_id} not switched: {refused}")
            self._discard(release)
            raise
        with self._lock:
            if self._closed:
                previous, job = None, None
            else:
                previous = self._active.get(spec.service_id)
                job = self._cron.pop(spec.service_id, None)
                self._active[spec.service_id] = release
                if previous is not None:
                    # Set before the route moves so the old monitors never mistake the teardown for a crash.
                    previous.stopping.set()
                    previous.serving = False
                    if previous.spec.hostname != spec.hostname:
                        self._routes.remove(previous.spec.hostname)
                release.serving, release.workload = True, workload
                now = time.monotonic()
                for replica in release.replicas:
                    if replica.completed:  # ran to completion during the wait: nothing to route
                        replica.gave_up = True
                    else:
                        replica.up, replica.healthy_since = True, now
                if workload.serves_http:
                    self._publish(release)
                else:
                    self._routes.withhold(spec.hostname, _no_http(spec.hostname, workload))
                self._routes.set_aliases(spec.hostname, spec.domains)  # its verified custom domains
        if not release.serving:
            self._discard(release)
            raise TransientError("the local runtime shut down during activation")
        count = len(release.replicas)
        balanced = "" if count == 1 else f" ({count} replicas, round robin)"
        if workload.serves_http:
            release.log.write(f"traffic for {spec.hostname} now goes to release {spec.release_id}{balanced}")
        else:
            release.log.write(f"release {spec.release_id} is live; {_no_http(spec.hostname, workload)}")
        for replica in release.replicas:
            if not replica.gave_up:
                name = f"railyard-monitor:{spec.release_id}:{replica.number}"
                self._spawn_thread(self._supervise, replica, name=name)
        if job is not None:
            release.log.write(f"cron: schedule {job.expression} of release {job.spec.release_id} removed")
            self._wakeup.set()
        if previous is not None:
            self._retire_in_background(previous, release.spec.settings, release.log, spec.release_id)
        if workload is Workload.JOB:
            self._completed_at_start(release, promotion)

    def _completed_at_start(self, release: _Release, promotion: Promotion | None) -> None:
        """Every replica ran to completion before the release went live: the commit recorded it
        COMPLETED; a release brought back without a commit (a platform restart) is reported."""
        self._forget(release)  # no process left
        tails = [line for replica in release.replicas for line in replica.output_tail(5)]
        reason = _with_tail("the process exited with code 0: it ran to completion (a job)", tails)
        release.log.write(f"completed: {reason}")
        release.log.flush()
        if promotion is None:
            self._report_end(release, reason, completed=True)

    def _activate_cron(
        self,
        spec: ReleaseSpec,
        app_dir: Path,
        env: dict[str, str],
        log: _SharedLog,
        progress: Progress,
        promotion: Promotion | None,
    ) -> None:
        settings = spec.settings
        if settings.pre_deploy_command:
            self._pre_deploy(spec, app_dir, env, log, progress)
        expression = settings.cron_schedule or ""
        job = _CronJob(spec, app_dir, env, log, next_run(expression, self._clock()), self._sandbox(spec))
        if promotion is not None:
            promotion.commit()  # the commit point: the schedule takes over only once it is recorded
        with self._lock:
            if self._closed:
                raise TransientError("the local runtime is shut down")
            previous = self._active.pop(spec.service_id, None)
            replaced = self._cron.get(spec.service_id)
            self._cron[spec.service_id] = job
            running = self._cron_running.get(spec.service_id)
            if previous is not None:
                previous.stopping.set()
                previous.serving = False
                self._routes.remove(previous.spec.hostname)
            if self._scheduler is None:
                self._scheduler = threading.Thread(target=self._schedule, name="railyard-cron", daemon=True)
                self._scheduler.start()
        self._wakeup.set()  # the new schedule may be due before whatever the scheduler sleeps for
        log.write(f"cron: {expression} (UTC), next run at {_utc(job.next_at)}")
        log.write("cron: no health check and no route; the start command runs on the schedule and must exit")
        if replaced is not None:
            log.write(f"cron: replaces the schedule of release {replaced.spec.release_id}")
        if running is not None and running.proc.poll() is None:
            log.write(
                f"cron: the run of release {running.job.spec.release_id} in progress "
                f"(pid {running.proc.pid}) finishes on its own; the next run waits for it"
            )
        if previous is not None:
            log.write(f"route for {spec.hostname} removed: a cron service serves no traffic")
            self._retire_in_background(previous, settings, log, spec.release_id)

    def _retire_in_background(
        self, previous: _Release, settings: ServiceSettings, log: _SharedLog, replaced_by: str
    ) -> None:
        log.write(
            f"previous release {previous.spec.release_id}: overlap {settings.overlap_seconds:g}s "
            "(it keeps running so requests in flight finish), then SIGTERM"
        )
        name = f"railyard-retire:{previous.spec.release_id}"
        self._spawn_thread(self._retire, previous, settings, log, replaced_by, name=name)

    def _retire(
        self, previous: _Release, settings: ServiceSettings, log: _SharedLog, replaced_by: str
    ) -> None:
        old = previous.spec.release_id
        # In-flight requests hold their own upstream connections; they finish during the overlap.
        if self._closing.wait(settings.overlap_seconds):
            return  # close() stops everything itself
        seconds = settings.draining_seconds
        log.write(f"previous release {old}: SIGTERM; draining up to {seconds:g}s")
        started = time.monotonic()
        if _stop_groups(previous.processes(), seconds):
            log.write(f"previous release {old}: SIGKILL after {seconds:g}s (it did not exit on SIGTERM)")
        else:
            log.write(f"previous release {old} exited {time.monotonic() - started:.2f}s after SIGTERM")
        self._forget(previous)
        previous.log.write(f"release {old} stopped: replaced by release {replaced_by}")

    def _wait_healthy(
        self, release: _Release, replicas: list[_Replica], progress: Progress
    ) -> tuple[Workload, float]:
        """Poll until every replica is live by the release's readiness rule, restarting exited
        processes per policy. Returns what the replicas turned out to be, and the seconds it took.
        A replica whose process exits 0 and is not restarted, without a health-check path, ran to
        completion (`completed`); with one, that is a failed health check as before."""
        rule = release.readiness
        started = last_progress = time.monotonic()
        deadline = started + rule.healthcheck_timeout  # the strict rule's; the settle time ends the other
        exits = dict.fromkeys(replicas, 0)
        spawned = dict.fromkeys(replicas, started)
        outcomes: dict[_Replica, Workload] = {}
        pending = list(replicas)
        while pending:
            for replica in list(pending):
                if release.stopping.is_set():
                    raise _Stopping
                now = time.monotonic()
                if now - last_progress >= PROGRESS_INTERVAL_SECONDS:
                    progress()
                    last_progress = now
                proc = replica.proc
                assert proc is not None
                code = proc.poll()
                if code is not None:
                    exits[replica] += 1
                    if self._may_restart(replica, code):
                        self._note_restart(replica, code)
                        replica.spawn()
                        spawned[replica] = time.monotonic()
                        continue
                    if code == 0 and not rule.strict:
                        replica.completed = True
                        release.log.write(
                            f"{replica.prefix}the process {_describe_exit(code)} after "
                            f"{now - spawned[replica]:.2f}s: it ran to completion"
                        )
                        outcomes[replica] = Workload.JOB
                        pending.remove(replica)
                        continue
                    times = "once" if exits[replica] == 1 else f"{exits[replica]} times"
                    raise _NeverHealthy(
                        _with_tail(
                            f"{replica.prefix}the process {_describe_exit(code)} ({times})",
                            replica.output_tail(),
                        )
                    )
                if rule.strict and now >= deadline:
                    tail = replica.output_tail()
                    raise _NeverHealthy(_with_tail(f"{replica.prefix}{rule.timed_out()}", tail))
                timeout = min(HEALTHCHECK_REQUEST_TIMEOUT_SECONDS, max(0.05, deadline - now))
                outcome = rule.probe(replica.host, replica.port, now - spawned[replica], timeout)
                if outcome is not None:
                    outcomes[replica] = outcome
                    pending.remove(replica)
            if pending:
                time.sleep(HEALTHCHECK_INTERVAL_SECONDS)
        return of_replicas(outcomes.values()), time.monotonic() - started

    # supervision after activation

    def _supervise(self, replica: _Replica) -> None:
        release = replica.release
        while True:
            proc = replica.current_proc()
            assert proc is not None
            code = proc.wait()
            if release.stopping.is_set():
                return
            # Whatever else the dead leader left in its group goes too.
            _signal_group(proc, signal.SIGKILL)
            with self._lock:
                replica.up = False
                self._publish(release)  # the router stops choosing it now, not after the restart
            healthy_since = replica.healthy_since
            if healthy_since is not None and time.monotonic() - healthy_since >= RESTART_BUDGET_RESET_SECONDS:
                replica.restarts = 0
            if not self._may_restart(replica, code):
                replica.completed = code == 0  # a clean exit is the end of a job, not a crash
                self._gave_up(replica, _crash_reason(replica, code))
                return
            self._note_restart(replica, code)
            try:
                replica.spawn()
                workload, waited = self._wait_healthy(release, [replica], _no_progress)
            except _Stopping:
                return
            except _NeverHealthy as failed:
                self._gave_up(replica, failed.reason)
                return
            if workload is Workload.JOB:  # the restarted process ran to completion
                self._gave_up(replica, f"{replica.prefix}the process exited with code 0 after a restart")
                return
            with self._lock:
                if release.stopping.is_set():
                    return
                replica.healthy_since = time.monotonic()
                replica.up = True
                self._publish(release)
            restored = "traffic restored" if release.workload.serves_http else "running again"
            release.log.write(f"{replica.prefix}{release.readiness.passed(workload, waited)}; {restored}")

    def _may_restart(self, replica: _Replica, code: int) -> bool:
        settings = replica.release.spec.settings
        policy = settings.restart_policy_type
        wanted = policy == "ALWAYS" or (policy == "ON_FAILURE" and code != 0)
        return wanted and replica.restarts < settings.restart_policy_max_retries

    def _note_restart(self, replica: _Replica, code: int) -> None:
        replica.restarts += 1
        limit = replica.release.spec.settings.restart_policy_max_retries
        replica.release.log.write(
            f"{replica.prefix}process {_describe_exit(code)}; restarting (attempt {replica.restarts}/{limit})"
        )

    def _gave_up(self, replica: _Replica, reason: str) -> None:
        """The replica exhausted its restarts, or ran to completion (`completed`): it stays down.
        When none is left the release ended: COMPLETED if every replica ran to completion, else
        CRASHED."""
        release = replica.release
        spec = release.spec
        with self._lock:
            if replica.gave_up or release.stopping.is_set():
                return
            replica.gave_up = True
            replica.up = False
            self._publish(release)
            left = sum(not r.gave_up for r in release.replicas)
            crashed = left == 0 and not release.crash_reported
            if crashed:
                release.crash_reported = True
                release.stopping.set()
                release.serving = False
                if self._active.get(spec.service_id) is release and release.workload.serves_http:
                    self._routes.mark_unavailable(spec.hostname)
        proc = replica.current_proc()
        if proc is not None:
            _stop_groups([proc], 0)  # a restart that never got healthy may still be running
        count = len(release.replicas)
        completed = all(r.completed for r in release.replicas)
        if count > 1:
            ended = "finished" if replica.completed else "crashed"
            release.log.write(f"replica {replica.number}/{count} {ended}: {reason}")
        if not crashed:
            release.log.write(
                f"{left} of {count} replicas of release {spec.release_id} still running; "
                f"replica {replica.number}/{count} stays down until the next deploy"
            )
            return
        self._forget(release)
        if completed:
            if count > 1:
                reason = f"all {count} replicas ran to completion; the last: {reason}"
            release.log.write(f"completed: {reason}")
        else:
            if count > 1:
                reason = f"all {count} replicas crashed; the last: {reason}"
            every = f"all {count} replicas exhausted their restarts"
            release.log.write(f"crashed: {reason}" if count == 1 else f"crashed: {every}")
        if release.workload.serves_http:
            release.log.write(f"route for {spec.hostname} removed; requests get 503 until the next deploy")
        release.log.flush()
        self._report_end(release, reason, completed)

    def _report_end(self, release: _Release, reason: str, completed: bool) -> None:
        """Tells the domain the live release stopped for good (CRASHED, or COMPLETED)."""
        deployment_id = release.spec.deployment_id
        try:
            if completed:
                self.on_crash(deployment_id, reason, completed=True)
            else:
                self.on_crash(deployment_id, reason)
        except Exception:
            logger.exception("on_crash failed for deployment %s", deployment_id)

    def _publish(self, release: _Release) -> None:
        """Point the route at the replicas that are up. Call with self._lock held."""
        live = release.serving and self._active.get(release.spec.service_id) is release
        if live and release.workload.serves_http:
            self._routes.set(release.spec.hostname, [(r.host, r.port) for r in release.replicas if r.up])

    # the cron scheduler

    def _schedule(self) -> None:
        while not self._closing.is_set():
            self._wakeup.clear()  # before reading the clock: a wake-up from now on is not lost
            now = self._clock()
            with self._lock:
                due = [(job, job.next_at) for job in self._cron.values() if job.next_at <= now]
                for job, _ in due:
                    # From now, not from the missed time: after a long sleep (suspended laptop) a job
                    # runs once, not once per missed slot.
                    job.next_at = next_run(job.expression, now)
                upcoming = min((job.next_at for job in self._cron.values()), default=None)
            for job, due_at in due:
                self._start_run(job, f"due at {_utc(due_at)}")
                job.log.write(f"cron: next run at {_utc(job.next_at)}")
            if upcoming is None:
                self._wakeup.wait()  # nothing scheduled: a new schedule or close() wakes us
            else:
                seconds = (upcoming - now).total_seconds()
                self._wakeup.wait(min(SCHEDULER_MAX_SLEEP_SECONDS, max(0.0, seconds)))

    def _start_run(self, job: _CronJob, why: str) -> bool:
        service_id = job.spec.service_id
        with self._lock:
            if self._closed or self._cron.get(service_id) is not job:
                return False  # replaced or stopped since it fell due
            running = self._cron_running.get(service_id)
            if running is None or running.proc.poll() is not None:
                # Started under the lock so close() either sees the run or refuses to start it.
                try:
                    with job.sandbox.tenancy.launch(job.sandbox.identity) as launch:
                        proc = _start_group(job.spec.start_command, job.app_dir, job.env, launch)
                except (OSError, RuntimeError) as exc:
                    job.log.write(f"cron: run ({why}) could not start: {exc}")
                    return False
                run = _CronRun(job, proc, self._clock())
                self._cron_running[service_id] = run
                running = None
        if running is not None:
            job.log.write(
                f"cron: run ({why}) skipped: the previous run (pid {running.proc.pid}, started "
                f"{_utc(running.started_at)}) is still running"
            )
            return False
        job.log.write(f"cron: run started ({why}; pid {run.proc.pid}): $ {job.spec.start_command}")
        name = f"railyard-cron-run:{run.proc.pid}"
        self._spawn_thread(self._watch_run, run, name=name)
        return True

    def _watch_run(self, run: _CronRun) -> None:
        job = run.job
        reader = threading.Thread(
            target=_copy_output, args=(run.proc, job.log, None), name=f"railyard-cron-output:{run.proc.pid}"
        )
        reader.daemon = True
        reader.start()
        code = run.proc.wait()
        # A run ends when its command exits; helpers it left in the background would otherwise
        # outlive it and hold its output open.
        _signal_group(run.proc, signal.SIGKILL)
        reader.join(timeout=1.0)
        with self._lock:
            if self._cron_running.get(job.spec.service_id) is run:
                del self._cron_running[job.spec.service_id]
        seconds = time.monotonic() - run.started
        job.log.write(f"cron: run (pid {run.proc.pid}) {_describe_exit(code)} after {seconds:.2f}s")
        job.log.flush()

    # helpers

    def forget_release(self, release_id: str) -> None:
        """The Runtime port's: removes the unpacked directory of a release retention pruned. A
        release that may still have a process here (draining, or a cron schedule or run) keeps it
        until its processes are stopped (`_forget`)."""
        release_dir = self._release_dir(release_id)
        with self._lock:
            if release_id in self._release_ids_in_use():
                self._forget_once_stopped.add(release_id)
                return
            self._trash(release_dir)
        self._empty_trash()

    def _release_ids_in_use(self) -> set[str]:
        """Releases that may still have a process here. Call with self._lock held."""
        jobs = [*self._cron.values(), *(run.job for run in self._cron_running.values())]
        return {r.spec.release_id for r in self._releases} | {job.spec.release_id for job in jobs}

    def _trash(self, release_dir: Path) -> None:
        """Renames a release directory away (call with self._lock held): nothing ever sees half of
        it; `_empty_trash` deletes it later, outside the lock."""
        trash = release_dir.parent / f"{_TRASH_PREFIX}{release_dir.name}-{os.urandom(6).hex()}"
        with contextlib.suppress(FileNotFoundError):
            os.rename(release_dir, trash)

    def _empty_trash(self) -> None:
        """Deletes renamed-away release directories, also those a crash left half-deleted."""
        for trash in self._tenancy.releases.glob(f"{_TRASH_PREFIX}*"):
            shutil.rmtree(trash, ignore_errors=True)

    def _release_dir(self, release_id: str) -> Path:
        if not _RELEASE_ID.match(release_id):
            raise BadRequest(f"release id {release_id!r} cannot name a directory")
        return self._tenancy.releases / release_id

    def _ensure_app_dir(self, spec: ReleaseSpec, log: _SharedLog) -> Path:
        """Unpack the artifact once per release; a second activation reuses it."""
        release_dir = self._release_dir(spec.release_id)
        app_dir = release_dir / "app"
        sandbox = self._sandbox(spec)
        release_dir.mkdir(parents=True, exist_ok=True)
        # The platform's (the service lists it, never replaces `app`); `app` is the service's.
        # Also on reuse: a tenant root kept from an earlier version has the old modes.
        self._tenancy.private_dir(release_dir, sandbox.identity)
        if app_dir.is_dir():
            log.write(f"reusing unpacked release {spec.release_id}")
            sandbox.take(app_dir)
            return app_dir
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=release_dir))
        try:
            log.write(f"downloading artifact {spec.artifact_key}")
            archive = staging / "artifact.tar.gz"
            self.blobs.download_file(self.artifact_bucket, spec.artifact_key, str(archive))
            unpacked = staging / "app"
            unpacked.mkdir()
            try:
                with tarfile.open(archive, "r:*") as tar:
                    tar.extractall(unpacked, filter="data")  # refuses absolute paths, escapes, devices
            except (tarfile.TarError, OSError) as exc:
                raise BadRequest(f"artifact {spec.artifact_key} cannot be unpacked: {exc}") from None
            # Its virtualenv names the build's directory; fixed while the tree is still the platform's.
            venvs.relocate(str(unpacked), str(app_dir))
            sandbox.take(unpacked)
            try:
                os.rename(unpacked, app_dir)  # atomic: nobody ever sees a half-unpacked app
            except OSError:
                if not app_dir.is_dir():  # else a concurrent activation unpacked it first
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return app_dir

    def _pre_deploy(
        self, spec: ReleaseSpec, app_dir: Path, env: dict[str, str], log: _SharedLog, progress: Progress
    ) -> None:
        """Runs the release's pre-deploy command (e.g. migrations) once, in the release's directory
        and environment, before any process of it starts; a failure fails the deployment and the
        previous release keeps serving. Bounded by the health-check timeout."""
        command = spec.settings.pre_deploy_command or ""
        timeout = spec.settings.healthcheck_timeout
        log.write(f"pre-deploy: $ {command}")
        sandbox = self._sandbox(spec)
        with sandbox.tenancy.launch(sandbox.identity) as launch:
            proc = _start_group(command, app_dir, env, launch)
        reader = threading.Thread(target=_copy_output, args=(proc, log, None), daemon=True)
        reader.start()
        deadline = time.monotonic() + timeout
        try:
            while proc.poll() is None:
                if self._closing.is_set():
                    raise _Stopping
                if time.monotonic() > deadline:
                    raise PreDeployFailed(f"pre-deploy command `{command}` timed out after {timeout:g}s")
                progress()
                time.sleep(0.05)
        finally:
            # Always: children the command put in the background must not outlive it.
            _signal_group(proc, signal.SIGKILL)
            proc.wait()
            reader.join(timeout=1.0)
        if proc.returncode != 0:
            raise PreDeployFailed(f"pre-deploy command `{command}` exited with code {proc.returncode}")
        log.write("pre-deploy: done")

    def _environment(self, spec: ReleaseSpec, app_dir: Path) -> dict[str, str]:
        # An allow-list, never the platform's own environment (its endpoints and credentials).
        base = self._tenancy.user_env(self._sandbox(spec).identity)
        runtime_env = _read_runtime_env(app_dir, path=base["PATH"])
        # PORT and the replica ids are added per process by spawn(), last, so PORT always names the
        # port we probe and route.
        return {**base, **runtime_env, **spec.variables}

    def _sandbox(self, spec: ReleaseSpec) -> _Sandbox:
        return _Sandbox(self._tenancy, self._tenancy.identity(spec.service_id))

    def _service_lock(self, service_id: str) -> threading.Lock:
        with self._lock:
            return self._service_locks.setdefault(service_id, threading.Lock())

    def _track(self, release: _Release) -> None:
        with self._lock:
            if self._closed:
                raise TransientError("the local runtime is shut down")
            self._releases.add(release)

    def _forget(self, release: _Release) -> None:
        """The release has no process left; if retention pruned it meanwhile, its directory goes."""
        release_id = release.spec.release_id
        with self._lock:
            self._releases.discard(release)
            pruned = release_id in self._forget_once_stopped and release_id not in self._release_ids_in_use()
            if pruned:
                self._forget_once_stopped.discard(release_id)
                self._trash(self._release_dir(release_id))
        if pruned:
            self._empty_trash()

    def _discard(self, release: _Release) -> None:
        release.stopping.set()
        _stop_groups(release.processes(), min(DISCARD_GRACE_SECONDS, release.spec.settings.draining_seconds))
        self._forget(release)

    def _spawn_thread(self, target: Callable[..., None], *args: Any, name: str) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()


class _Sandbox:
    """One service's identity on this runtime's tenancy (chalicelib/adapters/tenancy.py)."""

    def __init__(self, owner: tenancy.Tenancy, identity: tenancy.Identity) -> None:
        self.tenancy = owner
        self.identity = identity

    def claim_port(self, port: int) -> None:
        self.tenancy.claim_port(self.identity, port)

    def take(self, app_dir: Path) -> None:
        """The unpacked app becomes the service's (the platform unpacked it as itself)."""
        uid = self.identity.uid
        if uid is not None and app_dir.stat().st_uid != uid:
            self.tenancy.hand_over(app_dir, self.identity)


def _start_group(command: str, cwd: Path, env: dict[str, str], launch: Launch) -> subprocess.Popen[bytes]:
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


def _copy_output(proc: subprocess.Popen[bytes], log: _SharedLog, keep: Callable[[str], None] | None) -> None:
    """Copy the process's output into the log line by line until every writer of the pipe is gone."""
    stream = proc.stdout
    assert stream is not None
    with stream:
        for raw in iter(lambda: stream.readline(_LINE_LIMIT), b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if keep is not None:
                keep(line)
            log.write(line)
    proc.wait()
    log.flush()


def _read_runtime_env(app_dir: Path, path: str) -> dict[str, str]:
    text = _read_no_follow(app_dir, _RUNTIME_JSON)
    if text is None:
        return {}
    try:
        env = json.loads(text).get("env", {})
    except (ValueError, AttributeError) as exc:
        raise BadRequest(f"artifact {_RUNTIME_JSON} is malformed: {exc}") from None
    well_formed = isinstance(env, dict) and all(isinstance(v, str) for v in env.values())
    if not well_formed:
        raise BadRequest(f'artifact {_RUNTIME_JSON} must be {{"env": {{"NAME": "value"}}}}')
    return {name: value.replace("{app}", str(app_dir)).replace("{PATH}", path) for name, value in env.items()}


def _read_no_follow(root: Path, relative: Path) -> str | None:
    """A regular file below `root` without following a symlink on the way: the app (its own
    uid) may have replaced any of it, and the platform must not read another file for it."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in relative.parts[:-1]:
            try:
                inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except OSError:
                return None
            os.close(fd)
            fd = inner
        try:
            file_fd = os.open(relative.parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
        except OSError:
            return None
        with open(file_fd, encoding="utf-8") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                return None
            return file.read(_LINE_LIMIT * 16)
    finally:
        os.close(fd)


def _free_port() -> int:
    # Bind-then-release has a tiny race with other processes; a lost race shows up as a failed
    # health check followed by a restart on a new port, which the policy already handles.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _no_http(hostname: str, workload: Workload) -> str:
    """What the router answers for the host of a worker or a job (and the log line saying so)."""
    what = "a worker (it opened no port)" if workload is Workload.WORKER else "a job (it ran to completion)"
    return f"service {hostname!r} is {what}: it serves no HTTP and has no URL"


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    # The group id is the leader's pid (start_new_session); the kernel does not reuse a pid while a
    # group of that id still has members, so this never hits an unrelated process group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _stop_groups(procs: list[subprocess.Popen[bytes]], grace: float) -> int:
    """SIGTERM every group, give them one shared `grace`, then SIGKILL the groups (also stragglers
    whose leader is gone). Returns how many leaders were still running when the grace ran out."""
    for proc in procs:
        _signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    late = sum(proc.poll() is None for proc in procs)
    for proc in procs:
        _signal_group(proc, signal.SIGKILL)
        proc.wait()
        process_groups.untrack(proc)
    return late


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _describe_exit(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
        return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _crash_reason(replica: _Replica, code: int) -> str:
    settings = replica.release.spec.settings
    if settings.restart_policy_type == "NEVER":
        why = "restart policy NEVER"
    elif settings.restart_policy_type == "ON_FAILURE" and code == 0:
        why = "restart policy ON_FAILURE does not restart a clean exit"
    else:
        why = f"restarts exhausted ({replica.restarts}/{settings.restart_policy_max_retries})"
    return _with_tail(f"the process {_describe_exit(code)}; {why}", replica.output_tail(5))


def _with_tail(reason: str, tail: list[str]) -> str:
    if not tail:
        return reason
    lines = "\n".join(f"  {line[:300]}" for line in tail)
    return f"{reason}; last output:\n{lines}"
