"""The real deploy state machine executed by moto, with the real workers, DynamoDB, S3 and SQS.

The build runner and runtime are fakes here (they have their own integration tests); everything
between the API's StartExecution and the workers' SendTaskSuccess is real.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib import wiring
from chalicelib.adapters.aws import client
from chalicelib.config import Settings
from chalicelib.domain.errors import BuildFailed
from chalicelib.domain.events import Envelope
from chalicelib.domain.models import DeploymentStatus
from chalicelib.domain.ports import BuildRequest, BuildResult, Progress
from chalicelib.domain.services import Principal
from railyard.localdev.bootstrap import bootstrap
from railyard.localdev.pollers import QueuePoller
from tests.fakes import FakeBuildRunner, FakeRuntime

WHO = Principal("org_default", ("*",), "test")


class SlowBuild(FakeBuildRunner):
    def build(self, request: BuildRequest, log: Any, progress: Progress) -> BuildResult:
        for _ in range(20):
            time.sleep(0.1)
            progress()
        return super().build(request, log, progress)


class Platform:
    def __init__(self, builds: FakeBuildRunner) -> None:
        self.settings = Settings.from_env()
        self.resources = bootstrap(self.settings.catalogue, self.settings.account_id)
        self.runtime = FakeRuntime()
        self.container = wiring.Container(self.settings, build_runner=builds, runtime=self.runtime)
        wiring.use(self.container)
        self.stop = threading.Event()
        from functions.task_worker import handler

        for key in ("build", "deploy"):
            QueuePoller(
                f"{key}-test",
                self.resources.queue_urls[key],
                self.resources.queue_arns[key],
                handler,
                self.stop,
            ).start()
        _, envs = self.container.projects.create_project(WHO, f"demo{id(self) % 100000}")
        self.service = self.container.projects.create_service(WHO, envs[0].id, "web", None)

    def deploy(self) -> str:
        _, key = self.container.deployments.presign_upload(WHO, self.service.id)
        self.container.blobs.put_bytes(self.settings.sources_bucket, key, b"source")
        return self.container.deployments.deploy_source(WHO, self.service.id, key).id

    def wait(self, deployment_id: str, timeout: float = 20) -> dict[str, Any]:
        arn = self.settings.state_machine_arn.replace(":stateMachine:", ":execution:") + ":" + deployment_id
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            execution = client("stepfunctions").describe_execution(executionArn=arn)
            if execution["status"] != "RUNNING":
                events = client("stepfunctions").get_execution_history(executionArn=arn, maxResults=1000)[
                    "events"
                ]
                execution["entered"] = [
                    e["stateEnteredEventDetails"]["name"]
                    for e in events
                    if e["type"].endswith("StateEntered")
                ]
                return execution  # type: ignore[no-any-return]
            time.sleep(0.05)
        raise AssertionError(f"execution {deployment_id} still RUNNING after {timeout}s")

    def events(self, queue: str) -> list[Envelope]:
        found: list[Envelope] = []
        sqs = client("sqs")
        while True:
            batch = sqs.receive_message(
                QueueUrl=self.resources.queue_urls[queue], MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
            if not batch:
                return found
            found.extend(Envelope.model_validate(json.loads(m["Body"])["detail"]) for m in batch)


@pytest.fixture
def platform(aws: int) -> Iterator[Platform]:
    made: list[Platform] = []

    def make(builds: FakeBuildRunner | None = None) -> Platform:
        made.append(Platform(builds or FakeBuildRunner()))
        return made[-1]

    yield make  # type: ignore[misc]
    for p in made:
        p.stop.set()
    wiring.use(None)


def test_a_deployment_runs_build_then_deploy_and_succeeds(platform: Any) -> None:
    p = platform()
    deployment_id = p.deploy()
    execution = p.wait(deployment_id)
    assert execution["status"] == "SUCCEEDED"
    assert execution["entered"] == [
        "NeedsBuild",
        "RequestedBuildStarted",
        "Build",
        "Built",
        "BuildCompleted",
        "Deploy",
        "Completed",
    ]
    deployment = p.container.repository.get_deployment(deployment_id)
    assert deployment.status == DeploymentStatus.SUCCESS
    assert p.runtime.activated[-1].release_id == deployment.release_id


def test_events_reach_every_queue_in_the_versioned_envelope(platform: Any) -> None:
    p = platform()
    deployment_id = p.deploy()
    p.wait(deployment_id)
    time.sleep(0.3)
    notified = p.events("notifications")
    names = [e.metadata.event_name for e in notified]
    assert names == ["deployment.requested", "build.started", "build.completed", "deployment.completed"]
    for event in notified:
        assert event.metadata.correlation_id == deployment_id
        event.typed_data()  # the ASL's payload matches the contract
    assert len(p.events("metrics")) == 4
    cleanup = p.events("cleanup")
    assert [e.metadata.event_name for e in cleanup] == ["deployment.completed"]
    assert cleanup[0].data["status"] == "SUCCESS"


def test_transitions_do_not_grow_with_build_length(platform: Any) -> None:
    fast = platform()
    fast_run = fast.wait(fast.deploy())
    slow = platform(SlowBuild())
    slow_run = slow.wait(slow.deploy())
    assert slow_run["status"] == fast_run["status"] == "SUCCEEDED"
    assert len(slow_run["entered"]) == len(fast_run["entered"]) <= 20


def test_a_failing_build_ends_failed_with_the_reason(platform: Any) -> None:
    p = platform(FakeBuildRunner(error=BuildFailed("`npm run build` exited with code 3")))
    deployment_id = p.deploy()
    execution = p.wait(deployment_id)
    assert execution["status"] == "FAILED"
    assert execution["entered"][-3:] == ["MarkFailed", "FailedEvent", "Failed"]
    deployment = p.container.repository.get_deployment(deployment_id)
    assert deployment.status == DeploymentStatus.FAILED
    assert deployment.reason == "BuildFailed: `npm run build` exited with code 3"
    completed = [e for e in p.events("cleanup") if e.metadata.event_name == "deployment.completed"]
    assert completed[0].data["status"] == "FAILED"


def test_redeploy_skips_the_build(platform: Any) -> None:
    p = platform()
    p.wait(p.deploy())
    redeploy = p.container.deployments.redeploy(WHO, p.service.id)
    execution = p.wait(redeploy.id)
    assert execution["status"] == "SUCCEEDED"
    assert "Build" not in execution["entered"]
    assert p.container.repository.get_deployment(redeploy.id).release_number == 2


def test_the_build_step_waits_without_heartbeats_for_the_longest_build() -> None:
    """An asynchronous (CodeBuild) build has no one to heartbeat for it (docs/decisions/0006): the
    Build state relies on its timeout, which must outlast the longest buildTimeout, and the build
    queue's visibility must outlast the step so a running step is not handed out twice."""
    from pathlib import Path

    from chalicelib.catalogue import Catalogue
    from chalicelib.domain.errors import BadRequest
    from chalicelib.domain.models import ServiceSettings

    asl = json.loads((Path(__file__).parents[2] / "statemachines" / "deploy.asl.json").read_text())
    build = asl["States"]["Build"]
    assert "HeartbeatSeconds" not in build
    with pytest.raises(BadRequest, match="buildTimeout"):  # a 300 s margin over the longest build
        ServiceSettings(build_timeout=build["TimeoutSeconds"] - 299)
    assert Catalogue("test").queue("build").visibility_timeout > build["TimeoutSeconds"]
    assert asl["States"]["Deploy"]["HeartbeatSeconds"] == 120  # the deploy worker still heartbeats


