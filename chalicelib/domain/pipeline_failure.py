"""A deployment's FAILED end: recorded by the workflow's failure path (MarkFailed) or by the worker
whose step failed, with a reason that names the step and the limit it hit (domain/limits.py).
The live release's own ends (CRASHED, COMPLETED) are domain/live_end.py's.
"""

from __future__ import annotations

from typing import Any

from chalicelib.domain.errors import Conflict, TransientError
from chalicelib.domain.ids import iso, parse_iso
from chalicelib.domain.limits import StepFailure, StepLimits, failure_reason
from chalicelib.domain.models import IN_PROGRESS, DeploymentStatus
from chalicelib.domain.pipeline_context import StepContext

S = DeploymentStatus


def mark_failed(
    context: StepContext, deployment_id: str, failure: StepFailure, limits: StepLimits | None = None
) -> dict[str, Any]:
    """The workflow's failure path. Idempotent: an already-ended deployment keeps its status.
    A timeout's reason names the step and the limit it hit (chalicelib/domain/limits.py)."""
    deployment = context.repo.get_deployment(deployment_id)
    if deployment.status not in IN_PROGRESS:
        return {"status": str(deployment.status)}
    now = context.clock()
    reason = failure_reason(failure, limits, parse_iso(deployment.updated_at), now)
    log = context.logs.open(deployment_id, "deploy")
    log.write(f"deployment FAILED: {reason}")
    log.close()  # before the status, so a client that sees FAILED also sees why
    for _ in range(5):
        try:
            context.repo.save(deployment.moved_to(S.FAILED, iso(now), reason=reason))
            return {"status": str(S.FAILED)}
        except Conflict:  # moved meanwhile (its worker's last write): decide on the stored one
            deployment = context.repo.get_deployment(deployment_id)
            if deployment.status not in IN_PROGRESS:
                return {"status": str(deployment.status)}
    raise TransientError(f"could not record deployment {deployment_id} as failed")
