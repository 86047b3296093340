"""The deployment-metrics use cases: recording a deployment event once (the metrics consumer), and
reading a project's figures over a window (the API). The figures' math: domain/deployment_metrics.py.

Recording is idempotent per (deployment, event name): the store writes an event's time only if the
record has none for that event yet, and says whether it did, so a redelivered event (SQS delivers at
least once; a retried workflow step puts its event again) changes nothing and is not charted twice.
A live release's end (`Envelope.is_live_end`) is a deployment's second `deployment.completed`: it is
kept in fields of its own (LIVE_END_FIELDS), once too, whichever of the two ends arrives first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from chalicelib.domain.deployment_metrics import (
    DEFAULT_WINDOW_DAYS,
    EVENT_TIMES,
    LIVE_END_FIELDS,
    MAX_WINDOW_DAYS,
    Day,
    DeploymentRecord,
    Figures,
    daily,
    figures,
)
from chalicelib.domain.errors import BadRequest, NotFound
from chalicelib.domain.events import DeploymentCompleted, Envelope
from chalicelib.domain.ids import Clock, iso, parse_iso
from chalicelib.domain.policy import Access
from chalicelib.domain.ports import Repository
from chalicelib.domain.projects import ProjectService

KEEP_SECONDS = (MAX_WINDOW_DAYS + 1) * 86400  # a record outlives the longest window by a day


@dataclass(frozen=True)
class DeploymentFact:
    """One event of one deployment, with where the deployment lives and when it was created."""

    project_id: str
    environment_id: str
    service_id: str
    deployment_id: str
    created_at: str
    event_name: str
    at: str  # the event's own time
    status: str | None = None  # deployment.completed's end status
    live_end: bool = False  # the end of a live release (after SUCCESS), not the workflow's end

    @property
    def fields(self) -> tuple[str, str]:
        """The record's attributes this fact's time and status are kept in."""
        return LIVE_END_FIELDS if self.live_end else (EVENT_TIMES[self.event_name], "status")


class MetricsStore(Protocol):
    def record(self, fact: DeploymentFact, expires_at: int) -> bool:
        """Keeps the fact's time (and status) in its `fields` of its deployment's record unless that
        time is already there; True when it wrote, False for a repeat."""
        ...

    def deployments(self, project_id: str, since: str) -> list[DeploymentRecord]:
        """The records of the project's deployments created at or after `since`, oldest first."""
        ...


@dataclass(frozen=True)
class Recorded:
    """What recording an event did: `new` is False for a repeat; `created_at` is the deployment's
    creation time (None when the deployment is gone)."""

    new: bool
    created_at: str | None


@dataclass(frozen=True)
class ServiceFigures:
    service_id: str
    environment_id: str
    name: str | None  # None: the service is gone
    figures: Figures


@dataclass(frozen=True)
class MetricsReport:
    project_id: str
    since: str
    until: str
    environment_id: str | None
    service_id: str | None
    figures: Figures
    services: tuple[ServiceFigures, ...]
    daily: tuple[Day, ...] = ()  # the window's days, oldest first (the overall figures' deployments)


class DeploymentMetrics:
    def __init__(self, store: MetricsStore, repo: Repository, projects: ProjectService, clock: Clock) -> None:
        self._store = store
        self._repo = repo
        self._projects = projects
        self._clock = clock

    def record(self, envelope: Envelope) -> Recorded:
        """Keeps one deployment event (raises on an event this module does not know: the DLQ)."""
        name = envelope.metadata.event_name
        if name not in EVENT_TIMES:
            raise ValueError(f"event {name!r} is not a deployment event the metrics keep")
        data = envelope.typed_data()
        try:
            deployment = self._repo.get_deployment(envelope.metadata.correlation_id)
        except NotFound:  # deleted since: nothing to key it by; it is charted, not kept
            return Recorded(new=True, created_at=None)
        fact = DeploymentFact(
            project_id=deployment.project_id,
            environment_id=deployment.environment_id,
            service_id=deployment.service_id,
            deployment_id=deployment.id,
            created_at=deployment.created_at,
            event_name=name,
            at=envelope.metadata.created_at,
            status=data.status if isinstance(data, DeploymentCompleted) else None,
            live_end=envelope.is_live_end,
        )
        created = parse_iso(deployment.created_at) or self._clock()
        new = self._store.record(fact, math.ceil(created.timestamp()) + KEEP_SECONDS)
        return Recorded(new=new, created_at=deployment.created_at)

    def report(
        self,
        who: Access,
        project_id: str,
        days: int = DEFAULT_WINDOW_DAYS,
        environment_id: str | None = None,
        service_id: str | None = None,
    ) -> MetricsReport:
        """The project's figures over the last `days` days (by deployment creation), overall and per
        service; narrowed to one environment or service when named."""
        if not 1 <= days <= MAX_WINDOW_DAYS:
            raise BadRequest(f"days must be between 1 and {MAX_WINDOW_DAYS}, got {days}")
        self._projects.get_project(who, project_id)  # 404 hidden, 403 not allowed
        now = self._clock()
        since = iso(now - timedelta(days=days))
        records = [
            r
            for r in self._store.deployments(project_id, since)
            if environment_id in (None, r.environment_id) and service_id in (None, r.service_id)
        ]
        per_service: dict[str, list[DeploymentRecord]] = {}
        for r in records:
            per_service.setdefault(r.service_id, []).append(r)
        services = tuple(
            ServiceFigures(sid, rs[0].environment_id, self._name(sid), figures(rs, days))
            for sid, rs in sorted(per_service.items())
        )
        until = iso(now)
        return MetricsReport(
            project_id,
            since,
            until,
            environment_id,
            service_id,
            figures(records, days),
            services,
            daily(records, since, until),
        )

    def _name(self, service_id: str) -> str | None:
        try:
            return self._repo.get_service(service_id).name
        except NotFound:
            return None
