"""The AWS path that records a deployment's end when no worker ran MarkFailed: Step Functions'
"Execution Status Change" event on the default bus → the catalogue's rule → the execution-events
queue → functions/execution_events.py. moto never emits the event itself, so the test puts the one
AWS would; everything after that (rule pattern, queue, handler, sweeper, Step Functions history) is
real."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib import wiring
from chalicelib.adapters.aws import client
from chalicelib.adapters.workflows import StepFunctionsWorkflow
from chalicelib.config import Settings
from chalicelib.domain.limits import step_limits
from chalicelib.domain.models import DeploymentStatus, ServiceSettings
from railyard.localdev.bootstrap import bootstrap
from railyard.localdev.pollers import sqs_event
from tests.support.principals import admin_access

WHO = admin_access()
pytestmark = pytest.mark.timeout(60)


def short(settings: ServiceSettings, beats: bool) -> Any:
    limits = step_limits(settings, beats)
    return dataclasses.replace(limits, prepare_timeout_seconds=1, mark_failed_timeout_seconds=1)


@pytest.fixture
def container(aws: int) -> Iterator[wiring.Container]:
    settings = Settings.from_env()
    resources = bootstrap(settings.catalogue, settings.account_id)
    workflow = StepFunctionsWorkflow(settings.state_machine_arn, limits=short)
    made = wiring.Container(settings, workflow=workflow)
    made.resources = resources  # type: ignore[attr-defined]
    wiring.use(made)
    yield made
    wiring.use(None)


def wait_ended(execution_arn: str, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        execution = client("stepfunctions").describe_execution(executionArn=execution_arn)
        if execution["status"] != "RUNNING":
            return execution  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError(f"{execution_arn} still RUNNING after {timeout}s")


def test_a_failed_execution_event_ends_the_deployment_its_workers_left_behind(container: Any) -> None:
    from functions.execution_events import handler

    # GIVEN a deployment whose Prepare timed out and whose MarkFailed found no worker (none runs)
    _, envs = container.projects.create_project(WHO, "demo")
    service = container.projects.create_service(WHO, envs[0].id, "web", None)
    _, key = container.deployments.presign_upload(WHO, service.id)
    container.blobs.put_bytes(container.settings.sources_bucket, key, b"source")
    deployment = container.deployments.deploy_source(WHO, service.id, key)
    machine = container.settings.state_machine_arn
    execution_arn = machine.replace(":stateMachine:", ":execution:") + ":" + deployment.id
    ended = wait_ended(execution_arn)
    assert ended["status"] == "FAILED"

    # WHEN Step Functions announces it on the default bus, as AWS does
    detail = {
        "executionArn": execution_arn,
        "stateMachineArn": machine,
        "name": deployment.id,
        "status": "FAILED",
        "error": ended.get("error"),
        "cause": ended.get("cause"),
    }
    client("events").put_events(
        Entries=[
            {
                "Source": "aws.states",
                "DetailType": "Step Functions Execution Status Change",
                "Detail": json.dumps(detail),
                "Resources": [execution_arn],
            }
        ]
    )
    queue = container.resources.queue_urls["execution-events"]
    messages = client("sqs").receive_message(QueueUrl=queue, WaitTimeSeconds=2).get("Messages", [])
    assert len(messages) == 1  # the catalogue's rule routed it
    result = handler(
        sqs_event(messages, container.resources.queue_arns["execution-events"], "us-east-1"), None
    )

    # THEN the deployment ends FAILED with the reason MarkFailed would have recorded
    assert result == {"batchItemFailures": []}
    failed = container.repository.get_deployment(deployment.id)
    assert failed.status == DeploymentStatus.FAILED
    assert failed.reason == "Prepare step timed out after 1 s: no worker looked for the source upload"


def test_the_rule_ignores_other_state_machines_and_successful_executions(container: Any) -> None:
    machine = container.settings.state_machine_arn
    other = machine.replace(machine.rsplit(":", 1)[1], "someone-elses-machine")
    entries = [
        {"stateMachineArn": other, "name": "dep_x", "status": "FAILED"},
        {"stateMachineArn": machine, "name": "dep_y", "status": "SUCCEEDED"},
    ]
    client("events").put_events(
        Entries=[
            {
                "Source": "aws.states",
                "DetailType": "Step Functions Execution Status Change",
                "Detail": json.dumps(e),
            }
            for e in entries
        ]
    )
    queue = container.resources.queue_urls["execution-events"]
    assert client("sqs").receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", []) == []
