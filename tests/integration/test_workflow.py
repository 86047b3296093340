"""The real deploy state machine executed by moto, with the real workers, DynamoDB, S3 and SQS.

The build runner and runtime are fakes here (they have their own integration tests); everything
between the API's StartExecution and the workers' SendTaskSuccess is real.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chalicelib.adapters.aws import client
from chalicelib.domain.errors import BuildFailed
from chalicelib.domain.limits import step_limits
from chalicelib.domain.models import DeploymentStatus, ServiceSettings
from chalicelib.domain.ports import BuildRequest, BuildResult, Progress
from tests.fakes import FakeBuildRunner
from tests.support.workflow import WHO, Platform, platforms, shrunk


@pytest.fixture
def platform(aws: int) -> Iterator[Callable[..., Platform]]:
    with platforms() as make:
        yield make


class SlowBuild(FakeBuildRunner):
    def build(self, request: BuildRequest, log: Any, progress: Progress) -> BuildResult:
        for _ in range(20):
            time.sleep(0.1)
            progress()
        return super().build(request, log, progress)


def test_a_deployment_runs_build_then_deploy_and_succeeds(platform: Any) -> None:
    p = platform()
    deployment_id = p.deploy()
    execution = p.wait(deployment_id)
    assert execution["status"] == "SUCCEEDED"
    assert execution["entered"] == [
        "Audited",  # no request's audit entry to emit: started without one
        "NeedsBuild",
        "Prepare",
        "Prepared",  # the limits for the settings Prepare fixed (ADR 0034)
        "Cached",
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


def test_every_step_has_a_bound_and_every_failure_path_records_the_end() -> None:
    """The ASL holds no limit of its own but the event states': the task steps read theirs from
    the execution input (chalicelib/domain/limits.py); each task's failure reaches MarkFailed with
    the step's name, and MarkFailed's own failure ends the execution (the sweeper takes over)."""
    from pathlib import Path

    from chalicelib.catalogue import Catalogue
    from chalicelib.domain.limits import EVENT_TIMEOUT_SECONDS

    asl = json.loads((Path(__file__).parents[2] / "statemachines" / "deploy.asl.json").read_text())
    states = asl["States"]
    limits = step_limits(ServiceSettings(), builds_beat=True).workflow_input()
    for name, state in states.items():
        if state["Type"] != "Task":
            continue
        bound = state.get("TimeoutSecondsPath") or state.get("TimeoutSeconds")
        assert bound, f"{name} has no timeout"
        if isinstance(bound, str):
            assert bound.removeprefix("$.limits.") in limits, name
        else:
            assert bound == EVENT_TIMEOUT_SECONDS, name
        (catch,) = state.get("Catch", [{}])
        if name == "MarkFailed":
            assert states[catch["Next"]]["Type"] == "Fail"
        elif name == "AuditRecorded":  # a lost audit event never fails the deployment
            assert (catch["Next"], state["Next"]) == ("NeedsBuild", "NeedsBuild")
        elif name not in ("Completed", "SkippedEvent", "FailedEvent"):  # the end is recorded then
            assert (catch["Next"], catch["ResultPath"]) == ("MarkFailed", f"$.failure.{name}")
    for step in ("Build", "Deploy"):  # the worker's lease uses the limit the state uses
        heartbeat = states[step]["HeartbeatSecondsPath"]
        assert states[step]["Parameters"]["MessageBody"]["heartbeatSeconds.$"] == heartbeat
    # a work queue never hands a running step to a second worker
    longest = step_limits(ServiceSettings(build_timeout=7200), builds_beat=False)
    catalogue = Catalogue("test")
    assert catalogue.queue("build").visibility_timeout > longest.build_timeout_seconds
    assert catalogue.queue("deploy").visibility_timeout > longest.deploy_timeout_seconds


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


class GatedBuild(FakeBuildRunner):
    """Builds once `gate` is open, without a heartbeat meanwhile (a hung or slow worker)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.gate.set()

    def build(self, request: BuildRequest, log: Any, progress: Progress) -> BuildResult:
        self.gate.wait(timeout=30)
        return super().build(request, log, progress)


