"""The real deploy state machine on moto with the CodeBuild runner: the Build step starts a CodeBuild
build and returns; CodeBuild's "Build State Change" event, put on the default bus, is routed by the
catalogue's rule to the build-events queue and handled by functions/build_events.py, which completes
the waiting task token.

moto's CodeBuild accepts the project and StartBuild but builds nothing and emits no events, so the
tests put the event CodeBuild would send (moto's PutEvents accepts an `aws.codebuild` source and
routes it by the rule's pattern like any other). The runtime is a fake; everything else is real:
DynamoDB, S3, SQS, EventBridge, Step Functions, the workers and their pollers.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chalicelib import wiring
from chalicelib.adapters.aws import client
from chalicelib.adapters.builds.codebuild import CodeBuildRunner
from chalicelib.config import Settings
from chalicelib.domain.events import Envelope
from chalicelib.domain.models import DeploymentStatus
from chalicelib.domain.ports import PendingBuild
from railyard.localdev.bootstrap import bootstrap
from railyard.localdev.pollers import QueuePoller
from tests.fakes import FakeRuntime
from tests.support.codebuild_stack import create_build_stack
from tests.support.principals import admin_access
from tests.support.tarballs import pack
from tests.support.workflow import drain_events

WHO = admin_access()
REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
ECR = f"{REGISTRY}/railyard"  # RAILYARD_ECR_REPOSITORY_URI: its host is the registry
APP = {
    "package.json": json.dumps({"name": "web", "version": "1.0.0", "scripts": {"start": "node server.js"}}),
    "server.js": "require('http').createServer((q, s) => s.end('ok')).listen(process.env.PORT)",
}


class Platform:
    def __init__(self) -> None:
        self.settings = Settings.from_env()
        assert self.settings.builder == "codebuild"
        self.resources = bootstrap(self.settings.catalogue, self.settings.account_id)
        self.project = self.settings.catalogue.codebuild_project
        isolation = self.settings.catalogue.build_isolation
        create_build_stack(
            client("iam"),
            client("codebuild"),
            project=self.project,
            sources_bucket=self.settings.sources_bucket,
            policy_name=isolation.policy_name,
        )
        self.runtime = FakeRuntime()
        self.container = wiring.Container(self.settings, runtime=self.runtime)
        assert isinstance(self.container.build_runner, CodeBuildRunner)  # chosen by RAILYARD_BUILDER
        wiring.use(self.container)
        self.stop = threading.Event()
        self.build_events: list[dict[str, Any]] = []  # what the build-events handler was given
        from functions.build_events import handler as build_events_handler
        from functions.task_worker import handler as task_handler

        def recording(event: dict[str, Any], context: Any) -> dict[str, Any]:
            self.build_events.extend(json.loads(r["body"]) for r in event["Records"])
            return build_events_handler(event, context)

        for key, handler in (("build", task_handler), ("deploy", task_handler), ("build-events", recording)):
            QueuePoller(
                f"{key}-test",
                self.resources.queue_urls[key],
                self.resources.queue_arns[key],
                handler,
                self.stop,
            ).start()
        _, envs = self.container.projects.create_project(WHO, "demo")
        self.service = self.container.projects.create_service(WHO, envs[0].id, "web", None)

    def deploy(self) -> str:
        _, key = self.container.deployments.presign_upload(WHO, self.service.id)
        self.container.blobs.put_bytes(self.settings.sources_bucket, key, pack(APP))
        return self.container.deployments.deploy_source(WHO, self.service.id, key).id

    def started_build(self, deployment_id: str, timeout: float = 20) -> PendingBuild:
        """The build the Build step started, once its task token is stored."""
        return _until(
            lambda: next(iter(self.container.repository.list_pending_builds(deployment_id)), None), timeout
        )

    def codebuild_says(self, build_id: str, status: str, project: str | None = None) -> None:
        """Puts on the default bus the event CodeBuild sends when a build ends."""
        (build,) = client("codebuild").batch_get_builds(ids=[build_id])["builds"] or [{"arn": build_id}]
        detail = _state_change_detail(build["arn"], project or self.project, status)
        response = client("events").put_events(
            Entries=[
                {
                    "Source": "aws.codebuild",
                    "DetailType": "CodeBuild Build State Change",
                    "Detail": json.dumps(detail),
                    "Resources": [build["arn"]],
                }
            ]
        )
        assert response["FailedEntryCount"] == 0

    def execution(self, deployment_id: str) -> dict[str, Any]:
        arn = self.settings.state_machine_arn.replace(":stateMachine:", ":execution:") + ":" + deployment_id
        sfn = client("stepfunctions")
        execution: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        execution["entered"] = [
            e["stateEnteredEventDetails"]["name"] for e in history if e["type"].endswith("StateEntered")
        ]
        # What each task-token step reported: one entry per SendTaskSuccess the workflow accepted.
        execution["token_successes"] = [
            e["taskSucceededEventDetails"]["resource"]
            for e in history
            if e["type"] == "TaskSucceeded"
            and "waitForTaskToken" in e["taskSucceededEventDetails"]["resource"]
        ]
        return execution

    def wait(self, deployment_id: str, timeout: float = 20) -> dict[str, Any]:
        def ended() -> dict[str, Any] | None:
            execution = self.execution(deployment_id)
            return execution if execution["status"] != "RUNNING" else None

        return _until(ended, timeout)  # type: ignore[no-any-return]

    def queue_depth(self, key: str, dlq: bool = False) -> int:
        sqs = client("sqs")
        name = self.settings.catalogue.queue(key).dlq_name if dlq else self.settings.catalogue.queue(key).name
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        attributes = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    def events(self, queue: str) -> list[Envelope]:
        return drain_events(self.resources.queue_urls[queue])

    def build_log(self, deployment_id: str) -> list[str]:
        return [line.message for line in self.container.logs.read(deployment_id, "build", 0, 1000)]


def _state_change_detail(build_arn: str, project: str, status: str) -> dict[str, Any]:
    """The detail of a real "CodeBuild Build State Change" event (trimmed): on a failure, the phase
    that failed carries CodeBuild's context."""
    failed = status != "SUCCEEDED"
    stream = build_arn.rsplit(":", 1)[-1]
    return {
        "build-status": status,
        "project-name": project,
        "build-id": build_arn,
        "current-phase": "COMPLETED",
        "current-phase-context": "[]",
        "version": "1",
        "additional-information": {
            "build-complete": True,
            "logs": {
                "group-name": f"/aws/codebuild/{project}",
                "stream-name": stream,
                "deep-link": "https://console.aws.amazon.com/cloudwatch/home?region=us-east-1#logEvent:"
                f"group=/aws/codebuild/{project};stream={stream}",
            },
            "phases": [
                {"phase-type": "SUBMITTED", "phase-status": "SUCCEEDED", "phase-context": []},
                {"phase-type": "INSTALL", "phase-status": "SUCCEEDED", "phase-context": [": "]},
                {
                    "phase-type": "BUILD",
                    "phase-status": "FAILED" if failed else "SUCCEEDED",
                    "phase-context": [
                        "COMMAND_EXECUTION_ERROR: Error while executing command: npm run build. "
                        "Reason: exit status 2"
                    ]
                    if failed
                    else [": "],
                },
                {"phase-type": "COMPLETED"},
            ],
        },
    }


