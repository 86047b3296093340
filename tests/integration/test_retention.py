"""Retention with the real parts: DynamoDB, S3 and SQS on the moto server, the LocalRuntime running
real processes, the real pipeline, and the cleanup worker fed by the catalogue's EventBridge rule.

The README's bound, "100 deploys of a service leave at most 11 release directories and artifacts",
is the default case (keep 10) of "10 x keep deploys leave at most keep + 1". Retention depends on
the number of deploys only through keep, STOP_AFTER and LOGS_STOP_AFTER, so the bound is proven
with keep 3 and 30 deploys (logs kept 9 days, one deploy a day: the same proportions as 30 of 100)
at a third of the cost; every branch of a run still executes: marking, sweeping, a history read
cut short by STOP_AFTER settled releases, expired logs deleted and a log read cut short by
LOGS_STOP_AFTER. The defaults themselves (10 releases, 30 days) are checked on their own."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chalicelib import wiring
from chalicelib.adapters.aws import client
from chalicelib.adapters.runtime.local import LocalRuntime
from chalicelib.adapters.storage import S3BlobStore
from chalicelib.config import Settings
from chalicelib.domain.built_release import BuiltRelease
from chalicelib.domain.errors import ReleasePruned
from chalicelib.domain.ids import iso, new_id
from chalicelib.domain.models import (
    ConfigSnapshot,
    Deployment,
    DeploymentKind,
    DeploymentStatus,
    Release,
    Service,
)
from railyard.localdev.bootstrap import Bootstrapped, bootstrap
from railyard.localdev.pollers import QueuePoller, sqs_event
from tests.support import tiny_app
from tests.support.principals import admin_access

pytestmark = pytest.mark.timeout(300)

WHO = admin_access()
KEEP = 3  # RAILYARD_KEEP_RELEASES for the bound test (the default is 10: see the module docstring)
DEPLOYS = 10 * KEEP  # as 100 deploys are to the default keep
LOG_DAYS = 9  # RAILYARD_LOG_RETENTION_DAYS: 30 days (the default) scaled as 30 deploys are to 100
FILLER = 20_000  # bytes of incompressible data in each release, so each one costs disk


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class Platform:
    """The control plane's parts on moto with a LocalRuntime, wired as `railyard dev` wires them."""

    def __init__(self) -> None:
        self.settings = Settings.from_env()
        self.resources: Bootstrapped = bootstrap(self.settings.catalogue, self.settings.account_id)
        self.clock = Clock()
        self.blobs = S3BlobStore()
        self.runtime = LocalRuntime(
            self.settings.data_dir, self.blobs, self.settings.artifacts_bucket, on_crash=lambda d, r: None
        )
        self.runtime.start()
        self.container = wiring.Container(self.settings, runtime=self.runtime, clock=self.clock)
        wiring.use(self.container)
        quick = {"overlap_seconds": 0.0, "draining_seconds": 1.0, "healthcheck_timeout": 20.0}
        _, envs = self.container.projects.create_project(WHO, "demo")
        self.service: Service = self.container.projects.create_service(WHO, envs[0].id, "web", quick)
        self.releases_dir = Path(self.settings.data_dir) / "releases"

    def deploy(self, version: str) -> Deployment:
        """A built deployment (its artifact stored as the local build runner stores one), deployed
        by the real Deploy step."""
        body = tiny_app.pack(version, FILLER)
        key = f"artifacts/{hashlib.sha256(body).hexdigest()}.tar.gz"
        self.blobs.put_bytes(self.settings.artifacts_bucket, key, body)
        self.blobs.put_bytes(self.settings.artifacts_bucket, key.replace(".tar.gz", ".json"), b"{}")
        now = iso(self.clock())
        deployment = Deployment(
            id=new_id("dep"),
            service_id=self.service.id,
            project_id=self.service.project_id,
            environment_id=self.service.environment_id,
            kind=DeploymentKind.SOURCE,
            status=DeploymentStatus.BUILDING,
            config=ConfigSnapshot({}, self.service.settings),
            created_at=now,
            updated_at=now,
            built=BuiltRelease(key, tiny_app.START_COMMAND),
        )
        self.container.repository.save(deployment)
        self.container.pipeline.deploy(deployment.id, heartbeat=lambda: None)
        return self.container.repository.get_deployment(deployment.id)

    def release_dirs(self) -> set[str]:
        return {p.name for p in self.releases_dir.iterdir() if not p.name.startswith(".")}

    def disk_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.releases_dir.rglob("*") if p.is_file())

    def keys(self, bucket: str, prefix: str) -> list[str]:
        return self.blobs.list_keys(bucket, prefix)

    def answer(self) -> bytes:
        import http.client

        connection = http.client.HTTPConnection("127.0.0.1", self.runtime.router_port, timeout=5)
        try:
            connection.request("GET", "/", headers={"Host": f"{self.service.hostname}.localhost"})
            return connection.getresponse().read()
        finally:
            connection.close()


