"""Web services, workers and jobs in the domain (domain/workloads.py), with fakes: what a deployment
and its service record once the runtime says what a release turned out to be."""

from __future__ import annotations

import pytest

from chalicelib.api.schemas import deployment_view, service_view
from chalicelib.domain.models import LIVE_ENDS, TERMINAL, DeploymentStatus, ServiceSettings, check_transition
from chalicelib.domain.workloads import Workload, of_replicas
from tests.support.domain_world import World

URL = "http://web-production-demo.localhost:8080"


def test_completed_is_a_live_end_that_the_next_deployment_removes() -> None:
    check_transition(
        DeploymentStatus.DEPLOYING, DeploymentStatus.COMPLETED
    )  # a job that ran to completion before it was live
    check_transition(
        DeploymentStatus.SUCCESS, DeploymentStatus.COMPLETED
    )  # a worker or web service that exited 0 later
    check_transition(DeploymentStatus.COMPLETED, DeploymentStatus.REMOVED)
    assert DeploymentStatus.COMPLETED in TERMINAL and DeploymentStatus.COMPLETED in LIVE_ENDS
    assert {DeploymentStatus.SUCCESS, DeploymentStatus.CRASHED, DeploymentStatus.COMPLETED} == LIVE_ENDS


def test_no_healthcheck_path_is_the_default() -> None:
    assert ServiceSettings().healthcheck_path is None
    assert ServiceSettings(healthcheck_path="/health").healthcheck_path == "/health"


@pytest.mark.parametrize(
    ("outcomes", "release"),
    [
        ([Workload.JOB, Workload.JOB], Workload.JOB),
        ([Workload.JOB, Workload.WORKER], Workload.WORKER),  # one replica finished, one still runs
        ([Workload.WORKER, Workload.WEB], Workload.WEB),
        ([Workload.WORKER], Workload.WORKER),
    ],
)
def test_a_release_is_what_its_replicas_are(outcomes: list[Workload], release: Workload) -> None:
    assert of_replicas(outcomes) == release


def test_a_job_commits_completed_as_the_active_deployment_and_removes_the_web_release() -> None:
    # GIVEN a live web deployment
    world = World()
    web = world.deploy()
    # WHEN the next release runs to completion before it is live (the runtime says JOB)
    world.runtime.workload = Workload.JOB
    job = world.deploy()
    # THEN it is COMPLETED and the service's active deployment, as on Railway; the web one is REMOVED
    deployment = world.repo.get_deployment(job)
    service = world.repo.get_service(world.service.id)
    assert deployment.status == DeploymentStatus.COMPLETED and deployment.workload == Workload.JOB
    assert service.active_deployment_id == job and service.workload == Workload.JOB
    assert world.repo.get_deployment(web).status == DeploymentStatus.REMOVED
    assert world.callbacks.outcomes[-1][2]["status"] == "COMPLETED"
    assert "deploy: v2 ran to completion (COMPLETED)" in world.logs.streams[(job, "deploy")].lines
    # AND neither view advertises a URL; a redelivered Deploy step changes nothing
    assert service_view(service, URL)["url"] is None
    assert deployment_view(deployment, URL)["url"] is None
    world.runner.run({"taskToken": "again", "deploymentId": job, "action": "deploy"})
    assert world.callbacks.outcomes[-1][2]["status"] == "COMPLETED"
    assert len(world.runtime.activated) == 2


def test_a_worker_is_live_without_a_url_and_the_next_web_release_gets_it_back() -> None:
    world = World()
    world.runtime.workload = Workload.WORKER
    worker = world.deploy()
    service = world.repo.get_service(world.service.id)
    assert world.repo.get_deployment(worker).status == DeploymentStatus.SUCCESS
    assert service_view(service, URL) | {"workload": "worker", "url": None} == service_view(service, URL)
    world.runtime.workload = Workload.WEB
    world.deploy()
    assert service_view(world.repo.get_service(world.service.id), URL)["url"] == URL


def test_a_live_release_that_exits_0_for_good_is_completed_not_crashed() -> None:
    world = World()
    world.runtime.workload = Workload.WORKER
    worker = world.deploy()
    world.pipeline.mark_crashed(worker, "the process exited with code 0", completed=True)
    completed = world.repo.get_deployment(worker)
    assert (completed.status, completed.reason) == (
        DeploymentStatus.COMPLETED,
        "the process exited with code 0",
    )
    # AND the next deployment replaces it like any live one
    nxt = world.deploy()
    assert world.repo.get_deployment(worker).status == DeploymentStatus.REMOVED
    assert world.repo.get_service(world.service.id).active_deployment_id == nxt
