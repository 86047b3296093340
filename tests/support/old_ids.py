"""Items stored before ids carried their place (docs/decisions/0034): a project, environment and
service whose ids are plain `new_id`s (an 18-character body), as a durable local state or a real
table of an earlier release holds them."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.hostnames import HostnameReservation
from chalicelib.domain.ids import iso, new_id, place_of, utcnow
from chalicelib.domain.models import Environment, Project, Service


def old_format_service(container: Any, workspace_id: str | None = None) -> Service:
    """A service of the old id format in `workspace_id` (the container's default workspace)."""
    workspace = workspace_id or container.settings.org_id
    now = iso(utcnow())
    project = Project(new_id("prj"), workspace, "old" + new_id("x")[-6:], now)
    env = Environment(new_id("env"), project.id, "production", now, workspace_id=workspace)
    hostname = f"web-production-{project.name}"
    service = Service(
        id=new_id("svc"),
        project_id=project.id,
        environment_id=env.id,
        name="web",
        hostname=hostname,
        created_at=now,
        workspace_id=workspace,
    )
    assert place_of(service.id) is None
    container.repository.save(project, env, service, HostnameReservation(hostname, service.id, now))
    return service
