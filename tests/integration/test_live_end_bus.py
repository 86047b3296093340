"""A live release's crash on the bus, on moto: the composition root's pipeline (the local runtime's
crash listener) puts one `deployment.completed` CRASHED on Railyard's EventBridge bus, the catalogue's
rules route it to the notifications, metrics and cleanup queues, and their consumers do what a user
notices: a `deployment.failed` webhook delivery with status CRASHED, the metrics record reading
CRASHED, retention run again without harm."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib import wiring
from chalicelib.adapters.aws import client
from chalicelib.config import Settings
from chalicelib.domain.events import Envelope
from chalicelib.domain.ids import iso
from chalicelib.domain.models import DeploymentStatus as S
from chalicelib.domain.webhook_delivery import DeliveryMessage
from railyard.localdev.bootstrap import Bootstrapped, bootstrap
from railyard.localdev.pollers import sqs_event
from tests.fakes import (
    FakeBlobStore,
    FakeBuildRunner,
    FakeLogStore,
    FakeRuntime,
    FakeWorkflow,
    InMemoryRepository,
)
from tests.support.deployment_events import CONTEXT
from tests.support.principals import admin_access

pytestmark = pytest.mark.timeout(60)
WHO = admin_access()
NOW = datetime(2026, 12, 4, 12, 0, 0, tzinfo=UTC)
ROUTED = ("notifications", "metrics", "cleanup")  # the catalogue's rules for deployment.completed


@pytest.fixture
def platform(aws: int) -> Iterator[tuple[wiring.Container, Bootstrapped]]:
    settings = Settings.from_env()
    resources = bootstrap(settings.catalogue, settings.account_id)
    made = wiring.Container(
        settings,
        repository=InMemoryRepository(),
        workflow=FakeWorkflow(),
        blobs=FakeBlobStore(),
        logs=FakeLogStore(),
        runtime=FakeRuntime(),
        build_runner=FakeBuildRunner(),
    )
    made.clock = lambda: NOW
    wiring.use(made)
    yield made, resources
    wiring.use(None)


def _live_deployment(platform: wiring.Container) -> tuple[str, str]:
    """(project id, deployment id) of a deployment that went live (SUCCESS)."""
    _, envs = platform.projects.create_project(WHO, "shop")
    service = platform.projects.create_service(WHO, envs[0].id, "web", None)
    _, key = platform.deployments.presign_upload(WHO, service.id)
    platform.blobs.put_bytes(platform.settings.sources_bucket, key, b"source")
    deployment = platform.deployments.deploy_source(WHO, service.id, key)
    for status in (S.DEPLOYING, S.SUCCESS):
        deployment = deployment.moved_to(status, iso(NOW))
        platform.repository.save(deployment)
    return service.project_id, deployment.id


def _received(url: str) -> list[dict[str, Any]]:
    answer = client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    return list(answer.get("Messages", []))


def _feed(handler: Any, messages: list[dict[str, Any]], resources: Bootstrapped, key: str) -> Any:
    return handler(sqs_event(messages, resources.queue_arns[key], "us-east-1"), CONTEXT)


def test_a_crash_after_going_live_reaches_webhooks_metrics_and_retention(
    platform: tuple[wiring.Container, Bootstrapped],
) -> None:
    from functions.cleanup import handler as cleanup
    from functions.metrics import handler as metrics
    from functions.notifications import handler as notifications

    container, resources = platform
    # GIVEN a live deployment whose project has a webhook for failures
    project_id, deployment_id = _live_deployment(container)
    container.webhooks.add(WHO, project_id, "https://hooks.example.com/railyard", ["deployment.failed"])

    # WHEN its live release crashes, and the crash is reported twice
    container.pipeline.mark_crashed(deployment_id, "the process exited with code 1")
    container.pipeline.mark_crashed(deployment_id, "the process exited with code 1")

    # THEN each queue the catalogue routes deployment.completed to holds the one CRASHED event
    delivered = {key: _received(resources.queue_urls[key]) for key in ROUTED}
    for key, messages in delivered.items():
        assert len(messages) == 1, key
        body = json.loads(messages[0]["Body"])
        assert (body["source"], body["detail-type"]) == ("railyard", "deployment.completed")
        envelope = Envelope.model_validate(body["detail"])
        assert envelope.is_live_end and envelope.typed_data().model_dump()["status"] == "CRASHED"
        assert envelope.metadata.correlation_id == deployment_id

    # AND the notifications consumer sends the webhook a deployment.failed with status CRASHED
    assert _feed(notifications, delivered["notifications"], resources, "notifications") == {
        "batchItemFailures": []
    }
    (queued,) = _received(resources.queue_urls["webhook-deliveries"])
    message = DeliveryMessage.from_json(json.loads(queued["Body"]))
    assert (message.event, message.payload["type"]) == ("deployment.failed", "Deployment.failed")
    assert message.payload["details"]["status"] == "CRASHED"
    assert message.payload["details"]["reason"] == "the process exited with code 1"

    # AND the metrics record reads CRASHED, and retention runs again without failing
    assert _feed(metrics, delivered["metrics"], resources, "metrics") == {"batchItemFailures": []}
    assert container.metrics.report(WHO, project_id, days=1).figures.by_status == {"CRASHED": 1}
    assert _feed(cleanup, delivered["cleanup"], resources, "cleanup") == {"batchItemFailures": []}
