"""The Deploy step: numbers the release (or re-uses a rollback's), has the runtime roll it out and
commit the promotion right before it moves the traffic (domain/promotion.py), and ends a deployment
that a newer one superseded SKIPPED, never FAILED (docs/decisions/0010-promotion-is-the-commit-point.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.domain.errors import BuildFailed, Conflict, DomainError, Superseded, TransientError
from chalicelib.domain.ids import iso
from chalicelib.domain.models import (
    IN_PROGRESS,
    Deployment,
    DeploymentKind,
    DeploymentStatus,
    Release,
    Service,
)
from chalicelib.domain.pipeline_context import StepContext
from chalicelib.domain.ports import Runtime
from chalicelib.domain.promotion import (
    COMMIT_ATTEMPTS,
    ReleasePromotion,
    ensure_not_superseded,
    ensure_running,
)
from chalicelib.domain.release_spec import release_spec
from chalicelib.domain.retention import ensure_not_pruned
from chalicelib.domain.sealing import Sealer
from chalicelib.domain.variable_resolution import VariableResolution

S = DeploymentStatus


class DeployStep:
    def __init__(
        self,
        context: StepContext,
        runtime: Runtime,
        sealer: Sealer | None,  # opens sealed variables for the runtime (None: they fail)
        resolution: VariableResolution | None = None,  # None: variables are taken as stored
    ) -> None:
        self._resolution = resolution
        self._context = context
        self._runtime = runtime
        self._sealer = sealer

    def deploy(self, deployment_id: str, heartbeat: Callable[[], None]) -> dict[str, Any]:
        """Rolls the deployment's release out; the runtime commits the promotion (the conditional
        write that makes it the service's active release) right before it moves the traffic. A
        deployment that a newer one superseded ends SKIPPED, never FAILED."""
        deployment = self._context.repo.get_deployment(deployment_id)
        if deployment.status in (S.SUCCESS, S.COMPLETED, S.SKIPPED):  # decided by an earlier delivery
            return _deploy_output(deployment)
        ensure_running(deployment)
        try:
            return self._deploy(deployment, heartbeat)
        except Superseded as superseded:
            return self._end_superseded(deployment_id, str(superseded))

    def _deploy(self, deployment: Deployment, heartbeat: Callable[[], None]) -> dict[str, Any]:
        service = self._context.repo.get_service(deployment.service_id)
        # Cheap and early, before a release is numbered for nothing; the commit decides for sure.
        ensure_not_superseded(deployment, service.active_deployment_id)
        skipped_build = deployment.kind == DeploymentKind.SOURCE and deployment.status == S.QUEUED
        deployment, release = self._start_deploying(deployment, service)
        log = self._context.logs.open(deployment.id, "deploy")
        if skipped_build:
            log.write(f"build: skipped: this exact source was built before ({release.artifact_key})")
        log.write(
            f"deploy: release v{release.number} ({release.id}) of {service.name}: `{release.start_command}`"
        )
        promotion = ReleasePromotion(
            self._context.repo, self._context.clock, deployment.id, release, heartbeat
        )
        try:
            self._runtime.activate(
                release_spec(self._context.repo, service, release, deployment.id, self._sealer),
                log,
                self._context.progress(deployment.id, heartbeat),
                promotion,
            )
            promotion.commit()  # a no-op unless the runtime found this release serving already
        except Superseded as superseded:
            log.write(f"deploy: not switched: {superseded}; the live release keeps serving")
            log.flush()
            raise
        except DomainError as error:
            log.write(f"deploy failed: {error}")
            log.flush()
            raise
        ran = "ran to completion (COMPLETED)" if promotion.status == S.COMPLETED else "is live"
        log.write(f"deploy: v{release.number} {ran}")
        log.flush()
        return {"status": str(promotion.status), "releaseId": release.id}

    def _end_superseded(self, deployment_id: str, reason: str) -> dict[str, Any]:
        """SKIPPED with the reason: a newer deployment is live, nothing of this one ever served."""
        log = self._context.logs.open(deployment_id, "deploy")
        log.write(f"deployment SKIPPED: {reason}")
        log.close()  # before the status, so a client that sees SKIPPED also sees why
        for _ in range(5):
            deployment = self._context.repo.get_deployment(deployment_id)
            if deployment.status not in IN_PROGRESS:
                return _deploy_output(deployment)
            try:
                self._context.repo.save(
                    deployment.moved_to(S.SKIPPED, iso(self._context.clock()), reason=reason)
                )
            except Conflict:
                continue
            return {"status": str(S.SKIPPED), "releaseId": None}
        raise TransientError(f"could not record deployment {deployment_id} as superseded")

    def _start_deploying(self, deployment: Deployment, service: Service) -> tuple[Deployment, Release]:
        """DEPLOYING, and the release this deployment activates, in one transaction. A new release
        is numbered from the service's counter; a rollback re-uses its release unchanged."""
        for _ in range(COMMIT_ATTEMPTS):  # concurrent deployments of the service take numbers too
            if deployment.release_id is not None:  # a rollback, or a retried step
                release = self._context.repo.get_release(deployment.release_id)
                ensure_not_pruned(release)  # retention pruned it after the rollback was accepted
                if deployment.status != S.DEPLOYING:
                    deployment = self._context.move(deployment, S.DEPLOYING)
                return deployment, release
            if self._resolution is not None:  # a redeploy's (a source deployment's: in Prepare)
                deployment = self._resolution.resolve(deployment)
            if deployment.built is None:
                raise BuildFailed(f"deployment {deployment.id} has no artifact to deploy")
            now = iso(self._context.clock())
            release = Release(
                id="rel_" + deployment.id.removeprefix("dep_"),  # deterministic: retries reuse it
                service_id=service.id,
                number=service.release_count + 1,
                built=deployment.built,
                config=deployment.requested,
                deployment_id=deployment.id,
                created_at=now,
                workspace_id=deployment.workspace_id or service.workspace_id,
                project_id=service.project_id,
                environment_id=service.environment_id,
            )
            changes = dict(release_id=release.id, release_number=release.number)
            moved = (
                deployment.moved_to(S.DEPLOYING, now, **changes)
                if deployment.status != S.DEPLOYING
                else deployment.bumped(updated_at=now, **changes)
            )
            try:
                self._context.repo.save(moved, release, service.bumped(release_count=release.number))
                return moved, release
            except Conflict:  # another release took the number, or the deployment changed: re-read
                deployment = self._context.repo.get_deployment(deployment.id)
                ensure_running(deployment)
                service = self._context.repo.get_service(deployment.service_id)
        raise TransientError(f"could not number a release for deployment {deployment.id}")


def _deploy_output(deployment: Deployment) -> dict[str, Any]:
    """The Deploy step's output for a deployment it already decided: SUCCESS, COMPLETED or SKIPPED."""
    live = deployment.status in (S.SUCCESS, S.COMPLETED)
    return {"status": str(deployment.status), "releaseId": deployment.release_id if live else None}
