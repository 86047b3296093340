"""Ending deployments whose workflow ended without recording their end (docs/decisions/0010).

Normally a deployment's own workflow ends it: a worker records SUCCESS, SKIPPED or FAILED, and the
MarkFailed step records a timeout. When no worker runs MarkFailed (the workers are down) the
execution fails with the deployment still QUEUED, BUILDING or DEPLOYING. `DeploymentSweeper.settle`
ends such a deployment FAILED with the reason the workflow would have recorded ("Build step timed
out: no heartbeat for 120 s ..."). It runs from two places: in AWS, a handler of Step Functions'
"Execution Status Change" events (functions/execution_events.py); locally, where the emulator emits
no such events, `sweep()` over every unfinished deployment, which the local platform calls
periodically. Both are idempotent, and neither touches a deployment whose execution still runs.

The same periodic sweep ends live releases that stopped for good on a runtime that finds out by
looking (`LiveReleaseWatch`, Kubernetes; docs/decisions/0030): COMPLETED when every process exited
0, else CRASHED, with the reason as a `completed:`/`crashed:` line in the deploy log, as the local
runtime writes it; then the runtime retires what is left of the release.

In AWS an EventBridge schedule runs `sweep_unreported` (functions/sweep.py): only what no event
reports there, live releases that ended and deployments whose execution never started, a bounded
batch of each per run. Executions that ended are the event handler's; settling them from the
schedule too would only repeat it (a lost event waits in its queue's DLQ, which pages).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.ids import Clock, iso, parse_iso
from chalicelib.domain.limits import StepFailure, StepLimits, failure_reason
from chalicelib.domain.live_end import record_live_end
from chalicelib.domain.models import IN_PROGRESS, Deployment, DeploymentStatus
from chalicelib.domain.ports import (
    WORKFLOW_RUNNING,
    EventPublisher,
    LiveReleaseWatch,
    LogStore,
    ReleaseEnd,
    Repository,
    WorkflowRun,
    WorkflowStarter,
)

_log = logging.getLogger(__name__)
# A deployment is written a moment before its execution starts (DeploymentService); one without an
# execution for this long never got one (the API died in between).
NEVER_STARTED_GRACE = timedelta(minutes=2)
LIVE_ENDS = frozenset({DeploymentStatus.COMPLETED, DeploymentStatus.CRASHED})
# What one scheduled run handles of each kind (live ends, deployments to check): a bounded run that
# fits its Lambda's timeout (a retire is a few cluster calls, a check one DescribeExecution); what
# is left is found again by the next run, a minute later.
SWEEP_BATCH = 50


@dataclass(frozen=True)
class SweepReport:
    """What one scheduled sweep did: the deployments it ended, and how many items it found beyond
    its batch (left for the next run)."""

    ended: tuple[Deployment, ...]
    left: int


class DeploymentSweeper:
    def __init__(
        self,
        repo: Repository,
        workflow: WorkflowStarter,
        logs: LogStore,
        clock: Clock,
        live: LiveReleaseWatch | None = None,
        events: EventPublisher | None = None,  # hears of the live ends this sweep records
    ) -> None:
        self._repo = repo
        self._events = events
        self._workflow = workflow
        self._logs = logs
        self._clock = clock
        self._live = live  # None: the runtime reports ends itself (the local one's CrashListener)

    def sweep(self) -> list[Deployment]:
        """Settles every unfinished deployment, and ends the live releases that stopped for good;
        returns the deployments it ended."""
        ended, _ = self.end_stopped_releases()
        for unfinished in self._repo.list_unfinished_deployments():
            try:
                settled = self.settle(unfinished.id)
            except Exception:  # one deployment's trouble must not stop the sweep of the others
                _log.exception("could not settle deployment %s", unfinished.id)
                continue
            if settled is not None:
                ended.append(settled)
        return ended

    def sweep_unreported(self, batch: int = SWEEP_BATCH) -> SweepReport:
        """The part of the sweep that AWS needs on a schedule, because no event reports it: the
        live releases that stopped for good, and the deployments whose execution never started
        (the API died between writing one and starting its execution). At most `batch` of each,
        oldest deployments first; the rest are counted in `left`."""
        ended, left = self.end_stopped_releases(batch)
        cutoff = self._clock() - NEVER_STARTED_GRACE
        candidates = [
            d
            for d in self._repo.list_unfinished_deployments()
            if (created := parse_iso(d.created_at)) is None or created <= cutoff
        ]
        left += max(0, len(candidates) - batch)
        for unfinished in candidates[:batch]:
            try:
                settled = self.settle(unfinished.id, ended_runs=False)
            except Exception:  # one deployment's trouble must not stop the others
                _log.exception("could not check deployment %s", unfinished.id)
                continue
            if settled is not None:
                ended.append(settled)
        return SweepReport(tuple(ended), left)

    def end_stopped_releases(self, batch: int | None = None) -> tuple[list[Deployment], int]:
        """COMPLETED or CRASHED for each live release the runtime found stopped for good (the
        first `batch` of them); returns the deployments it moved and how many it left for the next
        sweep. The runtime retires a release only once its end is recorded."""
        if self._live is None:
            return [], 0
        try:
            found = self._live.ended_releases()
        except Exception:  # the cluster unreachable: the next sweep looks again
            _log.exception("could not look for live releases that stopped")
            return [], 0
        left = 0 if batch is None else max(0, len(found) - batch)
        ended = []
        for end in found[:batch]:
            try:
                deployment, moved = self._record_end(end)
                if moved:
                    ended.append(deployment)
                if deployment.status in LIVE_ENDS and deployment.release_id == end.release_id:
                    log = self._logs.open(end.deployment_id, "deploy")
                    try:
                        self._live.retire(end, log)
                    finally:
                        log.close()
            except Exception:  # one release's trouble must not stop the others
                _log.exception("could not end the live deployment %s", end.deployment_id)
        return ended, left

    def _record_end(self, end: ReleaseEnd) -> tuple[Deployment, bool]:
        """The deployment after recording `end`, and whether this call moved it (only a SUCCESS
        one moves: a job already COMPLETED by its commit, or a newer deployment, stays)."""

        def log_why() -> None:
            log = self._logs.open(end.deployment_id, "deploy")
            log.write(f"{'completed' if end.completed else 'crashed'}: {end.reason}")
            log.close()

        deployment, moved = record_live_end(
            self._repo,
            self._clock,
            end.deployment_id,
            end.reason,
            end.completed,
            before_write=log_why,
            events=self._events,
        )
        if moved:
            _log.info("live deployment %s %s: %s", end.deployment_id, deployment.status, end.reason)
        return deployment, moved

    def settle(self, deployment_id: str, ended_runs: bool = True) -> Deployment | None:
        """FAILED, with the reason, if the deployment's workflow has ended (or never started) and
        the deployment has not; None (nothing changed) otherwise. `ended_runs=False` settles only
        a deployment whose workflow never started."""
        # The execution first, then the deployment: a workflow that recorded the end and then
        # finished is seen finished here, never the other way round.
        run = self._workflow.describe(deployment_id)
        if run is not None and (run.status == WORKFLOW_RUNNING or not ended_runs):
            return None
        for _ in range(3):
            try:
                deployment = self._repo.get_deployment(deployment_id)
            except NotFound:  # not a deployment of this platform's
                return None
            if deployment.status not in IN_PROGRESS:
                return None
            now = self._clock()
            reason = self._reason(run, deployment, now)
            if reason is None:
                return None
            ended = deployment.moved_to(DeploymentStatus.FAILED, iso(now), reason=reason)
            log = self._logs.open(deployment_id, "deploy")
            log.write(f"deployment FAILED: {reason}")
            log.close()  # before the status, so a client that sees FAILED also sees why
            try:
                self._repo.save(ended)
            except Conflict:  # its worker moved it meanwhile: decide on the stored one
                continue
            _log.info("deployment %s FAILED after its workflow ended: %s", deployment_id, reason)
            return ended
        return None

    @staticmethod
    def _reason(run: WorkflowRun | None, deployment: Deployment, now: datetime) -> str | None:
        if run is None:
            created = parse_iso(deployment.created_at)
            if created is not None and now - created < NEVER_STARTED_GRACE:
                return None  # its execution is about to start
            return "its workflow never started"
        failure = StepFailure.from_catch(run.failure)
        if failure is not None:
            limits = StepLimits.from_input(run.limits)
            return failure_reason(failure, limits, parse_iso(deployment.updated_at), now)
        if run.status == "SUCCEEDED":
            return "its workflow ended (SUCCEEDED) without recording the deployment's end"
        if run.status == "ABORTED":
            return "its workflow was stopped"
        detail = ": ".join(part for part in (run.error, run.cause) if part)
        return f"its workflow ended {run.status}" + (f" ({detail})" if detail else "")