def _running() -> Iterator[Platform]:
    made = Platform()
    try:
        yield made
    finally:
        made.runtime.close()
        wiring.use(None)


@pytest.fixture
def platform(aws: int) -> Iterator[Platform]:
    yield from _running()


@pytest.fixture
def pruning_platform(aws: int, monkeypatch: pytest.MonkeyPatch) -> Iterator[Platform]:
    """A platform that keeps KEEP releases and LOG_DAYS days of logs."""
    monkeypatch.setenv("RAILYARD_KEEP_RELEASES", str(KEEP))
    monkeypatch.setenv("RAILYARD_LOG_RETENTION_DAYS", str(LOG_DAYS))
    yield from _running()


def test_by_default_ten_releases_and_thirty_days_of_logs_are_kept(aws: int) -> None:
    settings = Settings.from_env()
    assert (settings.keep_releases, settings.log_retention_days) == (10, 30)


def test_ten_times_keep_deploys_keep_disk_and_bucket_use_bounded(pruning_platform: Platform) -> None:
    platform = pruning_platform
    keep = platform.settings.keep_releases
    assert (keep, platform.settings.log_retention_days) == (KEEP, LOG_DAYS)
    most_dirs = most_bytes = 0
    started = time.monotonic()

    cleaning = 0.0
    for number in range(1, DEPLOYS + 1):
        deployment = platform.deploy(f"v{number}")
        assert deployment.status == DeploymentStatus.SUCCESS
        cleanup_started = time.monotonic()
        platform.container.retention.after_deployment(deployment.id)  # what the cleanup worker runs
        cleaning += time.monotonic() - cleanup_started
        most_dirs = max(most_dirs, len(platform.release_dirs()))
        most_bytes = max(most_bytes, platform.disk_bytes())
        platform.clock.now += timedelta(days=1)

    seconds = time.monotonic() - started
    artifacts = platform.keys(platform.settings.artifacts_bucket, "artifacts/")
    releases = platform.container.repository.list_releases(platform.service.id, limit=DEPLOYS)
    kept = [r for r in releases if not r.pruned]
    print(
        f"\n{DEPLOYS} deploys in {seconds:.1f}s (retention {cleaning / DEPLOYS * 1000:.0f} ms a run): "
        f"at most {most_dirs} release dirs and {most_bytes} bytes on disk (of {DEPLOYS * FILLER} written); "
        f"{len(artifacts)} artifact objects left; {len(kept)} releases kept"
    )
    assert most_dirs <= keep + 1
    assert most_bytes <= (keep + 1) * (FILLER + 4096)  # all DEPLOYS releases would be DEPLOYS * FILLER
    assert [r.number for r in kept] == list(range(DEPLOYS, DEPLOYS - keep, -1))
    assert platform.release_dirs() == {r.id for r in kept}
    assert sorted(artifacts) == sorted(
        [r.artifact_key for r in kept] + [r.artifact_key.replace(".tar.gz", ".json") for r in kept]
    )
    # Logs: LOG_DAYS days (one deploy a day) of deployments, plus the kept releases' (all recent here).
    logged = {key.split("/")[1] for key in platform.keys(platform.settings.logs_bucket, "logs/")}
    deployments = platform.container.repository.list_deployments(platform.service.id, limit=DEPLOYS)
    cutoff = iso(platform.clock.now - timedelta(days=1 + platform.settings.log_retention_days))
    assert logged == {d.id for d in deployments if d.updated_at >= cutoff}
    assert len(logged) <= platform.settings.log_retention_days + 2
    # The live release was never touched, and a rollback to a pruned one says why it cannot be.
    assert platform.answer() == f"v{DEPLOYS}".encode()
    with pytest.raises(ReleasePruned, match=rf"^release v1 was pruned by retention \(keep {KEEP}\)$"):
        platform.container.deployments.rollback(WHO, platform.service.id, deployments[-1].id)