def test_a_source_whose_changes_the_watch_patterns_ignore_ends_skipped(platform: Any, tmp_path: Any) -> None:
    from railyard.tarball import pack_directory

    p = platform()
    app = tmp_path / "app"
    (app / "api").mkdir(parents=True)
    (app / "api" / "main.py").write_text("v1")
    (app / "README.md").write_text("v1")
    (app / "railway.json").write_text(json.dumps({"build": {"watchPatterns": ["/api/**"]}}))

    def push() -> str:
        _, key = p.container.deployments.presign_upload(WHO, p.service.id)
        p.container.blobs.put_bytes(p.settings.sources_bucket, key, pack_directory(app).data)
        return p.container.deployments.deploy_source(WHO, p.service.id, key).id

    live = push()
    assert p.wait(live)["status"] == "SUCCEEDED"
    p.events("cleanup")  # drain
    (app / "README.md").write_text("v2")

    skipped = push()
    execution = p.wait(skipped)

    assert execution["status"] == "SUCCEEDED"
    assert execution["entered"][-4:] == ["Build", "Built", "SkippedEvent", "Skipped"]
    assert p.container.repository.get_deployment(skipped).status == DeploymentStatus.SKIPPED
    assert p.container.repository.get_service(p.service.id).active_deployment_id == live
    assert len(p.runtime.activated) == 1
    time.sleep(0.3)
    completed = [e for e in p.events("cleanup") if e.metadata.event_name == "deployment.completed"]
    assert [e.data["status"] for e in completed] == ["SKIPPED"]
