"""Recording that a live release stopped for good: one rule for the three that learn of it, the
local runtime's crash listener (Pipeline.mark_crashed), a restore that fails after a platform
restart (Reconciler) and the sweep of a runtime that finds out by looking (DeploymentSweeper).

Only a SUCCESS deployment moves, to COMPLETED (every process exited 0 and is not restarted: a job,
docs/decisions/0030) or CRASHED, with the reason. Anything else stays: a deployment replaced
(REMOVED), cancelled or already ended belongs to whatever moved it. The write is conditional on the
version read, so two that learn of the same end at once record it once.

The call that moved it, and only that one, puts the deployment's second `deployment.completed` on the
bus (CRASHED or COMPLETED, `metadata.event_source` LIVE_END_SOURCE: domain/events.py), so webhooks,
metrics and retention hear of the end as they hear of the workflow's (docs/decisions/0038, 0039).
The event is put after the write: one the bus refused is logged and lost, never put twice, and never
holds up what called (a restore after a platform restart, a crash listener, a sweep).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from chalicelib.domain.errors import Conflict
from chalicelib.domain.events import DEPLOYMENT_COMPLETED, LIVE_END_SOURCE, DeploymentCompleted, Envelope
from chalicelib.domain.ids import Clock, iso
from chalicelib.domain.models import Deployment, DeploymentStatus
from chalicelib.domain.ports import EventPublisher, Repository

ATTEMPTS = 3  # reads and conditional writes before giving up to a deployment that keeps changing
_log = logging.getLogger(__name__)


def record_live_end(
    repo: Repository,
    clock: Clock,
    deployment_id: str,
    reason: str,
    completed: bool,
    before_write: Callable[[], None] | None = None,
    *,
    events: EventPublisher | None = None,
) -> tuple[Deployment, bool]:
    """The deployment after recording its live release's end, and whether this call moved it.
    `before_write` runs just before each write (the sweep's deploy-log line: a client that sees the
    end then also sees why). `events` hears of the end when this call moved it (None: nobody)."""
    status = DeploymentStatus.COMPLETED if completed else DeploymentStatus.CRASHED
    for _ in range(ATTEMPTS):
        deployment = repo.get_deployment(deployment_id)
        if deployment.status != DeploymentStatus.SUCCESS:
            return deployment, False
        if before_write is not None:
            before_write()
        moved = deployment.moved_to(status, iso(clock()), reason=reason)
        try:
            repo.save(moved)
        except Conflict:  # moved meanwhile: decide on the stored one
            continue
        if events is not None:
            _announce(events, moved)
        return moved, True
    return repo.get_deployment(deployment_id), False


def live_end_event(deployment: Deployment) -> Envelope:
    """The `deployment.completed` of a deployment whose live release ended, timed when it was recorded."""
    data = DeploymentCompleted(
        deployment_id=deployment.id, service_id=deployment.service_id, status=deployment.status.value
    )
    return Envelope.of(DEPLOYMENT_COMPLETED, data, LIVE_END_SOURCE, deployment.id, deployment.updated_at)


def _announce(events: EventPublisher, deployment: Deployment) -> None:
    try:
        events.publish(live_end_event(deployment))
    except Exception:  # the end is recorded; the bus's trouble must not undo or repeat it
        _log.exception("deployment %s: its %s event was not put on the bus", deployment.id, deployment.status)
