"""The local runtime's cron services (Railway's deploy.cronSchedule).

Activation unpacks and runs the pre-deploy command, records the schedule and returns — no process,
no health check, no route (the hostname answers 404). One scheduler thread for all cron services
sleeps on an Event until the earliest next run (times from the injected clock, UTC) and starts the
start command as a run with the release's environment; a run due while the service's previous run
is still running is skipped (logged); runs are never restarted and a failing run is never reported
as a crash (its exit code and duration are logged). A run ends when its command exits: what it
left in the background is killed then. numReplicas, the health check and the restart policy do not
apply (one run at a time). A redeploy replaces the schedule (a run in progress finishes; the next
waits for it), `stop()` removes it and stops the run in progress, `run_now()` is Railway's "Run
now", and `wake_scheduler()` makes the scheduler re-read an injected clock that a test moved. Each
cron run has one watcher thread.
"""

from __future__ import annotations

import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from chalicelib.adapters.runtime.local_core import RuntimeCore
from chalicelib.adapters.runtime.local_processes import (
    SharedLog,
    copy_output,
    describe_exit,
    signal_group,
    start_group,
)
from chalicelib.adapters.runtime.local_releases import CronJob, CronRun
from chalicelib.domain.errors import NotFound, TransientError
from chalicelib.domain.ports import Progress, Promotion, ReleaseSpec
from chalicelib.domain.schedule import next_run

# The scheduler sleeps until the next run, computed on the wall clock, but waits on the monotonic
# clock: waking at least this often notices a wall clock that jumped (suspend, NTP).
SCHEDULER_MAX_SLEEP_SECONDS = 60.0


class CronScheduling(RuntimeCore):
    """Cron services' schedules and runs. See the module docstring."""

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

    def _activate_cron(
        self,
        spec: ReleaseSpec,
        app_dir: Path,
        env: dict[str, str],
        log: SharedLog,
        progress: Progress,
        promotion: Promotion | None,
    ) -> None:
        settings = spec.settings
        if settings.pre_deploy_command:
            self._pre_deploy(spec, app_dir, env, log, progress)
        expression = settings.cron_schedule or ""
        job = CronJob(spec, app_dir, env, log, next_run(expression, self._clock()), self._sandbox(spec))
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

    def _start_run(self, job: CronJob, why: str) -> bool:
        service_id = job.spec.service_id
        with self._lock:
            if self._closed or self._cron.get(service_id) is not job:
                return False  # replaced or stopped since it fell due
            running = self._cron_running.get(service_id)
            if running is None or running.proc.poll() is not None:
                # Started under the lock so close() either sees the run or refuses to start it.
                try:
                    with job.sandbox.tenancy.launch(job.sandbox.identity) as launch:
                        proc = start_group(job.spec.start_command, job.app_dir, job.env, launch)
                except (OSError, RuntimeError) as exc:
                    job.log.write(f"cron: run ({why}) could not start: {exc}")
                    return False
                run = CronRun(job, proc, self._clock())
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

    def _watch_run(self, run: CronRun) -> None:
        job = run.job
        reader = threading.Thread(
            target=copy_output, args=(run.proc, job.log, None), name=f"railyard-cron-output:{run.proc.pid}"
        )
        reader.daemon = True
        reader.start()
        code = run.proc.wait()
        # A run ends when its command exits; helpers it left in the background would otherwise
        # outlive it and hold its output open.
        signal_group(run.proc, signal.SIGKILL)
        reader.join(timeout=1.0)
        with self._lock:
            if self._cron_running.get(job.spec.service_id) is run:
                del self._cron_running[job.spec.service_id]
        seconds = time.monotonic() - run.started
        job.log.write(f"cron: run (pid {run.proc.pid}) {describe_exit(code)} after {seconds:.2f}s")
        job.log.flush()


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
