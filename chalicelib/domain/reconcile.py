"""What a platform whose runtime lost its processes does when it starts again (the local platform
after a stop or a crash): the acknowledged state in the table is the truth, the runtime is made to
match it.

- Deployments that were in flight cannot continue: their workflow executions, queues and workers
  died with the platform. They end FAILED with the reason INTERRUPTED, a line in their deploy log
  saying so, and the previous release keeps (or goes back to) serving.
- Every service whose active deployment is SUCCESS, in every workspace (`every_workspace`: one
  Query of the workspace directory, no Scan), gets its active release back from the runtime,
  in parallel, before the platform says it is ready. A release that does not come back healthy
  makes that deployment CRASHED with the runtime's reason, as a crash would.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from chalicelib.domain.errors import Conflict, DomainError
from chalicelib.domain.ids import Clock, iso
from chalicelib.domain.live_end import record_live_end
from chalicelib.domain.models import IN_PROGRESS, DeploymentStatus, Service
from chalicelib.domain.ports import EventPublisher, LogStore, Repository, Runtime
from chalicelib.domain.release_spec import release_spec
from chalicelib.domain.sealing import Sealer

INTERRUPTED = "interrupted by a platform restart"
RESTORE_THREADS = 8  # services brought back at once: each mostly waits for its health check
_log = logging.getLogger(__name__)


class WorkspaceDirectory(Protocol):
    def all_workspace_ids(self) -> list[str]: ...


def every_workspace(directory: WorkspaceDirectory, *also: str) -> list[str]:
    """Every workspace with a record, and `also` (the local platform's default workspace has none)."""
    return list(dict.fromkeys([*also, *directory.all_workspace_ids()]))


@dataclass(frozen=True)
class Restored:
    service_id: str
    hostname: str
    release_number: int
    error: str | None = None  # why it did not come back, or None


class Reconciler:
    def __init__(
        self,
        repo: Repository,
        runtime: Runtime,
        logs: LogStore,
        clock: Clock,
        sealer: Sealer | None = None,
        events: EventPublisher | None = None,
    ) -> None:
        self._sealer = sealer  # opens the live releases' sealed variables
        self._events = events  # hears of a release that did not come back (CRASHED)
        self._repo = repo
        self._runtime = runtime
        self._logs = logs
        self._clock = clock

    def end_interrupted(self) -> list[str]:
        """FAILED for every deployment still in progress; returns their ids. Run it before any
        worker starts: nothing else may be moving these deployments."""
        ended = []
        for deployment in self._repo.list_unfinished_deployments():
            for _ in range(3):
                if deployment.status not in IN_PROGRESS:
                    break
                log = self._logs.open(deployment.id, "deploy")
                log.write(f"deployment FAILED: {INTERRUPTED}")
                log.close()
                try:
                    now = iso(self._clock())
                    self._repo.save(deployment.moved_to(DeploymentStatus.FAILED, now, reason=INTERRUPTED))
                    ended.append(deployment.id)
                    break
                except Conflict:
                    deployment = self._repo.get_deployment(deployment.id)
        return ended

    def live_services(self, org_ids: Iterable[str]) -> list[Service]:
        """Services of these workspaces whose active deployment is SUCCESS."""
        live = []
        for org_id in org_ids:
            for project in self._repo.list_projects(org_id):
                for environment in self._repo.list_environments(project.id):
                    for service in self._repo.list_services(environment.id):
                        if service.active_release_id is None or service.active_deployment_id is None:
                            continue
                        deployment = self._repo.get_deployment(service.active_deployment_id)
                        if deployment.status == DeploymentStatus.SUCCESS:
                            live.append(service)
        return live

    def restore(self, services: list[Service], progress: Callable[[], None] = lambda: None) -> list[Restored]:
        """Brings every service's active release back up, RESTORE_THREADS at a time."""
        if not services:
            return []
        with ThreadPoolExecutor(max_workers=min(RESTORE_THREADS, len(services))) as pool:
            return list(pool.map(lambda service: self._restore_one(service, progress), services))

    def _restore_one(self, service: Service, progress: Callable[[], None]) -> Restored:
        assert service.active_release_id is not None and service.active_deployment_id is not None
        release = self._repo.get_release(service.active_release_id)
        deployment_id = service.active_deployment_id
        log = self._logs.open(deployment_id, "deploy")
        log.write(f"platform restarted: bringing release v{release.number} back up")
        try:
            spec = release_spec(self._repo, service, release, deployment_id, self._sealer)
            self._runtime.activate(spec, log, progress)
        except DomainError as error:
            reason = f"release v{release.number} did not come back after a platform restart: {error}"
            log.write(reason)
            log.close()
            self._crashed(deployment_id, reason)
            return Restored(service.id, service.hostname, release.number, str(error))
        log.close()
        return Restored(service.id, service.hostname, release.number)

    def _crashed(self, deployment_id: str, reason: str) -> None:
        deployment, moved = record_live_end(
            self._repo, self._clock, deployment_id, reason, completed=False, events=self._events
        )
        if not moved and deployment.status == DeploymentStatus.SUCCESS:  # it kept changing
            _log.warning("deployment %s changed while it was being restored", deployment_id)
