"""Environments as Railway has them (docs/decisions/0036): creating one empty or as a copy of
another, deleting one with everything it runs, and promoting one environment's live releases to
another.

- `create(who, project_id, name, copy_from=None)`: with `copy_from` (an environment's id or name in
  the same project) the new environment gets its shared variables (ADR 0037) and every service of
  that environment is made again in the new one with the same name, settings and variables, plain
  and sealed (sealed ones as ciphertext still bound to the service or environment they were sealed
  for: domain/sealing.py `copied_sealed`); each gets a hostname of its own. Deployments, releases
  and custom domains are not copied: the new services deploy on their own. `exist_ok=True` makes
  it an "ensure" (what a queue worker retrying it needs): an environment of that name is completed
  with the services it still lacks instead of refused.
- `delete(who, environment_id)`: refuses production (ProductionEnvironment, 409); cancels the
  environment's deployments in progress, stops every service's live release on the runtime, marks
  every release pruned (nothing can redeploy it any more) and deletes its artifact unless a release
  or a deployment in progress of another environment uses the same one (a promotion did), deletes
  the deployments' logs, then removes the environment, its services, their variables, hostnames
  and custom domains (`EnvironmentStore`). Every step is idempotent: a retry finishes the job.
- `promote(who, to_env, from_env, service_name=None)`: for each service of `from_env` with a live
  release and a service of the same name in `to_env`, a new deployment of that target service that
  runs the source's live artifact (no rebuild) with the TARGET's variables and settings
  (DeploymentService.promote).

Workers act through `system_access(workspace_id)`: an Access whose principal is the platform
itself, allowed everything in that workspace (the PR-environment worker uses it).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from chalicelib.domain.errors import BadRequest, Conflict, NotFound, ProductionEnvironment
from chalicelib.domain.ids import Clock, iso
from chalicelib.domain.models import (
    Deployment,
    DeploymentStatus,
    Environment,
    Release,
    Service,
    ServiceSettings,
)
from chalicelib.domain.policy import ALL_ACTIONS, Access, Action, Grant, Principal
from chalicelib.domain.ports import BlobStore, LogStore, Repository, Runtime, WorkflowStarter
from chalicelib.domain.projects import ProjectService
from chalicelib.domain.sealing import copied_sealed
from chalicelib.domain.services import DeploymentService

PRODUCTION = "production"  # the environment every project is made with, and that cannot be deleted
HISTORY_LIMIT = 1000  # releases / deployments of one service read when tearing it down


class EnvironmentStore(Protocol):
    """Removing what an environment is made of (the single table: adapters/dynamo/environments.py).
    Deleting what is already gone is no error."""

    def delete_service(self, service: Service) -> None:
        """The service, its variables, its hostname reservation and its custom domain records."""
        ...

    def delete_environment(self, environment: Environment) -> None: ...


def system_access(workspace_id: str, action: Action = Action.MANAGE) -> Access:
    """What a worker acts as: the platform itself, allowed everything in one workspace."""
    grant = Grant(workspace_id, ALL_ACTIONS)
    return Access(Principal(kind="system", subject="railyard", grants=(grant,), name="railyard"), action)


@dataclass(frozen=True)
class EnvironmentCopy:
    """A created environment and the services made in it (the copies, or none)."""

    environment: Environment
    services: tuple[Service, ...]
    copied_from: Environment | None = None


@dataclass(frozen=True)
class Teardown:
    """What deleting an environment did, for the answer and the log."""

    environment: Environment
    services: tuple[str, ...]  # names of the services removed
    cancelled: tuple[str, ...]  # deployment ids cancelled
    artifacts_deleted: int
    artifacts_kept: int  # shared with another environment's release (a promotion)


@dataclass(frozen=True)
class Promoted:
    service: str  # the name, the same in both environments
    deployment: Deployment | None  # None: skipped, see `why`
    release: Release | None
    why: str = ""


class Environments:
    """The use cases of the module docstring."""

    def __init__(
        self,
        repo: Repository,
        store: EnvironmentStore,
        projects: ProjectService,
        deployments: DeploymentService,
        runtime: Callable[[], Runtime],  # built on first use: creating or promoting needs none
        workflow: WorkflowStarter,
        blobs: BlobStore,
        logs: LogStore,
        artifacts_bucket: str,
        clock: Clock,
        artifact_objects: Callable[[str], list[str]] | None = None,
    ) -> None:
        self._repo = repo
        self._store = store
        self._projects = projects
        self._deployments = deployments
        self._runtime = runtime
        self._workflow = workflow
        self._blobs = blobs
        self._logs = logs
        self._bucket = artifacts_bucket
        self._clock = clock
        self._artifact_objects = artifact_objects or (lambda key: [key])

    # --- finding -------------------------------------------------------------------------------

    def find(self, who: Access, project_id: str, id_or_name: str) -> Environment:
        """An environment of the project by its id or its name."""
        for env in self._projects.list_environments(who, project_id):
            if id_or_name in (env.id, env.name):
                return env
        raise NotFound(f"environment {id_or_name!r} not found in project {project_id}")

    # --- creating ------------------------------------------------------------------------------

    def create(
        self,
        who: Access,
        project_id: str,
        name: str,
        copy_from: str | None = None,
        exist_ok: bool = False,
    ) -> EnvironmentCopy:
        source = self.find(who, project_id, copy_from) if copy_from else None
        if source is not None:
            # The copy carries the source's variable values into the new environment.
            who.require(self._projects.resources.environment(source), Action.READ_VARIABLES)
        try:
            env = self._projects.create_environment(who, project_id, name)
        except Conflict:
            existing = [e for e in self._repo.list_environments(project_id) if e.name == name]
            if not exist_ok or not existing:
                raise
            env = existing[0]
        if source is None:
            return EnvironmentCopy(env, tuple(self._repo.list_services(env.id)))
        self._copy_shared_variables(source, env)
        have = {s.name: s for s in self._repo.list_services(env.id)}
        made = []
        for original in self._repo.list_services(source.id):
            service = have.get(original.name) or self._copy_service(who, original, env)
            self._copy_variables(original, service)
            made.append(service)
        return EnvironmentCopy(env, tuple(made), source)

    def _copy_shared_variables(self, source: Environment, env: Environment) -> None:
        """The source's shared variables (ADR 0037), sealed ones still bound to the source; only
        into an environment that has none yet, so a retried copy changes nothing."""
        shared = self._repo.get_shared_variables(source.id)
        target = self._repo.get_shared_variables(env.id)
        if target.version or not (shared.values or shared.sealed):
            return
        self._repo.save(
            target.bumped(
                values=dict(shared.values),
                sealed={k: copied_sealed(v, source.id) for k, v in shared.sealed.items()},
            )
        )

    def _copy_service(self, who: Access, source: Service, env: Environment) -> Service:
        settings = {f.name: getattr(source.settings, f.name) for f in dataclasses.fields(ServiceSettings)}
        return self._projects.create_service(who, env.id, source.name, settings)

    def _copy_variables(self, source: Service, service: Service) -> None:
        """Into a copy whose variables were never stored (a retry after a first try died between
        making the service and copying them fills them in; a copy changed since is left alone)."""
        variables = self._repo.get_variables(source.id)
        target = self._repo.get_variables(service.id)
        if target.version == 0 and (variables.values or variables.sealed):
            copy = target.bumped(
                values=dict(variables.values),
                sealed={k: copied_sealed(v, source.id) for k, v in variables.sealed.items()},
            )
            with contextlib.suppress(Conflict):  # a concurrent try stored them first
                self._repo.save(copy)

    # --- deleting ------------------------------------------------------------------------------

    def delete(self, who: Access, environment_id: str, confirm: str | None = None) -> Teardown:
        """`confirm`, when given, must be the environment's name (the API asks for it)."""
        env = self._projects.get_environment(who, environment_id)
        who.require(self._projects.resources.environment(env), Action.MANAGE)
        if confirm is not None and confirm != env.name:
            raise BadRequest(
                f"deleting environment {env.name} needs ?confirm={env.name} (its name)"
                if not confirm
                else f"confirm={confirm!r} does not match the environment's name {env.name!r}"
            )
        if env.name == PRODUCTION:
            raise ProductionEnvironment(
                f"environment {PRODUCTION} of project {env.project_id} cannot be deleted: "
                "every project keeps it"
            )
        services = self._repo.list_services(env.id)
        cancelled = self._cancel_in_progress(env)
        runtime = self._runtime() if services else None
        shared = self._artifacts_elsewhere(env)
        deleted = kept = 0
        for service in services:
            assert runtime is not None
            runtime.stop(service.id)
            d, k = self._release_artifacts(service, runtime, shared)
            deleted, kept = deleted + d, kept + k
            for deployment in self._repo.list_deployments(service.id, limit=HISTORY_LIMIT):
                self._logs.delete(deployment.id)
            self._store.delete_service(service)
        self._store.delete_environment(env)
        return Teardown(env, tuple(s.name for s in services), tuple(cancelled), deleted, kept)

    def _cancel_in_progress(self, env: Environment) -> list[str]:
        why = f"environment {env.name} deleted"
        cancelled = []
        for deployment in self._repo.list_unfinished_deployments():
            if deployment.environment_id != env.id:
                continue
            try:
                current = self._repo.get_deployment(deployment.id)
                if current.in_progress:
                    ended = current.moved_to(DeploymentStatus.CANCELLED, iso(self._clock()), reason=why)
                    self._repo.save(ended)
                    cancelled.append(deployment.id)
            except (Conflict, NotFound):  # it moved meanwhile: its own worker decides its end
                pass
            self._workflow.stop(deployment.id, why)
        return cancelled

    def _artifacts_elsewhere(self, env: Environment) -> set[str]:
        """Artifacts of the project's other environments: their releases and deployments in
        progress may run an artifact built here (promotion), which must outlive this one."""
        keys: set[str] = set()
        for other in self._repo.list_environments(env.project_id):
            if other.id == env.id:
                continue
            for service in self._repo.list_services(other.id):
                for release in self._repo.list_releases(service.id, limit=HISTORY_LIMIT):
                    keys.add(release.artifact_key)
        for deployment in self._repo.list_unfinished_deployments():
            if deployment.environment_id != env.id and deployment.artifact_key:
                keys.add(deployment.artifact_key)
        return keys

    def _release_artifacts(self, service: Service, runtime: Runtime, shared: set[str]) -> tuple[int, int]:
        """Marks every release of the service pruned and deletes the artifacts no other environment
        uses; (artifacts deleted, artifacts kept because shared)."""
        reason = "removed with its environment"
        done: set[str] = set()
        kept: set[str] = set()
        for release in self._repo.list_releases(service.id, limit=HISTORY_LIMIT):
            if not release.pruned:
                with contextlib.suppress(Conflict):  # retention marked it meanwhile
                    self._repo.save(release.bumped(pruned_at=iso(self._clock()), pruned_reason=reason))
            key = release.artifact_key
            if key in shared:
                kept.add(key)
            elif key not in done:
                self._blobs.delete_keys(self._bucket, self._artifact_objects(key))
                done.add(key)
            runtime.forget_release(release.id)
        return len(done), len(kept)

    # --- promoting -----------------------------------------------------------------------------

    def promote(
        self,
        who: Access,
        to_environment_id: str,
        from_env: str,
        service_name: str | None = None,
    ) -> tuple[Environment, Environment, list[Promoted]]:
        """(source, target, one Promoted per service of the source considered)."""
        target = self._projects.get_environment(who, to_environment_id)
        source = self.find(who, target.project_id, from_env)
        if source.id == target.id:
            raise BadRequest(f"cannot promote environment {source.name} to itself")
        targets = {s.name: s for s in self._repo.list_services(target.id)}
        sources = self._repo.list_services(source.id)
        if service_name is not None:
            sources = [s for s in sources if s.name == service_name]
            if not sources:
                raise NotFound(f"service {service_name!r} not found in environment {source.name}")
        results = [self._promote_one(who, s, targets.get(s.name), target) for s in sources]
        if not any(r.deployment for r in results):
            reasons = "; ".join(f"{r.service}: {r.why}" for r in results) or f"{source.name} has no services"
            raise Conflict(f"nothing to promote from {source.name} to {target.name}: {reasons}")
        return source, target, results

    def _promote_one(
        self, who: Access, source: Service, target: Service | None, target_env: Environment
    ) -> Promoted:
        if target is None:
            return Promoted(source.name, None, None, f"no service {source.name} in {target_env.name}")
        if source.active_release_id is None:
            return Promoted(source.name, None, None, "no live release to promote")
        release = self._repo.get_release(source.active_release_id)
        deployment = self._deployments.promote(who, target.id, release)
        return Promoted(source.name, deployment, release)
