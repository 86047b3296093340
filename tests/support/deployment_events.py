"""Deployment events as the metrics and notifications queues receive them: SQS records whose body is
the EventBridge event a catalogue rule delivers, its detail the deploy state machine's envelope
(chalicelib/domain/events.py), timed `seconds` after a start."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from chalicelib.domain.ids import iso
from railyard.localdev.pollers import LambdaContext, sqs_event

QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:railyard-test-metrics"
CONTEXT = LambdaContext("railyard-test-metrics", "req-test")


def event(
    name: str,
    deployment_id: str,
    service_id: str,
    at: datetime,
    source: str = "railyard.workflow",
    **data: Any,
) -> dict[str, Any]:
    """`source`: the envelope's event_source (a live release's end has LIVE_END_SOURCE)."""
    envelope = {
        "data": {"deployment_id": deployment_id, "service_id": service_id, **data},
        "metadata": {
            "event_name": name,
            "event_source": source,
            "event_version": "1",
            "correlation_id": deployment_id,
            "created_at": iso(at),
        },
    }
    return {"version": "0", "id": f"ev-{name}", "detail-type": name, "source": "railyard", "detail": envelope}


def lifecycle(
    deployment_id: str, service_id: str, start: datetime, status: str, *, build: float, deploy: float
) -> list[dict[str, Any]]:
    """A source deployment's four events: a build of `build` s, then a rollout of `deploy` s."""
    built = start + timedelta(seconds=1 + build)
    return [
        event("deployment.requested", deployment_id, service_id, start + timedelta(seconds=1)),
        event("build.started", deployment_id, service_id, start + timedelta(seconds=1)),
        event("build.completed", deployment_id, service_id, built, cached=False, artifact_key="a"),
        event(
            "deployment.completed",
            deployment_id,
            service_id,
            built + timedelta(seconds=deploy),
            status=status,
        ),
    ]


def batch(*events: dict[str, Any]) -> dict[str, Any]:
    messages = [
        {"MessageId": f"m{i}", "ReceiptHandle": f"r{i}", "Body": json.dumps(e)} for i, e in enumerate(events)
    ]
    return sqs_event(messages, QUEUE_ARN, "us-east-1")
