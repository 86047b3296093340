"""The notifications and metrics queues' Lambda handlers (functions/notifications.py,
functions/metrics.py) fed what AWS feeds them: SQS records whose body is the EventBridge event the
catalogue's notify and metrics rules deliver, its detail the versioned envelope the deploy state
machine emits. What comes out is what a user sees: the log line per event, and the CloudWatch
metrics (EMF lines on stdout) with the names, dimensions and values one charts."""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib import wiring
from chalicelib.config import Settings
from railyard.localdev.pollers import LambdaContext, sqs_event
from tests.fakes import FakeBlobStore, FakeLogStore, FakeWorkflow, InMemoryRepository
from tests.support.event_fakes import InMemoryMetricsStore
from tests.support.principals import admin_access

WHO = admin_access()
CREATED = datetime(2026, 12, 3, 10, 0, 0, tzinfo=UTC)


@pytest.fixture
def platform() -> Iterator[wiring.Container]:
    settings = dataclasses.replace(Settings.from_env(), stage="qa")
    made = wiring.Container(
        settings,
        repository=InMemoryRepository(),
        workflow=FakeWorkflow(),
        blobs=FakeBlobStore(),
        logs=FakeLogStore(),
        metrics_store=InMemoryMetricsStore(),
    )
    made.clock = lambda: CREATED
    wiring.use(made)
    yield made
    wiring.use(None)


def _deployment(platform: wiring.Container) -> str:
    _, envs = platform.projects.create_project(WHO, "demo")
    service = platform.projects.create_service(WHO, envs[0].id, "web", None)
    _, key = platform.deployments.presign_upload(WHO, service.id)
    platform.blobs.put_bytes(platform.settings.sources_bucket, key, b"source")
    return platform.deployments.deploy_source(WHO, service.id, key).id


def _event(name: str, deployment_id: str, at: str, **data: Any) -> dict[str, Any]:
    """What EventBridge puts in the SQS body: the event, its detail the state machine's envelope."""
    envelope = {
        "data": {"deployment_id": deployment_id, "service_id": "svc_1", **data},
        "metadata": {
            "event_name": name,
            "event_source": "railyard",
            "event_version": "1",
            "correlation_id": deployment_id,
            "created_at": at,
        },
    }
    return {"version": "0", "id": f"ev-{name}", "detail-type": name, "source": "railyard", "detail": envelope}


def _sqs(*events: dict[str, Any]) -> dict[str, Any]:
    messages = [
        {"MessageId": f"m{i}", "ReceiptHandle": f"r{i}", "Body": json.dumps(e)} for i, e in enumerate(events)
    ]
    return sqs_event(messages, "arn:aws:sqs:us-east-1:123456789012:railyard-qa-metrics", "us-east-1")


def _emf(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]


def _charted(blobs: list[dict[str, Any]]) -> dict[tuple[str, tuple[tuple[str, str], ...]], list[float]]:
    """(metric name, its dimensions) -> values, as CloudWatch would extract them."""
    found: dict[tuple[str, tuple[tuple[str, str], ...]], list[float]] = {}
    for blob in blobs:
        (directive,) = blob["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "Railyard"
        (dimension_names,) = directive["Dimensions"]
        dimensions = tuple(sorted((d, blob[d]) for d in dimension_names))
        for metric in directive["Metrics"]:
            found.setdefault((metric["Name"], dimensions), []).extend(blob[metric["Name"]])
    return found


def test_a_deployments_events_become_the_metrics_a_user_charts(
    platform: wiring.Container, capsys: pytest.CaptureFixture[str]
) -> None:
    from functions.metrics import handler

    # GIVEN a deployment created at 10:00:00 that went through a cached build and succeeded 95 s later
    deployment_id = _deployment(platform)
    batch = _sqs(
        _event("deployment.requested", deployment_id, "2026-12-03T10:00:00.200Z"),
        _event("build.completed", deployment_id, "2026-12-03T10:00:30.000Z", cached=True, artifact_key="a"),
        _event("deployment.completed", deployment_id, "2026-12-03T10:01:35.000Z", status="SUCCESS"),
    )

    # WHEN the metrics queue delivers them in one batch
    result = handler(batch, LambdaContext("railyard-qa-metrics", "req-1"))

    # THEN each is counted by event, the cache hit is a 1, the end counts by status with its duration
    assert result == {"batchItemFailures": []}
    blobs = _emf(capsys.readouterr().out)
    stage = ("stage", "qa")
    assert _charted(blobs) == {
        ("DeploymentEvents", (("event", "deployment.requested"), stage)): [1.0],
        ("DeploymentEvents", (("event", "build.completed"), stage)): [1.0],
        ("BuildsCached", (("event", "build.completed"), stage)): [1.0],
        ("DeploymentEvents", (("event", "deployment.completed"), stage)): [1.0],
        ("Deployments", (stage, ("status", "SUCCESS"))): [1.0],
        ("DeploymentDuration", (stage, ("status", "SUCCESS"))): [95.0],
    }
    units = {m["Name"]: m["Unit"] for b in blobs for m in b["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert units["DeploymentDuration"] == "Seconds" and units["Deployments"] == "Count"
    # Charted at the time of the event, not of its delivery.
    ended = datetime(2026, 12, 3, 10, 1, 35, tzinfo=UTC)
    assert blobs[-1]["_aws"]["Timestamp"] == int(ended.timestamp() * 1000)


def test_a_failed_end_of_an_unknown_deployment_still_counts_and_a_bad_record_alone_is_retried(
    platform: wiring.Container, capsys: pytest.CaptureFixture[str]
) -> None:
    from functions.metrics import handler

    batch = _sqs(
        _event("deployment.completed", "dep_gone", "2026-12-03T10:01:35.000Z", status="FAILED"),
        _event("deployment.completed", "dep_x", "2026-12-03T10:01:35.000Z"),  # no status: drift
    )

    result = handler(batch, LambdaContext("railyard-qa-metrics", "req-2"))

    assert result == {"batchItemFailures": [{"itemIdentifier": "m1"}]}  # back to the queue, then its DLQ
    charted = _charted(_emf(capsys.readouterr().out))
    assert charted[("Deployments", (("stage", "qa"), ("status", "FAILED")))] == [1.0]
    assert not [key for key in charted if key[0] == "DeploymentDuration"]  # no record, no duration


def test_each_deployment_event_is_one_structured_log_line_naming_the_deployment(
    platform: wiring.Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions import notifications

    stream = io.StringIO()
    monkeypatch.setattr(notifications.logger.registered_handler, "stream", stream)
    batch = _sqs(
        _event("deployment.requested", "dep_1", "2026-12-03T10:00:00.200Z"),
        _event("deployment.completed", "dep_1", "2026-12-03T10:01:35.000Z", status="FAILED"),
        {"detail-type": "deployment.completed", "detail": {"data": {}, "metadata": {}}},  # not an envelope
    )

    result = notifications.handler(batch, LambdaContext("railyard-qa-notifications", "req-3"))

    assert result == {"batchItemFailures": [{"itemIdentifier": "m2"}]}
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    logged = [line for line in lines if line["level"] == "INFO"]
    assert [line["message"] for line in logged] == [
        "deployment dep_1: requested",
        "deployment dep_1 → FAILED",
    ]
    completed = logged[1]
    assert completed["correlation_id"] == "dep_1"
    assert (completed["event"], completed["status"], completed["service_id"]) == (
        "deployment.completed",
        "FAILED",
        "svc_1",
    )