def test_the_cleanup_worker_prunes_after_each_completed_deployment_event(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    from functions.cleanup import handler

    deployed = [platform.deploy(f"v{n}") for n in range(1, 4)]
    assert len(platform.release_dirs()) == 3
    monkeypatch.setenv("RAILYARD_KEEP_RELEASES", "1")
    container = wiring.Container(Settings.from_env(), runtime=platform.runtime, clock=platform.clock)
    wiring.use(container)
    stop = threading.Event()
    queue = "cleanup"
    worker = QueuePoller(
        "cleanup-test",
        platform.resources.queue_urls[queue],
        platform.resources.queue_arns[queue],
        handler,
        stop,
    )
    worker.start()
    try:
        _publish_completed(platform, deployed[-1])  # as the deploy state machine's Completed state

        handled = _eventually(lambda: _queue_empty(platform, queue))  # deleted once handled

        assert handled
        assert _release(platform, deployed[0]).pruned and _release(platform, deployed[1]).pruned
        assert not _release(platform, deployed[2]).pruned
        # v2 may still be draining: its directory goes once its process is gone.
        assert _eventually(lambda: platform.release_dirs() == {deployed[2].release_id})
        artifacts = platform.keys(platform.settings.artifacts_bucket, "artifacts/")
        live = deployed[2].artifact_key
        assert live is not None
        assert sorted(artifacts) == sorted({live, live.replace(".tar.gz", ".json")})
    finally:
        stop.set()
        worker.join(timeout=5)


def test_a_message_that_is_not_a_completed_deployment_is_left_for_the_dead_letter_queue(
    platform: Platform,
) -> None:
    from functions.cleanup import handler

    completed = platform.deploy("v1")
    other = {"detail": {"data": {"deployment_id": "dep_x", "service_id": "svc_x"}, "metadata": {}}}
    messages = [
        {
            "MessageId": "good",
            "ReceiptHandle": "r1",
            "Body": json.dumps({"detail": _completed(platform, completed)}),
        },
        {"MessageId": "bad", "ReceiptHandle": "r2", "Body": json.dumps(other)},
    ]

    response = handler(sqs_event(messages, platform.resources.queue_arns["cleanup"], "us-east-1"), None)

    assert response["batchItemFailures"] == [{"itemIdentifier": "bad"}]  # retried, then the DLQ


def _completed(platform: Platform, deployment: Deployment) -> dict[str, Any]:
    """The `deployment.completed` envelope, as the deploy state machine's Completed state sends it."""
    return {
        "data": {"deployment_id": deployment.id, "service_id": deployment.service_id, "status": "SUCCESS"},
        "metadata": {
            "event_name": "deployment.completed",
            "event_source": "railyard.workflow",
            "event_version": "1",
            "correlation_id": deployment.id,
            "created_at": iso(platform.clock()),
        },
    }


def _publish_completed(platform: Platform, deployment: Deployment) -> None:
    detail = _completed(platform, deployment)
    entry = {
        "EventBusName": platform.settings.catalogue.event_bus,
        "Source": "railyard",
        "DetailType": "deployment.completed",
        "Detail": json.dumps(detail),
    }
    assert client("events").put_events(Entries=[entry])["FailedEntryCount"] == 0


def _release(platform: Platform, deployment: Deployment) -> Release:
    assert deployment.release_id is not None
    return platform.container.repository.get_release(deployment.release_id)


def _queue_empty(platform: Platform, queue: str) -> bool:
    attributes = client("sqs").get_queue_attributes(
        QueueUrl=platform.resources.queue_urls[queue],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return all(value == "0" for value in attributes.values())


def _eventually(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    return check()
