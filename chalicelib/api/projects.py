"""Routes for projects, environments and services."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api.environment_schemas import copy_view
from chalicelib.api.routing import Context, route
from chalicelib.api.schemas import (
    EnvironmentCreate,
    ProjectCreate,
    ServiceCreate,
    ServicePatch,
    environment_view,
    parse,
    project_view,
    service_view,
)
from chalicelib.domain.policy import Action

bp = Blueprint(__name__)


@route(
    bp,
    "/v1/projects",
    "POST",
    request_model=ProjectCreate,
    status=201,
    idempotent=True,
    action=Action.MANAGE,
)
def create_project(ctx: Context) -> tuple[int, Any]:
    """Create a project (with its production environment)."""
    body = parse(ProjectCreate, ctx.body)
    project, envs = ctx.c.projects.create_project(ctx.who, body.name, body.workspaceId)
    return 201, {"project": project_view(project), "environments": [environment_view(e) for e in envs]}


@route(bp, "/v1/projects", action=Action.READ)
def list_projects(ctx: Context) -> tuple[int, Any]:
    """List projects."""
    projects = ctx.c.projects.list_projects(ctx.who, ctx.query.get("workspaceId"))
    return 200, {"projects": [project_view(p) for p in projects]}


@route(bp, "/v1/projects/{project_id}", action=Action.READ)
def get_project(ctx: Context, project_id: str) -> tuple[int, Any]:
    """Get a project and its environments."""
    project, envs = ctx.c.projects.get_project_with_environments(ctx.who, project_id)
    return 200, {"project": project_view(project), "environments": [environment_view(e) for e in envs]}


@route(
    bp,
    "/v1/projects/{project_id}/environments",
    "POST",
    request_model=EnvironmentCreate,
    status=201,
    idempotent=True,
    action=Action.MANAGE,
)
def create_environment(ctx: Context, project_id: str) -> tuple[int, Any]:
    """Create an environment, empty or a copy of another (copyFrom)."""
    body = parse(EnvironmentCreate, ctx.body)
    made = ctx.c.environments.create(ctx.who, project_id, body.name, body.copyFrom)
    return 201, copy_view(made, ctx.c.settings.public_url)


@route(bp, "/v1/projects/{project_id}/environments", action=Action.READ)
def list_environments(ctx: Context, project_id: str) -> tuple[int, Any]:
    """List environments of a project."""
    envs = ctx.c.projects.list_environments(ctx.who, project_id)
    return 200, {"environments": [environment_view(e) for e in envs]}


@route(
    bp,
    "/v1/environments/{environment_id}/services",
    "POST",
    request_model=ServiceCreate,
    status=201,
    idempotent=True,
    action=Action.MANAGE,
)
def create_service(ctx: Context, environment_id: str) -> tuple[int, Any]:
    """Create a service in an environment."""
    body = parse(ServiceCreate, ctx.body)
    settings = body.settings.changes() if body.settings else None
    service = ctx.c.projects.create_service(ctx.who, environment_id, body.name, settings)
    return 201, {"service": service_view(service, ctx.c.settings.public_url(service.hostname))}


@route(bp, "/v1/environments/{environment_id}/services", action=Action.READ)
def list_services(ctx: Context, environment_id: str) -> tuple[int, Any]:
    """List services of an environment."""
    services = ctx.c.projects.list_services(ctx.who, environment_id)
    return 200, {"services": [service_view(s, ctx.c.settings.public_url(s.hostname)) for s in services]}


@route(bp, "/v1/services/{service_id}", action=Action.READ)
def get_service(ctx: Context, service_id: str) -> tuple[int, Any]:
    """Get a service."""
    service = ctx.c.projects.get_service(ctx.who, service_id)
    return 200, {"service": service_view(service, ctx.c.settings.public_url(service.hostname))}


@route(bp, "/v1/services/{service_id}/cron/run", "POST", status=202, idempotent=True, action=Action.DEPLOY)
def run_cron_now(ctx: Context, service_id: str) -> tuple[int, Any]:
    """Run a cron service's command now (skipped while the previous run is still going)."""
    release, started = ctx.c.cron.run_now(ctx.who, service_id)
    return 202, {"started": started, "releaseId": release.id}


@route(bp, "/v1/services/{service_id}", "PATCH", request_model=ServicePatch, action=Action.MANAGE)
def update_service(ctx: Context, service_id: str) -> tuple[int, Any]:
    """Change a service's settings (applied by its next deployment)."""
    changes = parse(ServicePatch, ctx.body).settings.changes()
    service = ctx.c.projects.update_settings(ctx.who, service_id, changes)
    return 200, {"service": service_view(service, ctx.c.settings.public_url(service.hostname))}
