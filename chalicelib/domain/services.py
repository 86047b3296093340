"""Use cases of the control plane: what the API and the workers call.

`AuthService` checks bearer tokens; `ProjectService` owns projects, environments and services;
`DeploymentService` turns user requests (upload, deploy, redeploy, rollback, variables, cancel) into
Deployment records and workflow executions; `CronJobs` runs a cron service now. Worker-side steps
live in domain/pipeline.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from chalicelib.domain.errors import (
    BadRequest,
    Conflict,
    InvalidTransition,
    NotFound,
    TransientError,
    Unauthorized,
)
from chalicelib.domain.hostnames import HostnameReservation, base_hostname, candidates, random_suffix
from chalicelib.domain.identity_ports import AccessTokenVerifier
from chalicelib.domain.ids import Clock, IdFactory, iso
from chalicelib.domain.limits import MAX_UPLOAD_BYTES, check_variables
from chalicelib.domain.models import (
    TERMINAL,
    ApiToken,
    ConfigSnapshot,
    Deployment,
    DeploymentKind,
    DeploymentStatus,
    Environment,
    Project,
    Release,
    Service,
    ServiceSettings,
    ServiceVariables,
    VariableListing,
    no_cache_requested,
    source_fingerprint,
)
from chalicelib.domain.policy import Access, Grant, Principal, parse_actions
from chalicelib.domain.ports import (
    BlobStore,
    CronTrigger,
    LogLine,
    LogStore,
    PresignedUpload,
    Repository,
    WorkflowStarter,
)
from chalicelib.domain.resources import ResourceOf, project_resource, workspace_resource
from chalicelib.domain.retention import ensure_not_pruned
from chalicelib.domain.sealing import Sealer, seal_variable

_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")
_VAR_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_name(kind: str, name: str) -> str:
    if not _NAME.match(name):
        raise BadRequest(
            f"{kind} name {name!r} must be 1-32 lowercase letters, digits or '-', "
            "starting and ending with a letter or digit"
        )
    return name


@dataclass(frozen=True)
class LogPage:
    lines: list[LogLine]
    next: int  # the cursor for the next read
    done: bool


# A token found valid is believed for this long without reading it again (per container: a Lambda
# container, the local API server): every authenticated request skips a GetItem. Unknown tokens are
# never cached, so a new token works at once; a revoked one stops within this bound (issue 10 asks
# for 60 s at most). Expiry is checked on every request, cached or not.
TOKEN_CACHE_SECONDS = 30.0
TOKEN_CACHE_ENTRIES = 1024


def token_principal(token: ApiToken) -> Principal:
    """What an API token may do: its actions, on its workspace or the resource it is narrowed to."""
    grant = Grant(
        token.org_id,
        parse_actions(token.scopes),
        token.project_id,
        token.environment_id,
        token.service_id,
    )
    token_id = token.id or f"tok_{token.token_hash[:12]}"
    return Principal(
        kind="token",
        subject=token_id,
        grants=(grant,),
        name=token.name,
        user_id=getattr(token, "user_id", None),
        token_id=token_id,
    )


class AuthService:
    """Turns an Authorization header into a Principal: a session's access JWT (verified from its
    signature alone) or an API token (one read, then cached per container)."""

    def __init__(
        self,
        repo: Repository,
        clock: Clock,
        monotonic: Callable[[], float] = time.monotonic,
        sessions: AccessTokenVerifier | None = None,
    ) -> None:
        self._repo = repo
        self._clock = clock
        self._monotonic = monotonic
        self._sessions = sessions
        # token hash -> (believed until, expires at or None, who)
        self._known: dict[str, tuple[float, str | None, Principal]] = {}

    def authenticate(self, authorization: str | None) -> Principal:
        if not authorization or not authorization.startswith("Bearer "):
            raise Unauthorized("missing 'Authorization: Bearer <token>' header")
        raw = authorization.removeprefix("Bearer ").strip()
        if raw.count(".") == 2 and self._sessions is not None:  # a JWT: header.payload.signature
            return self._sessions.verify(raw)
        token_hash = hash_token(raw)
        now = self._monotonic()
        known = self._known.get(token_hash)
        if known is not None and known[0] > now:
            self._check_expiry(known[1])
            return known[2]
        try:
            token = self._repo.get_token(token_hash)
        except NotFound:
            raise Unauthorized("the bearer token is not valid") from None
        self._check_expiry(token.expires_at)
        # "Last used" costs one UpdateItem per token per cache window (per container), not one per
        # request: a token used all day shows a time at most TOKEN_CACHE_SECONDS old per container.
        self._repo.mark_token_used(token_hash, iso(self._clock()))
        who = token_principal(token)
        if len(self._known) >= TOKEN_CACHE_ENTRIES:
            self._known.clear()  # simpler than LRU, and a refill costs one read per token
        self._known[token_hash] = (now + TOKEN_CACHE_SECONDS, token.expires_at, who)
        return who

    def _check_expiry(self, expires_at: str | None) -> None:
        if expires_at is not None and expires_at <= iso(self._clock()):
            raise Unauthorized(f"the API token expired at {expires_at}")

    def forget(self, token_hash: str) -> None:
        """Drop a cached token at once (this container revoked it)."""
        self._known.pop(token_hash, None)

    def ensure_token(self, token: str, org_id: str, name: str, scopes: Sequence[str] = ("*",)) -> None:
        """Registers `token` (idempotent): the local platform re-registers the admin token it wrote
        to the CLI's config at every start."""
        with contextlib.suppress(Conflict):
            self._repo.save(
                ApiToken(hash_token(token), org_id, name, tuple(scopes), iso(self._clock())),
            )


