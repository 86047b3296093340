"""Use cases that change deployments: what the API calls to upload, deploy, redeploy, roll back,
promote, change variables and cancel (a cron service's "Run now" is domain/cron_jobs.py). Reading
deployments, releases, variables and logs is domain/deployment_reads.py's, which DeploymentService
inherits. Authentication lives in domain/authentication.py, projects and services in
domain/projects.py; worker-side steps in domain/pipeline.py (and the modules it names).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from chalicelib.domain.audit import AuditEntry, RequestAudit
from chalicelib.domain.deployment_actor import actor_of
from chalicelib.domain.deployment_reads import DeploymentReads
from chalicelib.domain.errors import BadRequest, Conflict, InvalidTransition, NotFound, TransientError
from chalicelib.domain.git import GitCommit
from chalicelib.domain.ids import Clock, IdFactory, iso
from chalicelib.domain.limits import MAX_UPLOAD_BYTES
from chalicelib.domain.models import (
    ConfigSnapshot,
    Deployment,
    DeploymentKind,
    DeploymentStatus,
    Release,
    Service,
    ServiceVariables,
    VariableListing,
)
from chalicelib.domain.policy import Access, Resource
from chalicelib.domain.ports import (
    BlobStore,
    Entity,
    LogStore,
    PresignedUpload,
    Repository,
    WorkflowStarter,
)
from chalicelib.domain.projects import ProjectService
from chalicelib.domain.resources import placed_service
from chalicelib.domain.retention import ensure_not_pruned
from chalicelib.domain.sealing import Sealer
from chalicelib.domain.variable_changes import apply_changes
from chalicelib.domain.variables import check_reference_access

CANCEL_ATTEMPTS = 3  # reads and conditional writes before a cancel gives up to a busy deployment


class DeploymentService(DeploymentReads):
    """Creates deployments: one conditional transaction, then one StartExecution named after the
    deployment id (so a retried request cannot start the pipeline twice). The reads (get, lists,
    variables, logs) are DeploymentReads'."""

    def __init__(
        self,
        repo: Repository,
        workflow: WorkflowStarter,
        blobs: BlobStore,
        projects: ProjectService,
        logs: LogStore,
        sources_bucket: str,
        clock: Clock,
        ids: IdFactory,
        sealer: Sealer | None = None,  # None: sealed variables are refused
    ) -> None:
        super().__init__(repo, projects, logs)
        self._sealer = sealer
        self._workflow = workflow
        self._blobs = blobs
        self._sources_bucket = sources_bucket
        self._clock = clock
        self._ids = ids

    # --- uploads ---------------------------------------------------------------------------

    def presign_upload(
        self, who: Access, service_id: str, expires_in: int = 900, max_bytes: int = MAX_UPLOAD_BYTES
    ) -> tuple[PresignedUpload, str]:
        """A presigned POST for one new source key; S3 refuses a body above `max_bytes`."""
        service = self._projects.get_service(who, service_id)
        key = f"sources/{service.id}/{self._ids('src')}.tar.gz"
        return self._blobs.presign_post(self._sources_bucket, key, expires_in, max_bytes), key

    # --- creating deployments ------------------------------------------------------------------

    def deploy_source(
        self,
        who: Access,
        service_id: str,
        source_key: str,
        no_cache: bool = False,
        audit: RequestAudit | None = None,
        commit: GitCommit | None = None,
        deployment_id: str | None = None,
    ) -> Deployment:
        """A deployment of an uploaded source. A service id that carries its place (domain/ids.py):
        the check from the id, then one transaction (the deployment, the audit entry, a check that
        the service exists) and one StartExecution; the workflow's Prepare step fills the config and
        hostname (ADR 0034). An id of the old format: one read (the service and its variables, the
        check included) first (ADR 0027). Whether the upload arrived and whether the same source was
        built before are Prepare's either way (domain/intake.py). A pushed source (domain/git_deploys.py)
        brings its `commit` and a `deployment_id` derived from its delivery, so a repeated event
        cannot make a second deployment (the create's "does not exist" condition refuses it)."""
        extra: dict[str, Any] = {"source_key": source_key, "no_cache": no_cache}
        extra.update(commit.fields() if commit else {})
        extra.update({"id": deployment_id} if deployment_id else {})
        placed = placed_service(service_id, who.principal)
        if placed is not None:
            who.require(placed)
            _check_source_key(source_key, service_id)
            deployment = self._placed(who, placed, **extra)
            return self._start(deployment, audit=audit, service_id=service_id)
        service, variables = self._service_with_variables(who, service_id)
        _check_source_key(source_key, service.id)
        config = ConfigSnapshot(
            variables=dict(variables.values), settings=service.settings, sealed=dict(variables.sealed)
        )
        deployment = self._new(who, service, DeploymentKind.SOURCE, config, **extra)
        return self._start(deployment, audit=audit)

    def fail_source(
        self, who: Access, service_id: str, reason: str, commit: GitCommit, deployment_id: str
    ) -> Deployment:
        """A pushed commit whose source could not be had (no such commit, an empty root directory):
        a FAILED deployment saying why, in the history and its build log, instead of nothing."""
        service = self._projects.get_service(who, service_id)
        now = iso(self._clock())
        queued = self._new(who, service, DeploymentKind.SOURCE, None, id=deployment_id, **commit.fields())
        failed = queued.moved_to(DeploymentStatus.FAILED, now, reason=reason)
        self._repo.save(replace(failed, version=1))
        log = self._logs.open(failed.id, "build")
        log.write(f"source: {reason}")
        log.close()
        return failed

    def redeploy(self, who: Access, service_id: str, audit: RequestAudit | None = None) -> Deployment:
        service, variables = self._service_with_variables(who, service_id)
        return self._start(self._redeployment(who, service, variables), audit=audit)

    def rollback(
        self, who: Access, service_id: str, deployment_id: str | None, audit: RequestAudit | None = None
    ) -> Deployment:
        service, release = self.rollback_target(who, service_id, deployment_id)
        deployment = self._new(
            who,
            service,
            DeploymentKind.ROLLBACK,
            release.config,
            built=release.built,
            release_id=release.id,
            release_number=release.number,
        )
        return self._start(deployment, audit=audit)

    def rollback_target(
        self, who: Access, service_id: str, deployment_id: str | None
    ) -> tuple[Service, Release]:
        """The release a rollback would run, with the rollback's errors (404, 409 ReleasePruned or
        nothing earlier); it changes nothing, so the preview (GET .../rollback) asks it too."""
        service = self._projects.get_service(who, service_id)
        release = self._rollback_target(service, deployment_id)
        ensure_not_pruned(release)
        return service, release

    def promote(
        self, who: Access, service_id: str, release: Release, audit: RequestAudit | None = None
    ) -> Deployment:
        """A new deployment of `service_id` that runs `release`, another service's (promotion:
        domain/environments.py): its artifact, no rebuild, with this service's own variables and
        settings (the artifact's config-file settings still win, as on a redeploy)."""
        service, variables = self._service_with_variables(who, service_id)
        ensure_not_pruned(release)
        settings = release.built.effective_settings(service.settings)
        config = ConfigSnapshot(
            variables=dict(variables.values), settings=settings, sealed=dict(variables.sealed)
        )
        deployment = self._new(who, service, DeploymentKind.PROMOTION, config, built=release.built)
        return self._start(deployment, audit=audit)

    def set_variables(
        self,
        who: Access,
        service_id: str,
        to_set: Mapping[str, str],
        to_unset: Sequence[str],
        to_seal: Mapping[str, str] | None = None,
        audit: RequestAudit | None = None,
    ) -> tuple[VariableListing, Deployment | None]:
        """Applies every change in one write; if a release is live, exactly one new deployment
        carries the new values (Railway's "staged changes, one deploy"). `to_seal` values are
        stored sealed (domain/sealing.py); a name set plain or sealed replaces the other kind, so a
        sealed value is never turned back into a readable one, only replaced or removed."""
        service, current = self._service_with_variables(who, service_id)
        check_reference_access(self._repo, self._projects, who, service.environment_id, to_set, service.name)
        values, sealed = apply_changes(current, to_set, to_unset, to_seal, self._sealer, service.id)
        variables = current.bumped(values=values, sealed=sealed)
        if service.active_release_id is None:
            self._repo.save(variables)
            return VariableListing.of(variables), None
        deployment = self._start(self._redeployment(who, service, variables), variables, audit=audit)
        return VariableListing.of(variables), deployment

    # --- cancelling ----------------------------------------------------------------------------

    def cancel(self, who: Access, deployment_id: str) -> Deployment:
        # The workflow moves the deployment meanwhile (QUEUED -> BUILDING ...): a conditional write
        # that lost to it decides again on the stored one, rather than answering the person 409.
        for attempt in range(CANCEL_ATTEMPTS):
            deployment = self.get(who, deployment_id)
            if not deployment.in_progress:
                raise InvalidTransition(
                    f"deployment {deployment_id} is {deployment.status}; only QUEUED, "
                    "BUILDING or DEPLOYING deployments can be cancelled"
                )
            cancelled = deployment.moved_to(
                DeploymentStatus.CANCELLED, iso(self._clock()), reason="cancelled by user"
            )
            try:
                self._repo.save(cancelled)
            except Conflict:
                if attempt + 1 == CANCEL_ATTEMPTS:
                    raise
                continue
            self._workflow.stop(deployment_id, "cancelled by user")
            return cancelled
        raise AssertionError("unreachable")  # the loop returns or raises

    # --- helpers -------------------------------------------------------------------------------

    def _redeployment(self, who: Access, service: Service, variables: ServiceVariables) -> Deployment:
        if service.active_release_id is None:
            raise Conflict(f"service {service.name} has no live release to redeploy; run `railyard up` first")
        live = self._repo.get_release(service.active_release_id)
        # The artifact's config-file settings still win over the service's, as when it was built.
        settings = live.built.effective_settings(service.settings)
        config = ConfigSnapshot(
            variables=dict(variables.values), settings=settings, sealed=dict(variables.sealed)
        )
        return self._new(
            who,
            service,
            DeploymentKind.REDEPLOY,
            config,
            built=live.built,
        )

    def _rollback_target(self, service: Service, deployment_id: str | None) -> Release:
        if deployment_id is not None:
            # A deployment of another service (of any workspace) answers exactly as a missing one.
            try:
                target = self._repo.get_deployment(deployment_id)
            except NotFound:
                target = None
            if target is None or target.service_id != service.id:
                raise NotFound(f"deployment {deployment_id} not found")
            if target.release_id is None:
                raise Conflict(f"deployment {deployment_id} never produced a release ({target.status})")
            return self._repo.get_release(target.release_id)
        was_live = {DeploymentStatus.SUCCESS, DeploymentStatus.REMOVED}
        active = self._repo.get_release(service.active_release_id) if service.active_release_id else None
        for release in self._repo.list_releases(service.id, limit=50):
            if active is not None and release.number >= active.number:
                continue  # "back" means an older release than the live one
            # Only a release that once served traffic is a safe target (one whose health check
            # failed never did), and only one retention has not pruned.
            if (
                release.id != service.active_release_id
                and not release.pruned
                and (self._repo.get_deployment(release.deployment_id).status in was_live)
            ):
                return release
        raise Conflict(f"service {service.name} has no earlier release to roll back to")

    def _new(
        self,
        who: Access,
        service: Service,
        kind: DeploymentKind,
        config: ConfigSnapshot | None,
        **fields: Any,
    ) -> Deployment:
        now = iso(self._clock())
        fields["created_by"] = actor_of(who.principal, fields.get("commit_author"))
        if "id" not in fields:  # a pushed commit's is derived from its delivery (deploy_source)
            fields["id"] = self._ids("dep")
        return Deployment(
            service_id=service.id,
            project_id=service.project_id,
            environment_id=service.environment_id,
            workspace_id=service.workspace_id,
            hostname=service.hostname,
            kind=kind,
            status=DeploymentStatus.QUEUED,
            config=config,
            created_at=now,
            updated_at=now,
            **fields,
        )

    def _placed(self, who: Access, where: Resource, **fields: Any) -> Deployment:
        """A source deployment made from its service's place alone: no config, no hostname yet."""
        now = iso(self._clock())
        fields["created_by"] = actor_of(who.principal, fields.get("commit_author"))
        if "id" not in fields:
            fields["id"] = self._ids("dep")
        return Deployment(
            service_id=where.id,
            project_id=where.project_id or "",
            environment_id=where.environment_id or "",
            workspace_id=where.workspace_id,
            kind=DeploymentKind.SOURCE,
            status=DeploymentStatus.QUEUED,
            config=None,
            created_at=now,
            updated_at=now,
            **fields,
        )

    def _start(
        self,
        deployment: Deployment,
        *also: Entity,
        audit: RequestAudit | None = None,
        service_id: str | None = None,
    ) -> Deployment:
        """One transaction (the deployment, `also`, the request's audit entry and, with
        `service_id`, the check that the service exists), then one StartExecution whose workflow
        emits the entry's event (docs/decisions/0027)."""
        record = audit.record() if audit is not None else None
        entities = (deployment, *also, *([record] if record else []))
        if service_id is None:
            self._repo.save(*entities)
        else:
            self._repo.save_for_service(service_id, *entities)
        if audit is not None and record is not None:
            audit.written = record.entry
        self._launch(deployment, record.entry if record else None)
        return deployment

    def _launch(self, deployment: Deployment, audit: AuditEntry | None) -> None:
        """Starts the workflow; if that fails the deployment ends FAILED (nothing else would ever
        move it on) and the caller gets a TransientError to retry."""
        try:
            self._workflow.start(deployment, audit)
        except Exception as error:
            failed = deployment.moved_to(
                DeploymentStatus.FAILED, iso(self._clock()), reason=f"the workflow could not start: {error}"
            )
            self._repo.save(failed)
            raise TransientError(f"could not start deployment {deployment.id}; try again") from error


def _check_source_key(source_key: str, service_id: str) -> None:
    if not source_key.startswith(f"sources/{service_id}/"):
        raise BadRequest(f"sourceKey {source_key!r} was not issued for service {service_id}")
