"""The metrics consumer (functions/metrics.py) on the table in moto: a redelivered event is recorded
and charted once (the conditional write keyed by deployment and event name), and the record is the
one item per deployment the adapter's layout describes; a live release's later end (a second
deployment.completed) is kept beside the workflow's, once, in whichever order they arrive."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib import wiring
from chalicelib.adapters.aws import client
from chalicelib.adapters.dynamo.schema import create_table
from chalicelib.config import Settings
from chalicelib.domain.events import LIVE_END_SOURCE
from tests.fakes import FakeBlobStore, FakeLogStore, FakeWorkflow, InMemoryRepository
from tests.support.deployment_events import CONTEXT, batch, event, lifecycle
from tests.support.principals import admin_access

WHO = admin_access()
CREATED = datetime(2026, 12, 3, 10, 0, 0, tzinfo=UTC)


@pytest.fixture
def platform(aws: int) -> Iterator[wiring.Container]:
    settings = dataclasses.replace(Settings.from_env(), stage="qa")
    create_table(settings.table_name)
    made = wiring.Container(
        settings,
        repository=InMemoryRepository(),
        workflow=FakeWorkflow(),
        blobs=FakeBlobStore(),
        logs=FakeLogStore(),
    )
    made.clock = lambda: CREATED
    wiring.use(made)
    yield made
    wiring.use(None)


def _deployment(platform: wiring.Container) -> tuple[str, str, str]:
    """(project id, service id, deployment id) of a new source deployment."""
    _, envs = platform.projects.create_project(WHO, "demo")
    service = platform.projects.create_service(WHO, envs[0].id, "web", None)
    _, key = platform.deployments.presign_upload(WHO, service.id)
    platform.blobs.put_bytes(platform.settings.sources_bucket, key, b"source")
    return service.project_id, service.id, platform.deployments.deploy_source(WHO, service.id, key).id


def _charted_ends(out: str) -> list[str]:
    """The statuses of the Deployments counts the EMF lines chart."""
    blobs = [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]
    return [b["status"] for b in blobs if "Deployments" in b]


def test_the_same_event_twice_is_recorded_and_charted_once(
    platform: wiring.Container, capsys: pytest.CaptureFixture[str]
) -> None:
    from functions.metrics import handler

    # GIVEN a deployment whose four events were delivered and recorded
    project_id, service_id, deployment_id = _deployment(platform)
    events = lifecycle(deployment_id, service_id, CREATED, "FAILED", build=20, deploy=5)
    assert handler(batch(*events), CONTEXT) == {"batchItemFailures": []}
    assert _charted_ends(capsys.readouterr().out) == ["FAILED"]

    # WHEN its end is delivered again, in the same batch twice, and a drifted copy claims SUCCESS
    drifted = json.loads(json.dumps(events[-1]))
    drifted["detail"]["data"]["status"] = "SUCCESS"
    assert handler(batch(events[-1], events[-1], drifted), CONTEXT) == {"batchItemFailures": []}

    # THEN nothing more is charted, and the one record keeps the first end
    assert _charted_ends(capsys.readouterr().out) == []
    items = client("dynamodb").scan(TableName=platform.settings.table_name)["Items"]
    (record,) = [i for i in items if i["pk"]["S"] == f"METRICS#{project_id}"]
    assert record["sk"]["S"].endswith(f"#{deployment_id}") and record["status"]["S"] == "FAILED"
    assert record["completed_at"]["S"] == "2026-12-03T10:00:26.000Z"
    assert int(record["expires_at"]["N"]) == int(CREATED.timestamp()) + 91 * 86400
    report = platform.metrics.report(WHO, project_id, days=1)
    assert report.figures.by_status == {"FAILED": 1} and report.figures.build_duration.count == 1


def test_a_crash_after_going_live_is_kept_as_a_second_end_once_whichever_end_arrives_first(
    platform: wiring.Container, capsys: pytest.CaptureFixture[str]
) -> None:
    from functions.metrics import handler

    # GIVEN a deployment that went live, and the crash of its live release 5 minutes after it began
    project_id, service_id, deployment_id = _deployment(platform)
    events = lifecycle(deployment_id, service_id, CREATED, "SUCCESS", build=20, deploy=5)
    crash_at = CREATED + timedelta(minutes=5)
    crash = event(
        "deployment.completed", deployment_id, service_id, crash_at, source=LIVE_END_SOURCE, status="CRASHED"
    )

    # WHEN the crash reaches the queue before the workflow's SUCCESS, and then everything comes again
    assert handler(batch(events[0], crash), CONTEXT) == {"batchItemFailures": []}
    assert handler(batch(*events, crash), CONTEXT) == {"batchItemFailures": []}

    # THEN the crash is charted once as a live release's end, the deployment once as a SUCCESS
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert [b["status"] for b in blobs if "LiveReleaseEnds" in b] == ["CRASHED"]
    assert [b["status"] for b in blobs if "Deployments" in b] == ["SUCCESS"]
    # AND the one record keeps both ends: the workflow's, and the crash after it
    items = client("dynamodb").scan(TableName=platform.settings.table_name)["Items"]
    (record,) = [i for i in items if i["pk"]["S"] == f"METRICS#{project_id}"]
    assert (record["status"]["S"], record["completed_at"]["S"]) == ("SUCCESS", "2026-12-03T10:00:26.000Z")
    assert (record["ended_status"]["S"], record["ended_at"]["S"]) == ("CRASHED", "2026-12-03T10:05:00.000Z")
    # AND the project's figures count it CRASHED, with its rollout's duration
    report = platform.metrics.report(WHO, project_id, days=1)
    assert report.figures.by_status == {"CRASHED": 1} and report.figures.restores_pending == 1
    assert report.figures.deploy_duration.count == 1
