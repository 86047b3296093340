"""What creating a deployment no longer does while the client waits (docs/decisions/0027), done by
the real deploy state machine on moto with the real workers: the Prepare step finds the upload (a
missing one fails the deployment saying so) and an earlier build of the same source (then Build is
skipped), and the AuditRecorded state emits the creating request's audit event."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chalicelib.adapters.aws import client
from chalicelib.domain.audit import RequestAudit
from chalicelib.domain.events import AuditRecorded, Envelope
from chalicelib.domain.models import DeploymentStatus
from tests.fakes import FakeBuildRunner
from tests.support.workflow import WHO, Platform, platforms


@pytest.fixture
def platform(aws: int) -> Iterator[Callable[..., Platform]]:
    with platforms() as make:
        yield make


def _upload(p: Platform, content: bytes | None) -> str:
    _, key = p.container.deployments.presign_upload(WHO, p.service.id)
    if content is not None:
        p.container.blobs.put_bytes(p.settings.sources_bucket, key, content)
    return key


def _audit_tap(p: Platform) -> str:
    """A queue that receives every railyard.audit event on the platform's bus."""
    sqs, events = client("sqs"), client("events")
    queue = sqs.create_queue(QueueName="audit-tap")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = p.settings.catalogue.event_bus
    pattern = json.dumps({"detail-type": ["railyard.audit"]})
    events.put_rule(Name="audit-tap", EventBusName=bus, EventPattern=pattern)
    events.put_targets(Rule="audit-tap", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
    return queue


def _received(queue: str, deadline_seconds: float = 5) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline and not found:
        got = client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        found += [json.loads(m["Body"]) for m in got.get("Messages", [])]
    return found


def test_a_source_never_uploaded_ends_failed_with_a_log_line_saying_so(platform: Any) -> None:
    # GIVEN a deployment accepted for a source key whose tarball never arrived
    p = platform()
    deployment = p.container.deployments.deploy_source(WHO, p.service.id, _upload(p, None))

    # WHEN its workflow runs
    execution = p.wait(deployment.id)

    # THEN Prepare fails it with the reason, nothing is built, and its log says why
    assert execution["status"] == "FAILED"
    assert execution["entered"][-4:] == ["Prepare", "MarkFailed", "FailedEvent", "Failed"]
    failed = p.container.repository.get_deployment(deployment.id)
    assert failed.status == DeploymentStatus.FAILED
    assert failed.reason is not None and failed.reason.startswith(
        "SourceNotUploaded: the source upload was not found"
    )
    log = [line.message for line in p.container.logs.read(deployment.id, "deploy", 0, 100)]
    assert any("the source upload was not found" in line for line in log), log
    assert "Build" not in execution["entered"]


def test_the_same_source_again_skips_the_build_step(platform: Any) -> None:
    # GIVEN a source built and live, its artifact in the bucket
    builds = FakeBuildRunner()
    p = platform(builds)
    first = p.container.deployments.deploy_source(WHO, p.service.id, _upload(p, b"same bytes"))
    assert p.wait(first.id)["status"] == "SUCCEEDED"
    artifact = p.container.repository.get_deployment(first.id).artifact_key
    assert artifact is not None
    p.container.blobs.put_bytes(p.settings.artifacts_bucket, artifact, b"artifact")

    # WHEN the same bytes are deployed again
    again = p.container.deployments.deploy_source(WHO, p.service.id, _upload(p, b"same bytes"))
    execution = p.wait(again.id)

    # THEN Prepare finds the earlier build and the workflow goes straight to Deploy
    assert execution["status"] == "SUCCEEDED"
    entered = ["Audited", "NeedsBuild", "Prepare", "Prepared", "Cached", "Requested", "Deploy"]
    assert execution["entered"][:7] == entered
    deployed = p.container.repository.get_deployment(again.id)
    assert deployed.build_cached and deployed.artifact_key == artifact
    assert len(builds.calls) == 1


def test_the_creating_requests_audit_event_is_emitted_by_the_workflow(platform: Any) -> None:
    # GIVEN a tap on the bus's audit events, and a request's audit entry (as the route makes it)
    p = platform()
    tap = _audit_tap(p)
    path = f"/v1/services/{p.service.id}/deployments"
    key = _upload(p, b"source")
    audit = RequestAudit(
        p.container.audit, WHO, "POST", path, {"service_id": p.service.id}, 201, {"sourceKey": key}
    )

    # WHEN the deployment is created with it (one transaction) and its workflow runs
    deployment = p.container.deployments.deploy_source(WHO, p.service.id, key, audit=audit)
    execution = p.wait(deployment.id)

    # THEN the AuditRecorded state put the written entry on the bus, once, in the envelope
    assert execution["entered"][:2] == ["Audited", "AuditRecorded"]
    assert audit.written is not None
    (event,) = _received(tap)
    assert (event["source"], event["detail-type"]) == ("railyard", "railyard.audit")
    emitted = Envelope.model_validate(event["detail"]).typed_data()
    assert isinstance(emitted, AuditRecorded) and emitted == audit.written
    assert (emitted.path, emitted.status, emitted.service_id) == (path, 201, p.service.id)
