"""AWS's scheduled sweep (functions/sweep.py) on moto: a deployment whose execution never started
(the API died between writing it and starting the execution) has no status-change event, so only
the schedule ends it; Step Functions' real "ExecutionDoesNotExist" answer is what tells it so. A
live release that ended on Kubernetes is tested with the cluster (tests/kubernetes/test_live_ends.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from chalicelib import wiring
from chalicelib.adapters.workflows import StepFunctionsWorkflow
from chalicelib.config import Settings
from chalicelib.domain.ids import utcnow
from chalicelib.domain.models import DeploymentStatus
from railyard.localdev.bootstrap import bootstrap
from tests.support.principals import admin_access

WHO = admin_access()
SCHEDULED_EVENT = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
pytestmark = pytest.mark.timeout(60)


class ApiDiesBeforeStarting(StepFunctionsWorkflow):
    """The deployment is written; its execution is never started."""

    def start(self, deployment: Any, audit: Any = None) -> None:
        return None


@pytest.fixture
def clock() -> list[datetime]:
    return [utcnow()]


@pytest.fixture
def container(aws: int, clock: list[datetime]) -> Iterator[wiring.Container]:
    settings = Settings.from_env()
    bootstrap(settings.catalogue, settings.account_id)
    made = wiring.Container(
        settings, workflow=ApiDiesBeforeStarting(settings.state_machine_arn), clock=lambda: clock[0]
    )
    wiring.use(made)
    yield made
    wiring.use(None)


def test_a_deployment_whose_execution_never_started_is_ended_by_the_schedule_once(
    container: Any, clock: list[datetime]
) -> None:
    from functions.sweep import handler

    # GIVEN a deployment written by an API that died before starting its execution
    _, envs = container.projects.create_project(WHO, "demo")
    service = container.projects.create_service(WHO, envs[0].id, "web", None)
    _, key = container.deployments.presign_upload(WHO, service.id)
    container.blobs.put_bytes(container.settings.sources_bucket, key, b"source")
    deployment = container.deployments.deploy_source(WHO, service.id, key)

    # WHEN the schedule runs within the 2-minute grace: its execution may be about to start
    assert handler(SCHEDULED_EVENT, None) == {"ended": 0, "left": 0}
    assert container.repository.get_deployment(deployment.id).status == DeploymentStatus.QUEUED

    # AND again 3 minutes later, twice
    clock[0] += timedelta(minutes=3)
    first, second = handler(SCHEDULED_EVENT, None), handler(SCHEDULED_EVENT, None)

    # THEN the first run ends it FAILED saying why, and the second finds nothing to do
    assert (first, second) == ({"ended": 1, "left": 0}, {"ended": 0, "left": 0})
    ended = container.repository.get_deployment(deployment.id)
    assert (ended.status, ended.reason) == (DeploymentStatus.FAILED, "its workflow never started")
    lines = [line.message for line in container.logs.read(deployment.id, "deploy", after=0, limit=100)]
    assert lines.count("deployment FAILED: its workflow never started") == 1
