"""The commit point of a deploy (docs/decisions/0010), and a step's hold on its workflow task.

`ReleasePromotion` is what the Deploy step hands the runtime: the runtime checks it once it holds the
service's activation lock, and commits it right before it moves the traffic. The commit is one
transaction conditioned on the versions it read: the deployment SUCCESS (COMPLETED for a job that
already ran to completion), the service's active pointers and its workload moved, the replaced
deployment REMOVED. So of two deployments racing for one service only
the newest can ever commit, whatever the interleaving, and a deployment that was ended meanwhile
(cancelled, or FAILED by the workflow after its step timed out) cannot.

`TaskLease` is a worker's view of whether the workflow still waits for its step.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from chalicelib.domain.errors import (
    Conflict,
    DeploymentCancelled,
    InvalidTransition,
    Superseded,
    TaskExpired,
    TransientError,
)
from chalicelib.domain.ids import Clock, iso
from chalicelib.domain.models import IN_PROGRESS, LIVE_ENDS, Deployment, DeploymentStatus, Release
from chalicelib.domain.ports import Repository
from chalicelib.domain.workloads import Workload

S = DeploymentStatus
# Writes that lose to a concurrent change re-read and try again: other deployments of the service
# bump its release counter while this one waits, which is no reason to fail it.
COMMIT_ATTEMPTS = 20
# A deployment in one of these was committed (by an earlier delivery of its step).
COMMITTED = frozenset({S.SUCCESS, S.COMPLETED})


def ensure_running(deployment: Deployment) -> None:
    """DeploymentCancelled or InvalidTransition unless the deployment is still in progress."""
    if deployment.status == S.CANCELLED:
        raise DeploymentCancelled(f"deployment {deployment.id} was cancelled")
    if deployment.status not in IN_PROGRESS:
        raise InvalidTransition(f"deployment {deployment.id} is already {deployment.status}")


def ensure_not_superseded(deployment: Deployment, active_deployment_id: str | None) -> None:
    # Ids sort by creation time: a newer deployment already live wins over an older one that
    # finished its build later; re-activating older code is what a rollback (a new deployment) is for.
    if active_deployment_id is not None and active_deployment_id > deployment.id:
        raise Superseded(f"superseded by {active_deployment_id} (created later), which is live")


class ReleasePromotion:
    """The `Promotion` port for one deployment and its release. `heartbeat` is the step's task
    heartbeat: it raises TaskExpired when the workflow gave the step up."""

    def __init__(
        self,
        repo: Repository,
        clock: Clock,
        deployment_id: str,
        release: Release,
        heartbeat: Callable[[], None],
    ) -> None:
        self._repo = repo
        self._clock = clock
        self._deployment_id = deployment_id
        self._release = release
        self._heartbeat = heartbeat
        self.committed = False
        self.status = S.SUCCESS  # what the commit recorded (COMPLETED for a job)

    def check(self) -> None:
        deployment = self._repo.get_deployment(self._deployment_id)
        if deployment.status in COMMITTED:  # committed by an earlier delivery of this step
            return
        ensure_running(deployment)
        ensure_not_superseded(deployment, self._repo.get_service(deployment.service_id).active_deployment_id)
        # A newer deployment of the service that is live or on its way will replace this one the
        # moment it commits: starting this release would only make it serve for a few seconds. (Of
        # 20 deploys racing, about half went live and were replaced at once; now one does.)
        newest = self._repo.list_deployments(deployment.service_id, limit=1)
        if newest and newest[0].id > deployment.id and newest[0].status in IN_PROGRESS | {S.SUCCESS}:
            raise Superseded(f"superseded by {newest[0].id} (created later), which is {newest[0].status}")

    def commit(self, workload: Workload = Workload.WEB) -> None:
        if self.committed:
            return
        # The task must still be the workflow's: a step that timed out never switches traffic.
        self._heartbeat()
        # A job that ran to completion is the service's active deployment all the same (Railway).
        status = S.COMPLETED if workload is Workload.JOB else S.SUCCESS
        for _ in range(COMMIT_ATTEMPTS):
            deployment = self._repo.get_deployment(self._deployment_id)
            if deployment.status in COMMITTED:
                self.committed, self.status = True, deployment.status
                return
            ensure_running(deployment)
            service = self._repo.get_service(deployment.service_id)
            ensure_not_superseded(deployment, service.active_deployment_id)
            now = iso(self._clock())
            changes: list[Any] = [
                deployment.moved_to(status, now, workload=workload),
                service.bumped(
                    active_deployment_id=deployment.id, active_release_id=self._release.id, workload=workload
                ),
            ]
            previous_id = service.active_deployment_id
            if previous_id and previous_id != deployment.id:
                previous = self._repo.get_deployment(previous_id)
                if previous.status in LIVE_ENDS:
                    changes.append(previous.moved_to(S.REMOVED, now, reason=f"replaced by {deployment.id}"))
            try:
                self._repo.save(*changes)
            except Conflict:
                continue  # the service or a deployment changed since the reads: decide again
            self.committed, self.status = True, status
            return
        raise TransientError(
            f"could not record deployment {self._deployment_id} as live: too many concurrent changes"
        )


class TaskLease:
    """A step's hold on its workflow task. `beat()` heartbeats and raises TaskExpired once the
    workflow has given the task up: Step Functions says so, or no beat was acknowledged for the
    step's heartbeat limit (the workflow has timed the task out then, even where an emulator still
    accepts the late beat: moto does while the execution runs on). Once expired, always expired."""

    def __init__(
        self,
        send: Callable[[], None],
        heartbeat_seconds: float | None,
        monotonic: Callable[[], float] = time.monotonic,
        queued_seconds: float = 0.0,
    ) -> None:
        """`queued_seconds`: how long the task's message waited for this worker; the workflow's
        heartbeat clock started when the task did, not when the worker got it."""
        self._send = send
        self._limit = heartbeat_seconds
        self._monotonic = monotonic
        self._last_ack = monotonic() - queued_seconds
        self._expired: TaskExpired | None = None

    def check(self) -> None:
        """TaskExpired if the workflow has given the task up, as far as this worker can tell
        without asking (no call)."""
        if self._expired is not None:
            raise self._expired
        silent = self._monotonic() - self._last_ack
        if self._limit is not None and silent > self._limit:
            self._expired = TaskExpired(
                f"no heartbeat acknowledged for {silent:.0f} s (limit {self._limit:g} s): "
                "the workflow has given this step up"
            )
            raise self._expired

    def beat(self) -> None:
        self.check()
        try:
            self._send()
        except TaskExpired as expired:
            self._expired = expired
            raise
        self._last_ack = self._monotonic()