def _until(probe: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        time.sleep(0.05)
    raise AssertionError(f"nothing after {timeout}s")


@pytest.fixture
def platform(aws: int, monkeypatch: pytest.MonkeyPatch) -> Iterator[Platform]:
    monkeypatch.setenv("RAILYARD_BUILDER", "codebuild")
    monkeypatch.setenv("RAILYARD_ECR_REPOSITORY_URI", ECR)
    p = Platform()
    yield p
    p.stop.set()
    wiring.use(None)


def test_a_codebuild_build_completes_through_its_state_change_event(platform: Platform) -> None:
    deployment_id = platform.deploy()
    pending = platform.started_build(deployment_id)

    # GIVEN the Build step started a CodeBuild build and returned without completing its token
    (build,) = client("codebuild").batch_get_builds(ids=[pending.build_id])["builds"]
    assert build["projectName"] == platform.project
    assert f"build: started CodeBuild build {pending.build_id} (project {platform.project})" in (
        platform.build_log(deployment_id)
    )
    time.sleep(0.5)
    assert platform.execution(deployment_id)["status"] == "RUNNING"
    assert platform.container.repository.get_deployment(deployment_id).status == DeploymentStatus.BUILDING

    # WHEN CodeBuild reports SUCCEEDED
    platform.codebuild_says(pending.build_id, "SUCCEEDED")

    # THEN the workflow goes on to Deploy and the deployment is live, with the pushed image
    execution = platform.wait(deployment_id)
    assert execution["status"] == "SUCCEEDED"
    assert execution["entered"] == [
        "Audited",
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
    deployment = platform.container.repository.get_deployment(deployment_id)
    assert deployment.status == DeploymentStatus.SUCCESS
    # under the project's own prefix and in the project's own repository (BuildIsolation)
    project_id = platform.service.project_id
    assert deployment.artifact_key == f"artifacts/codebuild/{project_id}/{deployment_id}/artifact.tar.gz"
    image = f"{REGISTRY}/railyard-{platform.settings.stage}/{project_id}:{deployment_id}"
    assert deployment.image == image
    spec = platform.runtime.activated[-1]
    assert spec.image == image and spec.start_command == "npm start"
    completed = [e for e in platform.events("notifications") if e.metadata.event_name == "build.completed"]
    assert completed[0].data["artifact_key"] == deployment.artifact_key
    assert platform.container.repository.get_pending_build(pending.build_id).finished == "SUCCEEDED"
    assert len(client("codebuild").list_builds_for_project(projectName=platform.project)["ids"]) == 1


def test_a_failed_codebuild_build_fails_the_deployment_with_its_reason(platform: Platform) -> None:
    deployment_id = platform.deploy()
    pending = platform.started_build(deployment_id)

    platform.codebuild_says(pending.build_id, "FAILED")

    execution = platform.wait(deployment_id)
    assert execution["status"] == "FAILED"
    assert execution["entered"][-3:] == ["MarkFailed", "FailedEvent", "Failed"]
    deployment = platform.container.repository.get_deployment(deployment_id)
    assert deployment.status == DeploymentStatus.FAILED
    reason = (
        f"CodeBuild build {pending.build_id} FAILED in phase BUILD (FAILED): COMMAND_EXECUTION_ERROR: "
        "Error while executing command: npm run build. Reason: exit status 2; build log: "
        "https://console.aws.amazon.com/cloudwatch/home?region=us-east-1#logEvent:"
        f"group=/aws/codebuild/{platform.project};stream={pending.build_id.rsplit(':', 1)[-1]}"
    )
    assert deployment.reason == f"BuildFailed: {reason}"
    assert f"build failed: {reason}" in platform.build_log(deployment_id)
    assert platform.runtime.activated == []
    completed = [e for e in platform.events("cleanup") if e.metadata.event_name == "deployment.completed"]
    assert [e.data["status"] for e in completed] == ["FAILED"]


def test_a_duplicate_event_completes_the_step_once(platform: Platform) -> None:
    deployment_id = platform.deploy()
    pending = platform.started_build(deployment_id)

    platform.codebuild_says(pending.build_id, "SUCCEEDED")
    platform.codebuild_says(pending.build_id, "SUCCEEDED")  # EventBridge and SQS: at least once

    assert platform.wait(deployment_id)["status"] == "SUCCEEDED"
    _until(lambda: len(platform.build_events) == 2 or None, 10)
    _until(lambda: platform.queue_depth("build-events") == 0 or None, 10)
    # Prepare, Build and Deploy, once each
    assert len(platform.execution(deployment_id)["token_successes"]) == 3
    assert (
        platform.build_log(deployment_id).count(f"build: CodeBuild build {pending.build_id} SUCCEEDED") == 1
    )
    assert len(platform.runtime.activated) == 1
    assert platform.queue_depth("build-events", dlq=True) == 0


def test_events_of_unknown_builds_are_ignored_and_other_projects_never_arrive(platform: Platform) -> None:
    deployment_id = platform.deploy()
    pending = platform.started_build(deployment_id)

    platform.codebuild_says(f"{platform.project}:00000000-0000-0000-0000-000000000000", "SUCCEEDED")
    platform.codebuild_says(pending.build_id, "SUCCEEDED", project="someone-elses-project")

    _until(lambda: len(platform.build_events) == 1 or None, 10)
    _until(lambda: platform.queue_depth("build-events") == 0 or None, 10)
    time.sleep(0.5)
    assert len(platform.build_events) == 1  # the rule filtered the other project's event out
    assert platform.queue_depth("build-events", dlq=True) == 0
    assert platform.execution(deployment_id)["status"] == "RUNNING"  # still waiting for its own build
    assert platform.container.repository.get_pending_build(pending.build_id).finished is None

    platform.codebuild_says(pending.build_id, "SUCCEEDED")
    assert platform.wait(deployment_id)["status"] == "SUCCEEDED"
