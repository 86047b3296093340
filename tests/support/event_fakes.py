"""Fakes of the ports the bus's consumers and publishers use: an EventPublisher that keeps what was
published (or refuses it), and the metrics consumer's store, in memory."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.deployment_metrics import DeploymentRecord
from chalicelib.domain.events import Envelope
from chalicelib.domain.metrics_service import DeploymentFact


@dataclass
class FakeEventPublisher:
    """EventPublisher: keeps what was published; raises `error` instead when one is set (a bus that
    refuses the event)."""

    published: list[Envelope] = field(default_factory=list)
    error: Exception | None = None

    def publish(self, envelope: Envelope) -> None:
        if self.error is not None:
            raise self.error
        self.published.append(envelope)


class InMemoryMetricsStore:
    """MetricsStore (domain/metrics_service.py): a record per deployment, an event's time kept once."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}

    def record(self, fact: DeploymentFact, expires_at: int) -> bool:
        field_name, status_field = fact.fields
        kept = self.records.setdefault(
            fact.deployment_id,
            {
                "deployment_id": fact.deployment_id,
                "project_id": fact.project_id,
                "environment_id": fact.environment_id,
                "service_id": fact.service_id,
                "created_at": fact.created_at,
            },
        )
        if kept.get(field_name) is not None:
            return False
        kept[field_name] = fact.at
        if fact.status is not None:
            kept[status_field] = fact.status
        return True

    def deployments(self, project_id: str, since: str) -> list[DeploymentRecord]:
        kept = [
            r for r in self.records.values() if r["project_id"] == project_id and r["created_at"] >= since
        ]
        return [DeploymentRecord(**r) for r in sorted(kept, key=lambda r: r["created_at"])]
