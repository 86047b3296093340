"""Recording that a live release stopped for good: one rule for the three that learn of it, the
local runtime's crash listener (Pipeline.mark_crashed), a restore that fails after a platform
restart (Reconciler) and the sweep of a runtime that finds out by looking (DeploymentSweeper).

Only a SUCCESS deployment moves, to COMPLETED (every process exited 0 and is not restarted: a job,
docs/decisions/0030) or CRASHED, with the reason. Anything else stays: a deployment replaced
(REMOVED), cancelled or already ended belongs to whatever moved it. The write is conditional on the
version read, so two that learn of the same end at once record it once.
"""

from __future__ import annotations

from collections.abc import Callable

from chalicelib.domain.errors import Conflict
from chalicelib.domain.ids import Clock, iso
from chalicelib.domain.models import Deployment, DeploymentStatus
from chalicelib.domain.ports import Repository

ATTEMPTS = 3  # reads and conditional writes before giving up to a deployment that keeps changing


def record_live_end(
    repo: Repository,
    clock: Clock,
    deployment_id: str,
    reason: str,
    completed: bool,
    before_write: Callable[[], None] | None = None,
) -> tuple[Deployment, bool]:
    """The deployment after recording its live release's end, and whether this call moved it.
    `before_write` runs just before each write (the sweep's deploy-log line: a client that sees the
    end then also sees why)."""
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
        return moved, True
    return repo.get_deployment(deployment_id), False
