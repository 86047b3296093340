"""The local runtime's supervision of replicas: waiting until every replica of a release is ready
by its readiness rule (runtime/readiness.py), and, after activation, the restart policies.

A replica whose process exits leaves the route at once and comes back when its new process passes
the health check, while the others keep serving. Crash reporting (decision): a replica that
exhausts its restarts stays down until the next deploy and says so in the log; the domain is told
(`on_crash`, once per release) only when every replica of the live release has exhausted its
restarts, because CRASHED means "this release no longer serves" and a release with one replica
left still does. Each replica gets one monitor thread after activation.
"""

from __future__ import annotations

import signal
import time

from chalicelib.adapters.runtime.local_core import PROGRESS_INTERVAL_SECONDS, RuntimeCore
from chalicelib.adapters.runtime.local_processes import describe_exit, signal_group, stop_groups
from chalicelib.adapters.runtime.local_releases import (
    NeverHealthy,
    Release,
    Replica,
    Stopping,
    crash_reason,
    with_tail,
)
from chalicelib.domain.ports import Progress
from chalicelib.domain.workloads import RESTART_BUDGET_RESET_SECONDS, Workload, of_replicas

HEALTHCHECK_INTERVAL_SECONDS = 0.01  # short: each poll interval is added to every deploy
HEALTHCHECK_REQUEST_TIMEOUT_SECONDS = 1.0


def _no_progress() -> None:
    return None


class Supervision(RuntimeCore):
    """Readiness before the switch and restarts after it. See the module docstring."""

    def _wait_healthy(
        self, release: Release, replicas: list[Replica], progress: Progress
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
        outcomes: dict[Replica, Workload] = {}
        pending = list(replicas)
        while pending:
            for replica in list(pending):
                if release.stopping.is_set():
                    raise Stopping
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
                            f"{replica.prefix}the process {describe_exit(code)} after "
                            f"{now - spawned[replica]:.2f}s: it ran to completion"
                        )
                        outcomes[replica] = Workload.JOB
                        pending.remove(replica)
                        continue
                    times = "once" if exits[replica] == 1 else f"{exits[replica]} times"
                    raise NeverHealthy(
                        with_tail(
                            f"{replica.prefix}the process {describe_exit(code)} ({times})",
                            replica.output_tail(),
                        )
                    )
                if rule.strict and now >= deadline:
                    tail = replica.output_tail()
                    raise NeverHealthy(with_tail(f"{replica.prefix}{rule.timed_out()}", tail))
                timeout = min(HEALTHCHECK_REQUEST_TIMEOUT_SECONDS, max(0.05, deadline - now))
                outcome = rule.probe(replica.host, replica.port, now - spawned[replica], timeout)
                if outcome is not None:
                    outcomes[replica] = outcome
                    pending.remove(replica)
            if pending:
                time.sleep(HEALTHCHECK_INTERVAL_SECONDS)
        return of_replicas(outcomes.values()), time.monotonic() - started

    def _supervise(self, replica: Replica) -> None:
        release = replica.release
        while True:
            proc = replica.current_proc()
            assert proc is not None
            code = proc.wait()
            if release.stopping.is_set():
                return
            # Whatever else the dead leader left in its group goes too.
            signal_group(proc, signal.SIGKILL)
            with self._lock:
                replica.up = False
                self._publish(release)  # the router stops choosing it now, not after the restart
            healthy_since = replica.healthy_since
            if healthy_since is not None and time.monotonic() - healthy_since >= RESTART_BUDGET_RESET_SECONDS:
                replica.restarts = 0
            if not self._may_restart(replica, code):
                replica.completed = code == 0  # a clean exit is the end of a job, not a crash
                self._gave_up(replica, crash_reason(replica, code))
                return
            self._note_restart(replica, code)
            try:
                replica.spawn()
                workload, waited = self._wait_healthy(release, [replica], _no_progress)
            except Stopping:
                return
            except NeverHealthy as failed:
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

    def _may_restart(self, replica: Replica, code: int) -> bool:
        settings = replica.release.spec.settings
        policy = settings.restart_policy_type
        wanted = policy == "ALWAYS" or (policy == "ON_FAILURE" and code != 0)
        return wanted and replica.restarts < settings.restart_policy_max_retries

    def _note_restart(self, replica: Replica, code: int) -> None:
        replica.restarts += 1
        limit = replica.release.spec.settings.restart_policy_max_retries
        replica.release.log.write(
            f"{replica.prefix}process {describe_exit(code)}; restarting (attempt {replica.restarts}/{limit})"
        )

    def _gave_up(self, replica: Replica, reason: str) -> None:
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
            stop_groups([proc], 0)  # a restart that never got healthy may still be running
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
