"""The policy's view of each entity: where it lives (chalicelib/domain/policy.Resource).

Every entity below a project carries its workspace id (copied when it is made), so checking access to
an item costs no read beyond the item. Items written before that field existed have it empty; for
them the project is read once to find the workspace (`ResourceOf` does it, nothing else should).

A service id of the current format carries its place (domain/ids.py): `placed_service` gives its
resource from the id and the caller's workspaces, with no read at all.
"""

from __future__ import annotations

from chalicelib.domain.ids import place_of, workspace_of
from chalicelib.domain.models import Deployment, Environment, Project, Release, Service
from chalicelib.domain.policy import Principal, Resource
from chalicelib.domain.ports import Repository


def workspace_resource(workspace_id: str) -> Resource:
    return Resource("workspace", workspace_id, workspace_id)


def project_resource(project: Project) -> Resource:
    return Resource("project", project.id, project.org_id, project.id)


def placed_service(service_id: str, principal: Principal) -> Resource | None:
    """The resource of a service read from its id alone; None for an id of the old format. A place
    in none of the caller's workspaces gets no workspace, which the policy hides (404)."""
    place = place_of(service_id)
    if place is None:
        return None
    workspace = workspace_of(place, principal.workspace_ids) or ""
    return Resource("service", service_id, workspace, place.project_id, place.environment_id, service_id)


class ResourceOf:
    """Resources of entities, filling an old item's missing workspace from its project."""

    def __init__(self, repo: Repository) -> None:
        self._repo = repo

    def _workspace(self, workspace_id: str, project_id: str) -> str:
        return workspace_id or self._repo.get_project(project_id).org_id

    def environment(self, env: Environment) -> Resource:
        workspace = self._workspace(env.workspace_id, env.project_id)
        return Resource("environment", env.id, workspace, env.project_id, env.id)

    def service(self, service: Service) -> Resource:
        workspace = self._workspace(service.workspace_id, service.project_id)
        return Resource(
            "service", service.id, workspace, service.project_id, service.environment_id, service.id
        )

    def deployment(self, deployment: Deployment) -> Resource:
        workspace = self._workspace(deployment.workspace_id, deployment.project_id)
        return Resource(
            "deployment",
            deployment.id,
            workspace,
            deployment.project_id,
            deployment.environment_id,
            deployment.service_id,
        )

    def release(self, release: Release, service: Service | None = None) -> Resource:
        if release.workspace_id:
            return Resource(
                "release",
                release.id,
                release.workspace_id,
                release.project_id,
                release.environment_id,
                release.service_id,
            )
        owner = self.service(service or self._repo.get_service(release.service_id))
        return Resource(
            "release", release.id, owner.workspace_id, owner.project_id, owner.environment_id, owner.id
        )