class ProjectService:
    """Projects, environments and services. Every method loads the one item it needs and asks the
    policy about it (`who.require`); a list is one query whose items carry their own workspace."""

    def __init__(
        self, repo: Repository, clock: Clock, ids: IdFactory, suffixes: Callable[[], str] = random_suffix
    ) -> None:
        self._repo = repo
        self._clock = clock
        self._ids = ids
        self._suffixes = suffixes  # of generated hostnames whose plain name is taken
        self.resources = ResourceOf(repo)

    def create_project(
        self, who: Access, name: str, workspace_id: str | None = None
    ) -> tuple[Project, list[Environment]]:
        workspace = workspace_id or who.principal.default_workspace()
        who.require(workspace_resource(workspace))
        now = iso(self._clock())
        project = Project(self._ids("prj"), workspace, check_name("project", name), now)
        # Names are unique per workspace: they are part of every service's hostname.
        if any(p.name == name for p in self._repo.list_projects(workspace)):
            raise Conflict(f"project {name!r} already exists")
        production = Environment(self._ids("env"), project.id, "production", now, workspace_id=workspace)
        self._repo.save(project, production)
        return project, [production]

    def get_project(self, who: Access, project_id: str) -> Project:
        project = self._repo.get_project(project_id)
        who.require(project_resource(project))
        return project

    def list_projects(self, who: Access, workspace_id: str | None = None) -> list[Project]:
        """The projects of a workspace the caller may see (a project-scoped token sees its own)."""
        workspaces = [workspace_id] if workspace_id else list(who.principal.workspace_ids)
        projects = [p for w in workspaces for p in self._repo.list_projects(w)]
        return [p for p in projects if who.sees(project_resource(p))]

    def list_environments(self, who: Access, project_id: str) -> list[Environment]:
        environments = self._repo.list_environments(project_id)
        visible = [e for e in environments if who.sees(self.resources.environment(e))]
        if not visible:  # none to show: 404 unless the caller may see the (empty) project itself
            self.get_project(who, project_id)
        return visible

    def get_project_with_environments(
        self, who: Access, project_id: str
    ) -> tuple[Project, list[Environment]]:
        """One read of the project (its access check included) and one query of its environments."""
        project = self.get_project(who, project_id)
        environments = self._repo.list_environments(project_id)
        return project, [e for e in environments if who.sees(self.resources.environment(e))]

    def create_environment(self, who: Access, project_id: str, name: str) -> Environment:
        project = self.get_project(who, project_id)
        check_name("environment", name)
        if any(e.name == name for e in self._repo.list_environments(project_id)):
            raise Conflict(f"environment {name!r} already exists in project {project_id}")
        env = Environment(self._ids("env"), project_id, name, iso(self._clock()), workspace_id=project.org_id)
        self._repo.save(env)
        return env

    def get_environment(self, who: Access, environment_id: str) -> Environment:
        env = self._repo.get_environment(environment_id)
        who.require(self.resources.environment(env))
        return env

    def create_service(
        self, who: Access, environment_id: str, name: str, settings: Mapping[str, Any] | None
    ) -> Service:
        env = self.get_environment(who, environment_id)
        project = self._repo.get_project(env.project_id)
        check_name("service", name)
        if any(s.name == name for s in self._repo.list_services(environment_id)):
            raise Conflict(f"service {name!r} already exists in environment {env.name}")
        now = iso(self._clock())
        service_id = self._ids("svc")
        service_settings = ServiceSettings(**dict(settings or {}))
        # The hostname is reserved platform-wide in the service's own transaction (a conditional
        # write): a name another service holds, in any workspace, fails it and the next candidate
        # (the name with a random suffix) is tried. The new service's own item cannot conflict.
        for hostname in candidates(base_hostname(name, env.name, project.name), self._suffixes):
            service = Service(
                id=service_id,
                project_id=project.id,
                environment_id=env.id,
                name=name,
                hostname=hostname,
                created_at=now,
                settings=service_settings,
                workspace_id=project.org_id,
            )
            try:
                self._repo.save(service, HostnameReservation(hostname, service_id, now))
            except Conflict:
                continue
            return service
        raise Conflict(f"no free hostname for service {name!r} after several tries; try again")

    def list_services(self, who: Access, environment_id: str) -> list[Service]:
        services = self._repo.list_services(environment_id)
        visible = [s for s in services if who.sees(self.resources.service(s))]
        if not visible:  # as list_environments
            self.get_environment(who, environment_id)
        return visible

    def get_service(self, who: Access, service_id: str) -> Service:
        service = self._repo.get_service(service_id)
        who.require(self.resources.service(service))
        return service

    def update_settings(self, who: Access, service_id: str, changes: Mapping[str, Any]) -> Service:
        service = self.get_service(who, service_id)
        updated = service.bumped(settings=replace(service.settings, **dict(changes)))
        self._repo.save(updated)
        return updated


