"""The local runtime's shared state and the bookkeeping every part of it uses: which releases may
still have a process, which one owns each route, each service's lock; tracking, discarding and
retiring releases (the previous release's overlap, then SIGTERM and its draining time, then
SIGKILL); pre-deploy commands; the environment user code gets; telling the domain a live release
ended.

LocalRuntime (local.py) is this plus supervision (local_supervision.py) and cron (local_cron.py).
Threads: the teardown of a previous release runs in its own thread so `activate` returns as soon as
the new release serves.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chalicelib.adapters import tenancy
from chalicelib.adapters.runtime.local_processes import (
    SharedLog,
    copy_output,
    signal_group,
    start_group,
    stop_groups,
)
from chalicelib.adapters.runtime.local_release_dirs import ReleaseDirs, read_runtime_env
from chalicelib.adapters.runtime.local_releases import CronJob, CronRun, Release, Sandbox, Stopping
from chalicelib.adapters.runtime.router import Router
from chalicelib.adapters.runtime.router_table import RouteTable
from chalicelib.domain.errors import PreDeployFailed, TransientError
from chalicelib.domain.ids import Clock, utcnow
from chalicelib.domain.models import ServiceSettings
from chalicelib.domain.ports import BlobStore, CrashListener, Progress, ReleaseSpec
from chalicelib.domain.workloads import DEFAULT_WORKER_SETTLE_SECONDS

logger = logging.getLogger(__name__)

# The same cap as close()'s for a release that never served (failed health check, cancelled
# deploy): the caller's thread waits for it.
DISCARD_GRACE_SECONDS = 5.0
PROGRESS_INTERVAL_SECONDS = 2.0  # the port asks for at least every 5 s


class RuntimeCore:
    """The state LocalRuntime's parts share, and the helpers they all use. See the module docstring."""

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
        self._release_dirs = ReleaseDirs(self._tenancy, blobs, artifact_bucket)
        self._routes = RouteTable()
        self._router = Router(self._routes, router_host, router_port, domain_suffix)
        self._lock = threading.RLock()
        self._closed = False
        self._closing = threading.Event()
        self._active: dict[str, Release] = {}  # service id → release that owns its route
        self._releases: set[Release] = set()  # everything that may still have a process
        self._cron: dict[str, CronJob] = {}  # service id → its schedule
        self._cron_running: dict[str, CronRun] = {}  # service id → its run in progress
        self._scheduler: threading.Thread | None = None
        self._wakeup = threading.Event()
        self._service_locks: dict[str, threading.Lock] = {}
        self._threads: list[threading.Thread] = []
        self._forget_once_stopped: set[str] = set()  # release ids retention pruned while they ran

    def _retire_in_background(
        self, previous: Release, settings: ServiceSettings, log: SharedLog, replaced_by: str
    ) -> None:
        log.write(
            f"previous release {previous.spec.release_id}: overlap {settings.overlap_seconds:g}s "
            "(it keeps running so requests in flight finish), then SIGTERM"
        )
        name = f"railyard-retire:{previous.spec.release_id}"
        self._spawn_thread(self._retire, previous, settings, log, replaced_by, name=name)

    def _retire(self, previous: Release, settings: ServiceSettings, log: SharedLog, replaced_by: str) -> None:
        old = previous.spec.release_id
        # In-flight requests hold their own upstream connections; they finish during the overlap.
        if self._closing.wait(settings.overlap_seconds):
            return  # close() stops everything itself
        seconds = settings.draining_seconds
        log.write(f"previous release {old}: SIGTERM; draining up to {seconds:g}s")
        started = time.monotonic()
        if stop_groups(previous.processes(), seconds):
            log.write(f"previous release {old}: SIGKILL after {seconds:g}s (it did not exit on SIGTERM)")
        else:
            log.write(f"previous release {old} exited {time.monotonic() - started:.2f}s after SIGTERM")
        self._forget(previous)
        previous.log.write(f"release {old} stopped: replaced by release {replaced_by}")

    def _report_end(self, release: Release, reason: str, completed: bool) -> None:
        """Tells the domain the live release stopped for good (CRASHED, or COMPLETED)."""
        deployment_id = release.spec.deployment_id
        try:
            if completed:
                self.on_crash(deployment_id, reason, completed=True)
            else:
                self.on_crash(deployment_id, reason)
        except Exception:
            logger.exception("on_crash failed for deployment %s", deployment_id)

    def _publish(self, release: Release) -> None:
        """Point the route at the replicas that are up. Call with self._lock held."""
        live = release.serving and self._active.get(release.spec.service_id) is release
        if live and release.workload.serves_http:
            self._routes.set(release.spec.hostname, [(r.host, r.port) for r in release.replicas if r.up])

    def forget_release(self, release_id: str) -> None:
        """The Runtime port's: removes the unpacked directory of a release retention pruned. A
        release that may still have a process here (draining, or a cron schedule or run) keeps it
        until its processes are stopped (`_forget`)."""
        release_dir = self._release_dirs.path(release_id)
        with self._lock:
            if release_id in self._release_ids_in_use():
                self._forget_once_stopped.add(release_id)
                return
            self._release_dirs.trash(release_dir)
        self._release_dirs.empty_trash()

    def _release_ids_in_use(self) -> set[str]:
        """Releases that may still have a process here. Call with self._lock held."""
        jobs = [*self._cron.values(), *(run.job for run in self._cron_running.values())]
        return {r.spec.release_id for r in self._releases} | {job.spec.release_id for job in jobs}

    def _pre_deploy(
        self, spec: ReleaseSpec, app_dir: Path, env: dict[str, str], log: SharedLog, progress: Progress
    ) -> None:
        """Runs the release's pre-deploy command (e.g. migrations) once, in the release's directory
        and environment, before any process of it starts; a failure fails the deployment and the
        previous release keeps serving. Bounded by the health-check timeout."""
        command = spec.settings.pre_deploy_command or ""
        timeout = spec.settings.healthcheck_timeout
        log.write(f"pre-deploy: $ {command}")
        sandbox = self._sandbox(spec)
        with sandbox.tenancy.launch(sandbox.identity) as launch:
            proc = start_group(command, app_dir, env, launch)
        reader = threading.Thread(target=copy_output, args=(proc, log, None), daemon=True)
        reader.start()
        deadline = time.monotonic() + timeout
        try:
            while proc.poll() is None:
                if self._closing.is_set():
                    raise Stopping
                if time.monotonic() > deadline:
                    raise PreDeployFailed(f"pre-deploy command `{command}` timed out after {timeout:g}s")
                progress()
                time.sleep(0.05)
        finally:
            # Always: children the command put in the background must not outlive it.
            signal_group(proc, signal.SIGKILL)
            proc.wait()
            reader.join(timeout=1.0)
        if proc.returncode != 0:
            raise PreDeployFailed(f"pre-deploy command `{command}` exited with code {proc.returncode}")
        log.write("pre-deploy: done")

    def _environment(self, spec: ReleaseSpec, app_dir: Path) -> dict[str, str]:
        # An allow-list, never the platform's own environment (its endpoints and credentials).
        base = self._tenancy.user_env(self._sandbox(spec).identity)
        runtime_env = read_runtime_env(app_dir, path=base["PATH"])
        # PORT and the replica ids are added per process by spawn(), last, so PORT always names the
        # port we probe and route.
        return {**base, **runtime_env, **spec.variables}

    def _sandbox(self, spec: ReleaseSpec) -> Sandbox:
        return Sandbox.of(self._tenancy, spec.service_id)

    def _service_lock(self, service_id: str) -> threading.Lock:
        with self._lock:
            return self._service_locks.setdefault(service_id, threading.Lock())

    def _track(self, release: Release) -> None:
        with self._lock:
            if self._closed:
                raise TransientError("the local runtime is shut down")
            self._releases.add(release)

    def _forget(self, release: Release) -> None:
        """The release has no process left; if retention pruned it meanwhile, its directory goes."""
        release_id = release.spec.release_id
        with self._lock:
            self._releases.discard(release)
            pruned = release_id in self._forget_once_stopped and release_id not in self._release_ids_in_use()
            if pruned:
                self._forget_once_stopped.discard(release_id)
                self._release_dirs.trash(self._release_dirs.path(release_id))
        if pruned:
            self._release_dirs.empty_trash()

    def _discard(self, release: Release) -> None:
        release.stopping.set()
        stop_groups(release.processes(), min(DISCARD_GRACE_SECONDS, release.spec.settings.draining_seconds))
        self._forget(release)

    def _spawn_thread(self, target: Callable[..., None], *args: Any, name: str) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()
