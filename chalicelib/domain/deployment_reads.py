"""The reading side of deployments: a deployment, a service's deployments and releases, its
variables and a deployment's log lines, each behind the caller's access check. The commands that
change them (deploy, roll back, set variables, cancel) are domain/services.py's DeploymentService,
which inherits these reads so the API keeps one object per deployment use case.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from chalicelib.domain.errors import BadRequest
from chalicelib.domain.models import (
    TERMINAL,
    Deployment,
    DeploymentStatus,
    Release,
    Service,
    ServiceVariables,
    VariableListing,
)
from chalicelib.domain.policy import Access, Resource
from chalicelib.domain.ports import LogLine, LogStore, Repository
from chalicelib.domain.projects import ProjectService

Item = TypeVar("Item", Deployment, Release)


@dataclass(frozen=True)
class LogPage:
    lines: list[LogLine]
    next: int  # the cursor for the next read
    done: bool


class DeploymentReads:
    """Reads of deployments, releases, variables and logs; each checks the caller may see them."""

    def __init__(self, repo: Repository, projects: ProjectService, logs: LogStore) -> None:
        self._repo = repo
        self._projects = projects
        self._logs = logs

    def get(self, who: Access, deployment_id: str) -> Deployment:
        deployment = self._repo.get_deployment(deployment_id)
        who.require(self._projects.resources.deployment(deployment))
        return deployment

    def list_deployments(self, who: Access, service_id: str, limit: int) -> list[Deployment]:
        """One query; its items say where they live."""
        found = self._repo.list_deployments(service_id, limit=max(1, min(limit, 100)))
        return self._visible(who, service_id, found, self._projects.resources.deployment)

    def list_releases(self, who: Access, service_id: str, limit: int) -> list[Release]:
        found = self._repo.list_releases(service_id, limit=max(1, min(limit, 100)))
        return self._visible(who, service_id, found, self._projects.resources.release)

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

    def _visible(
        self, who: Access, service_id: str, found: list[Item], resource_of: Callable[[Item], Resource]
    ) -> list[Item]:
        """`found` (one service's items) if the caller may see that service. An empty answer reads
        the service, so a service the caller cannot see is a 404, not an empty list."""
        if not found:
            self._projects.get_service(who, service_id)
        for item in found[:1]:  # one service's: one check covers them all
            who.require(replace(resource_of(item), kind="service", id=service_id))
        return found

    def _service_with_variables(self, who: Access, service_id: str) -> tuple[Service, ServiceVariables]:
        """One read for both (they share a partition), the access check included."""
        service, variables = self._repo.get_service_with_variables(service_id)
        who.require(self._projects.resources.service(service))
        return service, variables