def test_a_build_whose_worker_stops_beating_ends_failed_naming_the_step_and_the_limit(platform: Any) -> None:
    # GIVEN a Build step with a 2 s heartbeat whose worker hangs without beating
    builds = GatedBuild()
    builds.gate.clear()
    p = platform(builds, limits=shrunk(build_heartbeat_seconds=2, build_timeout_seconds=60))

    # WHEN the deployment runs
    deployment_id = p.deploy()
    execution = p.wait(deployment_id)

    # THEN the heartbeat limit fails the step, and the user reads which step and which limit
    assert execution["status"] == "FAILED"
    assert execution["entered"][-4:] == ["Build", "MarkFailed", "FailedEvent", "Failed"]
    failed = p.container.repository.get_deployment(deployment_id)
    assert failed.status == DeploymentStatus.FAILED
    assert failed.reason == "Build step timed out: no heartbeat for 2 s (its worker stopped or lost contact)"
    # AND the hung build, once it returns, changes nothing and deploys nothing
    builds.gate.set()
    time.sleep(1.0)
    assert p.container.repository.get_deployment(deployment_id).reason == failed.reason
    assert p.runtime.activated == []


def test_with_its_workers_down_a_deployment_still_ends_failed_naming_the_step(platform: Any) -> None:
    from chalicelib.adapters.workflows import StepFunctionsCallbacks
    from chalicelib.domain.errors import TaskExpired

    # GIVEN no worker at all, and short limits for the Prepare step and MarkFailed
    p = platform(limits=shrunk(prepare_timeout_seconds=1, mark_failed_timeout_seconds=1), workers=False)

    # WHEN a deployment's Prepare times out and nobody runs MarkFailed either
    deployment_id = p.deploy()
    execution = p.wait(deployment_id)
    assert execution["entered"][-3:] == ["Prepare", "MarkFailed", "EndNotRecorded"]
    assert execution["status"] == "FAILED"
    assert p.container.repository.get_deployment(deployment_id).status == DeploymentStatus.QUEUED

    # THEN a worker that picks the Prepare message up later is told its task is gone
    messages = client("sqs").receive_message(
        QueueUrl=p.resources.queue_urls["deploy"], MaxNumberOfMessages=10
    )
    (prepare,) = [json.loads(m["Body"]) for m in messages["Messages"] if '"prepare"' in m["Body"]]
    with pytest.raises(TaskExpired):
        StepFunctionsCallbacks().heartbeat(prepare["taskToken"])
    # AND the sweep ends the deployment with the reason MarkFailed would have recorded
    ended = p.container.sweeper.sweep()
    assert [d.id for d in ended] == [deployment_id]
    failed = p.container.repository.get_deployment(deployment_id)
    assert failed.status == DeploymentStatus.FAILED
    assert failed.reason == "Prepare step timed out after 1 s: no worker looked for the source upload"
    assert p.container.sweeper.sweep() == []


def test_a_superseded_deployment_ends_skipped_and_its_completed_event_says_so(platform: Any) -> None:
    # GIVEN a live deployment, then an older one still building while a newer one goes live
    builds = GatedBuild()
    p = platform(builds)
    assert p.wait(p.deploy())["status"] == "SUCCEEDED"
    builds.gate.clear()
    older = p.deploy()
    newer = p.container.deployments.redeploy(WHO, p.service.id).id
    assert p.wait(newer)["status"] == "SUCCEEDED"
    p.events("cleanup")  # drain

    # WHEN the older one finishes its build
    builds.gate.set()
    execution = p.wait(older)

    # THEN it ends SKIPPED with the reason, through the workflow's normal end, and the newer serves
    assert execution["status"] == "SUCCEEDED"
    assert execution["entered"][-2:] == ["Deploy", "Completed"]
    skipped = p.container.repository.get_deployment(older)
    assert skipped.status == DeploymentStatus.SKIPPED
    assert skipped.reason == f"superseded by {newer} (created later), which is live"
    assert p.container.repository.get_service(p.service.id).active_deployment_id == newer
    time.sleep(0.3)
    completed = [e for e in p.events("cleanup") if e.metadata.event_name == "deployment.completed"]
    assert [(e.data["deployment_id"], e.data["status"]) for e in completed] == [(older, "SKIPPED")]
