"""LocalRuntime: the `Runtime` port on one machine — supervised processes behind one HTTP router.

Owns, for the embedded default platform, the port's entry points and the activation of a release:
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
- stopping everything it started on `close()` (each app gets its drainingSeconds, at most
  CLOSE_GRACE_SECONDS, all in parallel).

Its parts, one responsibility each:
- local_core.py: the shared state; tracking, retiring and discarding releases; pre-deploy commands;
- local_supervision.py: waiting for readiness, restart policies and crash reporting;
- local_cron.py: cron services (Railway's deploy.cronSchedule) and their scheduler;
- local_releases.py: a release, its replicas, a cron job and run, a service's sandbox;
- local_release_dirs.py: unpacking artifacts into release directories, and the artifact contract;
- local_processes.py: process groups, their output, stopping them.

Threads: `activate` runs in the caller's thread (it calls `progress()` so cancellation and heartbeats
work); each replica gets an output reader per process and one monitor after activation; the teardown
of a previous release runs in its own thread so `activate` returns as soon as the new release serves;
each cron run has one watcher thread.
"""

from __future__ import annotations

import threading
import time

from chalicelib.adapters.runtime.local_core import PROGRESS_INTERVAL_SECONDS
from chalicelib.adapters.runtime.local_cron import CronScheduling
from chalicelib.adapters.runtime.local_processes import SharedLog, stop_groups
from chalicelib.adapters.runtime.local_releases import NeverHealthy, Release, Stopping, no_http, with_tail
from chalicelib.adapters.runtime.local_supervision import Supervision
from chalicelib.adapters.runtime.readiness import ReadinessRule
from chalicelib.domain.errors import HealthCheckFailed, TransientError
from chalicelib.domain.ports import LogSink, Progress, Promotion, ReleaseSpec
from chalicelib.domain.workloads import Workload

# close() gives every app its drainingSeconds, but no more than this: stopping the platform (Ctrl-C)
# must not wait an hour for an app that asked for it.
CLOSE_GRACE_SECONDS = 5.0


class LocalRuntime(CronScheduling, Supervision):
    """Runs releases as local processes behind one router. See the module docstring."""

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
        stop_groups(procs, min(CLOSE_GRACE_SECONDS, max(drainings, default=0.0)))
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
            if stop_groups([run.proc], seconds):
                run.job.log.write(f"cron: SIGKILL after {seconds:g}s (the run was still running)")
        if release is None:
            return
        seconds = release.spec.settings.draining_seconds
        release.log.write(
            f"stopping release {release.spec.release_id}; route removed; SIGTERM; draining up to {seconds:g}s"
        )
        if stop_groups(release.processes(), seconds):
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
            self._activate(spec, SharedLog(log), progress, promotion)
        finally:
            lock.release()

    # activation

    def _activate(
        self, spec: ReleaseSpec, log: SharedLog, progress: Progress, promotion: Promotion | None
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

        app_dir = self._release_dirs.unpack(spec, log)
        progress()
        env = self._environment(spec, app_dir)
        if spec.settings.cron_schedule:
            self._activate_cron(spec, app_dir, env, log, progress, promotion)
            return
        settings = spec.settings
        readiness = ReadinessRule(
            settings.healthcheck_path, settings.healthcheck_timeout, self.worker_settle_seconds
        )
        release = Release(spec, app_dir, env, log, self._sandbox(spec), readiness)
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
        except NeverHealthy as failed:
            log.write(f"{'healthcheck' if readiness.strict else 'readiness'}: failed: {failed.reason}")
            self._discard(release)
            raise HealthCheckFailed(failed.reason) from None
        except Stopping:
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

    def _switch(self, release: Release, promotion: Promotion | None, workload: Workload) -> None:
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
                    self._routes.withhold(spec.hostname, no_http(spec.hostname, workload))
                self._routes.set_aliases(spec.hostname, spec.domains)  # its verified custom domains
        if not release.serving:
            self._discard(release)
            raise TransientError("the local runtime shut down during activation")
        count = len(release.replicas)
        balanced = "" if count == 1 else f" ({count} replicas, round robin)"
        if workload.serves_http:
            release.log.write(f"traffic for {spec.hostname} now goes to release {spec.release_id}{balanced}")
        else:
            release.log.write(f"release {spec.release_id} is live; {no_http(spec.hostname, workload)}")
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

    def _completed_at_start(self, release: Release, promotion: Promotion | None) -> None:
        """Every replica ran to completion before the release went live: the commit recorded it
        COMPLETED; a release brought back without a commit (a platform restart) is reported."""
        self._forget(release)  # no process left
        tails = [line for replica in release.replicas for line in replica.output_tail(5)]
        reason = with_tail("the process exited with code 0: it ran to completion (a job)", tails)
        release.log.write(f"completed: {reason}")
        release.log.flush()
        if promotion is None:
            self._report_end(release, reason, completed=True)