class DeploymentService:
    """Creates deployments: one conditional transaction, then one StartExecution named after the
    deployment id (so a retried request cannot start the pipeline twice)."""

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
        artifacts_bucket: str | None = None,  # set: a reused build's artifact is checked to exist
        sealer: Sealer | None = None,  # None: sealed variables are refused
    ) -> None:
        self._sealer = sealer
        self._repo = repo
        self._workflow = workflow
        self._blobs = blobs
        self._projects = projects
        self._logs = logs
        self._sources_bucket = sources_bucket
        self._artifacts_bucket = artifacts_bucket
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
        self, who: Access, service_id: str, source_key: str, no_cache: bool = False
    ) -> Deployment:
        service, variables = self._service_with_variables(who, service_id)
        if not source_key.startswith(f"sources/{service.id}/"):
            raise BadRequest(f"sourceKey {source_key!r} was not issued for service {service.id}")
        etag = self._blobs.etag(self._sources_bucket, source_key)
        if etag is None:
            raise BadRequest(
                f"sourceKey {source_key!r} has not been uploaded (POST it to the uploadUrl first)"
            )
        config = ConfigSnapshot(
            variables=dict(variables.values), settings=service.settings, sealed=dict(variables.sealed)
        )
        fields: dict[str, Any] = {"source_key": source_key, "source_etag": etag, "no_cache": no_cache}
        try:  # the same bytes with the same build inputs were built before: skip the Build step
            if no_cache or no_cache_requested(config.variables):
                raise NotFound("a cold build was asked for")
            built = self._repo.get_built_source(service.id, source_fingerprint(etag, config))
            if self._artifacts_bucket and not self._blobs.exists(self._artifacts_bucket, built.artifact_key):
                raise NotFound("retention pruned the artifact of that build")  # so build it again
            fields.update(
                artifact_key=built.artifact_key,
                start_command=built.start_command,
                build_cached=True,
                build_cache={"artifact": "hit", "deps": "none", "skippedBuild": True},
                image=built.image,
            )
            if built.settings_overrides:
                config = replace(config, settings=replace(config.settings, **built.settings_overrides))
                fields["settings_overrides"] = dict(built.settings_overrides)
        except NotFound:
            pass
        return self._start(self._new(service, DeploymentKind.SOURCE, config, **fields))

    def redeploy(self, who: Access, service_id: str) -> Deployment:
        service, variables = self._service_with_variables(who, service_id)
        return self._start(self._redeployment(service, variables))

    def rollback(self, who: Access, service_id: str, deployment_id: str | None) -> Deployment:
        service = self._projects.get_service(who, service_id)
        release = self._rollback_target(service, deployment_id)
        ensure_not_pruned(release)
        deployment = self._new(
            service,
            DeploymentKind.ROLLBACK,
            release.config,
            artifact_key=release.artifact_key,
            start_command=release.start_command,
            image=release.image,
            release_id=release.id,
            release_number=release.number,
        )
        return self._start(deployment)

    def set_variables(
        self,
        who: Access,
        service_id: str,
        to_set: Mapping[str, str],
        to_unset: Sequence[str],
        to_seal: Mapping[str, str] | None = None,
    ) -> tuple[VariableListing, Deployment | None]:
        """Applies every change in one write; if a release is live, exactly one new deployment
        carries the new values (Railway's "staged changes, one deploy"). `to_seal` values are
        stored sealed (domain/sealing.py); a name set plain or sealed replaces the other kind, so a
        sealed value is never turned back into a readable one, only replaced or removed."""
        service, current = self._service_with_variables(who, service_id)
        to_seal = dict(to_seal or {})
        if not to_set and not to_unset and not to_seal:
            raise BadRequest("nothing to change: give 'set', 'sealed' and/or 'unset'")
        for key in [*to_unset, *to_set, *to_seal]:
            if not _VAR_KEY.match(key):
                raise BadRequest(f"variable name {key!r} must match [A-Za-z_][A-Za-z0-9_]*")
        check_variables(to_seal)  # each plaintext's size, before it is sealed
        twice = sorted(set(to_set) & set(to_seal))
        if twice:
            raise BadRequest(f"variables {', '.join(twice)} are in both 'set' and 'sealed': give each once")
        if to_seal and self._sealer is None:
            raise BadRequest("sealed variables are not available: this platform has no sealing key")
        removed = set(to_unset)
        values = {k: v for k, v in current.values.items() if k not in removed | set(to_seal)}
        values.update(to_set)
        sealed = {k: v for k, v in current.sealed.items() if k not in removed | set(to_set)}
        for key, value in to_seal.items():
            assert self._sealer is not None
            sealed[key] = seal_variable(self._sealer, service.id, key, value)
        # The count and sizes after it, as stored (domain/limits.py)
        check_variables(values, current.values, sealed, current.sealed)
        variables = current.bumped(values=values, sealed=sealed)
        if service.active_release_id is None:
            self._repo.save(variables)
            return VariableListing.of(variables), None
        deployment = self._start(self._redeployment(service, variables), variables)
        return VariableListing.of(variables), deployment

    # --- reading and cancelling ----------------------------------------------------------------

    def get(self, who: Access, deployment_id: str) -> Deployment:
        deployment = self._repo.get_deployment(deployment_id)
        who.require(self._projects.resources.deployment(deployment))
        return deployment

    def list_deployments(self, who: Access, service_id: str, limit: int) -> list[Deployment]:
        """One query; its items say where they live. An empty answer reads the service, so a
        service the caller cannot see is a 404, not an empty list."""
        found = self._repo.list_deployments(service_id, limit=max(1, min(limit, 100)))
        if not found:
            self._projects.get_service(who, service_id)
        for deployment in found[:1]:  # one service's: one check covers them all
            resource = self._projects.resources.deployment(deployment)
            who.require(replace(resource, kind="service", id=service_id))
        return found

    def list_releases(self, who: Access, service_id: str, limit: int) -> list[Release]:
        found = self._repo.list_releases(service_id, limit=max(1, min(limit, 100)))
        if not found:
            self._projects.get_service(who, service_id)
        for release in found[:1]:  # as list_deployments
            resource = self._projects.resources.release(release)
            who.require(replace(resource, kind="service", id=service_id))
        return found

    def get_variables(self, who: Access, service_id: str) -> VariableListing:
        return VariableListing.of(self._service_with_variables(who, service_id)[1])

    def read_logs(self, who: Access, deployment_id: str, stream: str, after: int, limit: int) -> LogPage:
        """Lines after the cursor; `done` once the stream can get no more lines (the build stream
        when the build is over, the deploy stream when the deployment ended)."""
        if stream not in ("build", "deploy"):
            raise BadRequest(f"query parameter 'stream' must be 'build' or 'deploy', got {stream!r}")
        deployment = self.get(who, deployment_id)
        limit = max(1, min(limit, 1000))
        lines = self._logs.read(deployment_id, stream, after, limit)
        if stream == "build":
            ended = deployment.status not in (DeploymentStatus.QUEUED, DeploymentStatus.BUILDING)
        else:
            ended = deployment.status in TERMINAL
        return LogPage(lines, lines[-1].seq if lines else after, ended and len(lines) < limit)

    def cancel(self, who: Access, deployment_id: str) -> Deployment:
        deployment = self.get(who, deployment_id)
        if not deployment.in_progress:
            raise InvalidTransition(
                f"deployment {deployment_id} is {deployment.status}; only QUEUED, "
                "BUILDING or DEPLOYING deployments can be cancelled"
            )
        cancelled = deployment.moved_to(
            DeploymentStatus.CANCELLED, iso(self._clock()), reason="cancelled by user"
        )
        self._repo.save(cancelled)
        self._workflow.stop(deployment_id, "cancelled by user")
        return cancelled

    # --- helpers -------------------------------------------------------------------------------

    def _service_with_variables(self, who: Access, service_id: str) -> tuple[Service, ServiceVariables]:
        """One read for both (they share a partition), the access check included."""
        service, variables = self._repo.get_service_with_variables(service_id)
        who.require(self._projects.resources.service(service))
        return service, variables

    def _redeployment(self, service: Service, variables: ServiceVariables) -> Deployment:
        if service.active_release_id is None:
            raise Conflict(f"service {service.name} has no live release to redeploy; run `railyard up` first")
        live = self._repo.get_release(service.active_release_id)
        # The artifact's config-file settings still win over the service's, as when it was built.
        settings = replace(service.settings, **live.settings_overrides)
        config = ConfigSnapshot(
            variables=dict(variables.values), settings=settings, sealed=dict(variables.sealed)
        )
        return self._new(
            service,
            DeploymentKind.REDEPLOY,
            config,
            artifact_key=live.artifact_key,
            start_command=live.start_command,
            settings_overrides=dict(live.settings_overrides),
            image=live.image,
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
        self, service: Service, kind: DeploymentKind, config: ConfigSnapshot, **fields: Any
    ) -> Deployment:
        now = iso(self._clock())
        return Deployment(
            id=self._ids("dep"),
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

    def _start(self, deployment: Deployment, *also: Any) -> Deployment:
        self._repo.save(deployment, *also)
        self._launch(deployment)
        return deployment

    def _launch(self, deployment: Deployment) -> None:
        """Starts the workflow; if that fails the deployment ends FAILED (nothing else would ever
        move it on) and the caller gets a TransientError to retry."""
        try:
            self._workflow.start(deployment)
        except Exception as error:
            failed = deployment.moved_to(
                DeploymentStatus.FAILED, iso(self._clock()), reason=f"the workflow could not start: {error}"
            )
            self._repo.save(failed)
            raise TransientError(f"could not start deployment {deployment.id}; try again") from error


class CronJobs:
    """Cron services (settings.cronSchedule): "Run now", as Railway's button does."""

    def __init__(self, repo: Repository, projects: ProjectService, trigger: CronTrigger) -> None:
        self._repo = repo
        self._projects = projects
        self._trigger = trigger

    def run_now(self, who: Access, service_id: str) -> tuple[Release, bool]:
        """Start one run of the live release's command; False when the previous run is still going
        (runs never overlap, as on Railway)."""
        service = self._projects.get_service(who, service_id)
        if service.active_release_id is None:
            raise Conflict(f"service {service.name} has no live release: deploy it first")
        release = self._repo.get_release(service.active_release_id)
        if release.config.settings.cron_schedule is None:
            raise BadRequest(
                f"service {service.name} is not a cron service: set settings.cronSchedule "
                "(or deploy.cronSchedule in railway.json) and deploy"
            )
        return release, self._trigger.run_now(service.id)
