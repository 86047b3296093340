"""A deployment created from its service's id alone (docs/decisions/0034) gets its configuration
from the workflow's Prepare step, on the real deploy state machine on moto with the real workers:
the variables, settings and hostname as they are when the workflow starts, the Build step's limits
for those settings, and a clear end when the service is gone by then."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chalicelib.adapters.aws import client
from chalicelib.domain.models import DeploymentStatus
from tests.fakes import FakeBuildRunner
from tests.support.workflow import WHO, Platform, platforms


@pytest.fixture
def platform(aws: int) -> Iterator[Callable[..., Platform]]:
    with platforms() as make:
        yield make


def _queued(p: Platform) -> str:
    """A source deployment accepted while the workers are down: nothing has read the service."""
    _, key = p.container.deployments.presign_upload(WHO, p.service.id)
    p.container.blobs.put_bytes(p.settings.sources_bucket, key, b"source")
    deployment = p.container.deployments.deploy_source(WHO, p.service.id, key)
    stored = p.container.repository.get_deployment(deployment.id)
    assert stored.config is None and stored.hostname == ""
    return deployment.id


def _exited_output(p: Platform, deployment_id: str, state: str) -> dict[str, Any]:
    arn = p.settings.state_machine_arn.replace(":stateMachine:", ":execution:") + ":" + deployment_id
    events = client("stepfunctions").get_execution_history(executionArn=arn, maxResults=1000)["events"]
    for event in events:
        details = event.get("stateExitedEventDetails")
        if details and details["name"] == state:
            return json.loads(details["output"])  # type: ignore[no-any-return]
    raise AssertionError(f"{state} never exited")


def test_prepare_fixes_the_variables_settings_and_hostname_the_workflow_started_with(platform: Any) -> None:
    # GIVEN a deployment accepted, then a variable and a longer build timeout set before it starts
    builds = FakeBuildRunner()
    p = platform(builds, workers=False)
    deployment_id = _queued(p)
    p.container.deployments.set_variables(WHO, p.service.id, {"GREETING": "hello"}, [])
    p.container.projects.update_settings(WHO, p.service.id, {"build_timeout": 3000.0})

    # WHEN the workers come up and the workflow runs
    p.start_workers()
    execution = p.wait(deployment_id)

    # THEN the deployment carries what the service had when Prepare read it, and so did its build
    assert execution["status"] == "SUCCEEDED"
    deployed = p.container.repository.get_deployment(deployment_id)
    assert deployed.status == DeploymentStatus.SUCCESS
    assert deployed.hostname == p.service.hostname
    assert deployed.requested.variables == {"GREETING": "hello"}
    assert deployed.requested.settings.build_timeout == 3000.0
    (request,) = builds.calls
    assert request.variables.get("GREETING") == "hello" and request.settings.build_timeout == 3000.0
    # and the steps after Prepare ran with the limits of those settings, not the defaults
    limits = _exited_output(p, deployment_id, "Prepared")["limits"]
    assert limits["appBuildTimeoutSeconds"] == 3000.0 and limits["buildTimeoutSeconds"] == 3300


def test_a_service_deleted_before_its_deployment_started_ends_it_failed_saying_so(platform: Any) -> None:
    # GIVEN a deployment accepted, then its service deleted before any worker read it
    p = platform(workers=False)
    deployment_id = _queued(p)
    client("dynamodb").delete_item(
        TableName=p.settings.table_name,
        Key={"pk": {"S": f"SERVICE#{p.service.id}"}, "sk": {"S": "SERVICE"}},
    )

    # WHEN the workflow runs
    p.start_workers()
    execution = p.wait(deployment_id)

    # THEN Prepare fails it with the reason, in the deploy log too, and nothing is built
    assert execution["status"] == "FAILED"
    assert "Build" not in execution["entered"]
    failed = p.container.repository.get_deployment(deployment_id)
    assert failed.status == DeploymentStatus.FAILED and failed.config is None
    assert failed.reason is not None and failed.reason.startswith("ServiceGone: service ")
    log = [line.message for line in p.container.logs.read(deployment_id, "deploy", 0, 100)]
    assert any("was deleted before its deployment could start" in line for line in log), log
