"""Projects, environments and services: creating them (names, reserved hostnames) and reading them,
each behind the one policy function (domain/policy.py) on the item loaded."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from chalicelib.domain.errors import BadRequest, Conflict
from chalicelib.domain.hostnames import HostnameReservation, base_hostname, candidates, random_suffix
from chalicelib.domain.ids import Clock, IdFactory, child_id, iso
from chalicelib.domain.models import Environment, Project, Service, ServiceSettings
from chalicelib.domain.policy import Access
from chalicelib.domain.ports import Repository
from chalicelib.domain.resources import ResourceOf, project_resource, workspace_resource

_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$")


def check_name(kind: str, name: str) -> str:
    if not _NAME.match(name):
        raise BadRequest(
            f"{kind} name {name!r} must be 1-32 lowercase letters, digits or '-', "
            "starting and ending with a letter or digit"
        )
    return name


ID_TRIES = 3  # fresh ids for a new project or environment before giving up


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
        check_name("project", name)
        # Names are unique per workspace: they are part of every service's hostname.
        if any(p.name == name for p in self._repo.list_projects(workspace)):
            raise Conflict(f"project {name!r} already exists")
        for _ in range(ID_TRIES):  # a fresh id again if one made in the same millisecond took it
            project = Project(child_id("prj", workspace, self._ids("prj")), workspace, name, now)
            production = Environment(
                child_id("env", project.id, self._ids("env")),
                project.id,
                "production",
                now,
                workspace_id=workspace,
            )
            try:
                self._repo.save(project, production)
            except Conflict:
                continue
            return project, [production]
        raise Conflict(f"could not make a free id for project {name!r}; try again")

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
        for _ in range(ID_TRIES):  # as create_project
            env_id = child_id("env", project_id, self._ids("env"))
            env = Environment(env_id, project_id, name, iso(self._clock()), workspace_id=project.org_id)
            try:
                self._repo.save(env)
            except Conflict:
                continue
            return env
        raise Conflict(f"could not make a free id for environment {name!r}; try again")

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
        service_settings = ServiceSettings(**dict(settings or {}))
        # The hostname is reserved platform-wide in the service's own transaction (a conditional
        # write): a name another service holds, in any workspace, fails it and the next candidate
        # (the name with a random suffix) is tried. Each try has a fresh id too: ids carry their
        # place (domain/ids.py) and so only a few random bits, and a service made in the same
        # millisecond in the same environment may hold the first one.
        for hostname in candidates(base_hostname(name, env.name, project.name), self._suffixes):
            service_id = child_id("svc", env.id, self._ids("svc"))
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
