"""Cron services (settings.cronSchedule): "Run now", as Railway's button does. Schedules themselves
are the runtime's (domain/schedule.py)."""

from __future__ import annotations

from chalicelib.domain.errors import BadRequest, Conflict
from chalicelib.domain.models import Release
from chalicelib.domain.policy import Access
from chalicelib.domain.ports import CronTrigger, Repository
from chalicelib.domain.projects import ProjectService


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
