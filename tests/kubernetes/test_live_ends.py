"""A live release that stops for good on Kubernetes is reported as the local runtime reports it
(docs/decisions/0030): COMPLETED when its processes exit 0 and the restart policy does not restart
them, CRASHED when they exit otherwise and the policy gives up, with the reason in the deploy log.
The sweep (DeploymentSweeper.sweep, every 30 s on the local platform; in AWS its scheduled part,
functions/sweep.py, every minute) looks at the live releases' pods; the kubelet of the test API
server runs processes that exit after a while (`exits-<code>-after-<n>s` images,
tests/kubernetes/apiserver_kubelet.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters.runtime import kubernetes_workloads as pod_verdicts
from chalicelib.domain.models import DeploymentStatus, ServiceSettings
from tests.kubernetes.apiserver import KubeApiServer
from tests.support.kube_platform import REGISTRY, WHO, Platform, kubernetes_platform, until

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def kube(kube_server: KubeApiServer) -> Iterator[KubeApiServer]:
    kube_server.autostep(0.005)
    yield kube_server
    kube_server.stop_autostep()


@pytest.fixture
def platform(
    aws: int, kube: KubeApiServer, kubeconfig: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Platform]:
    yield from kubernetes_platform(kube, kubeconfig, monkeypatch)


@pytest.fixture
def worker_platform(
    aws: int, kube: KubeApiServer, kubeconfig: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Platform]:
    """A service without a health-check path whose restart policy never restarts."""
    yield from kubernetes_platform(kube, kubeconfig, monkeypatch, restart_policy_type="NEVER")


def deploy_while_time_passes(platform: Platform, image: str) -> Any:
    """Deploy, moving the cluster's clock a second at a time (a worker is told by the time it
    stays up), until the workflow ended."""
    deployment_id = platform.deploy(image)
    until(lambda: platform.kube.objects("pods", platform.ns), 20, "the first pod")
    until(lambda: platform.execution_status(deployment_id) != "RUNNING" or tick(platform), 40, "the deploy")
    return platform.wait(deployment_id)


def tick(platform: Platform) -> bool:
    """One second of the cluster's time per 0.1 s: slow enough for a deploy on a busy machine to
    finish well before the worker's process exits."""
    platform.kube.clock.advance(1)
    time.sleep(0.08)
    return False


def container_states(platform: Platform, image: str = "") -> list[str]:
    """The state (running, waiting, terminated) of each container of the service's pods whose image
    contains `image`."""
    return [
        next(iter(status.get("state") or {"none": {}}))
        for pod in platform.kube.objects("pods", platform.ns)
        for status in (pod.get("status") or {}).get("containerStatuses") or []
        if image in status["image"]
    ]


def test_a_web_release_that_exits_0_after_it_went_live_is_completed_and_scaled_to_zero(
    platform: Platform,
) -> None:
    # GIVEN a web release live (it answers its health check), whose process exits 0 after 60 s
    live = platform.wait(platform.deploy(f"{REGISTRY}:report-exits-0-after-60s"))
    assert live.status == DeploymentStatus.SUCCESS, live.reason
    assert platform.container.sweeper.sweep() == []  # running: nothing to report

    # WHEN the process exits, and the platform's periodic sweep runs
    platform.kube.clock.advance(61)
    until(lambda: "running" not in container_states(platform), 10, "the process to exit")
    ended = platform.container.sweeper.sweep()

    # THEN the deployment is COMPLETED, as the API (and so `railyard status`) shows, with the reason
    assert [(d.id, d.status) for d in ended] == [(live.id, DeploymentStatus.COMPLETED)]
    shown = platform.api_get(f"/v1/deployments/{live.id}")["deployment"]
    assert shown["status"] == "COMPLETED"
    why = "the process exited with code 0; restart policy ON_FAILURE does not restart a clean exit"
    assert why in (shown["reason"] or "")
    log = platform.deploy_log(live.id)
    assert f"completed: {why}" in log
    # AND the kubelet no longer restarts the finished process: its Deployment is at 0 replicas
    assert any("scaled to 0 until the next deploy" in line for line in log)
    found = platform.deployment_object()
    assert found is not None and found["spec"]["replicas"] == 0
    until(lambda: not platform.kube.objects("pods", platform.ns), 10, "the pods to go")
    # AND a later sweep finds nothing more to do
    assert platform.container.sweeper.sweep() == []
    assert platform.deploy_log(live.id) == log

    # AND the next deploy runs again, as on any live end
    again = platform.wait(platform.deploy(f"{REGISTRY}:v2"))
    assert again.status == DeploymentStatus.SUCCESS, again.reason
    found = platform.deployment_object()
    assert found is not None and found["spec"]["replicas"] == 1


# What EventBridge sends a schedule's target (the handler reads none of it).
SCHEDULED_EVENT = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}


def test_in_aws_the_scheduled_handler_reports_a_live_end_once_when_it_runs_twice(platform: Platform) -> None:
    from functions.sweep import handler

    # GIVEN a web release live on the cluster, whose process exits 0 after 60 s
    live = platform.wait(platform.deploy(f"{REGISTRY}:report-exits-0-after-60s"))
    assert live.status == DeploymentStatus.SUCCESS, live.reason
    assert handler(SCHEDULED_EVENT, None) == {"ended": 0, "left": 0}  # running: nothing to report

    # WHEN the process exits, and the EventBridge schedule's Lambda (functions/sweep.py) runs twice
    platform.kube.clock.advance(61)
    until(lambda: "running" not in container_states(platform), 10, "the process to exit")
    first, second = handler(SCHEDULED_EVENT, None), handler(SCHEDULED_EVENT, None)

    # THEN the first run records COMPLETED and the second finds nothing more
    assert (first, second) == ({"ended": 1, "left": 0}, {"ended": 0, "left": 0})
    assert platform.api_get(f"/v1/deployments/{live.id}")["deployment"]["status"] == "COMPLETED"
    # AND the deploy log says it once, and the Deployment is at 0 replicas
    log = platform.deploy_log(live.id)
    assert sum(line.startswith("completed: ") for line in log) == 1
    found = platform.deployment_object()
    assert found is not None and found["spec"]["replicas"] == 0


def test_a_worker_that_exits_1_after_it_went_live_is_crashed_and_the_log_says_why(
    worker_platform: Platform,
) -> None:
    platform = worker_platform
    # GIVEN a worker live (it stayed up the settle time without opening $PORT), policy NEVER
    live = deploy_while_time_passes(platform, f"{REGISTRY}:bot-no-port-exits-1-after-600s")
    assert live.status == DeploymentStatus.SUCCESS, (live.reason, platform.deploy_log(live.id))
    assert any("a worker" in line for line in platform.deploy_log(live.id))

    # WHEN its process exits with code 1 and the sweep runs
    platform.kube.clock.advance(601)
    until(lambda: "running" not in container_states(platform), 10, "the process to exit")
    ended = platform.container.sweeper.sweep()

    # THEN the deployment is CRASHED, and the user reads why in its deploy log
    assert [(d.id, d.status) for d in ended] == [(live.id, DeploymentStatus.CRASHED)]
    shown = platform.api_get(f"/v1/deployments/{live.id}")["deployment"]
    assert shown["status"] == "CRASHED"
    assert "crashed: the process exited with code 1; restart policy NEVER" in platform.deploy_log(live.id)
    found = platform.deployment_object()
    assert found is not None and found["spec"]["replicas"] == 0


def test_a_release_being_replaced_is_left_to_its_activation(platform: Platform) -> None:
    # GIVEN a live web release whose process exits, and a new deploy of the service under way
    live = platform.wait(platform.deploy(f"{REGISTRY}:v1-exits-0-after-60s"))
    assert live.status == DeploymentStatus.SUCCESS, live.reason
    platform.kube.never_ready_images.add(f"{REGISTRY}:v2-never-ready")
    next_id = platform.deploy(f"{REGISTRY}:v2-never-ready")
    until(lambda: platform.replica_set_running(f"{REGISTRY}:v2-never-ready"), 20, "the new rollout")
    platform.kube.clock.advance(61)
    until(lambda: "running" not in container_states(platform, "v1"), 10, "the process to exit")

    # WHEN the sweep runs during the rollout
    # THEN it reports nothing: the rollout decides what becomes of the service
    assert platform.container.sweeper.sweep() == []
    assert platform.container.repository.get_deployment(live.id).status == DeploymentStatus.SUCCESS
    platform.container.deployments.cancel(WHO, next_id)
    assert platform.wait(next_id).status == DeploymentStatus.CANCELLED


# --- the rule, on the client's own objects ---------------------------------------------------------

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def pod(
    name: str, *, restarts: int = 0, ran: float = 5.0, code: int = 1, running_for: float | None = None
) -> Any:
    """A pod whose container last exited with `code` after running `ran` seconds; waiting in
    CrashLoopBackOff, or running again for `running_for` seconds."""
    from kubernetes import client as k8s

    finished = NOW - timedelta(seconds=(running_for or 0) + 1)
    last = k8s.V1ContainerStateTerminated(
        exit_code=code, started_at=finished - timedelta(seconds=ran), finished_at=finished
    )
    if running_for is None:
        state = k8s.V1ContainerState(waiting=k8s.V1ContainerStateWaiting(reason="CrashLoopBackOff"))
    else:
        started = NOW - timedelta(seconds=running_for)
        state = k8s.V1ContainerState(running=k8s.V1ContainerStateRunning(started_at=started))
    status = k8s.V1ContainerStatus(
        name="app",
        image="img",
        image_id="img@sha256:0",
        ready=running_for is not None,
        restart_count=restarts,
        state=state,
        last_state=k8s.V1ContainerState(terminated=last),
    )
    return k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(name=name), status=k8s.V1PodStatus(container_statuses=[status])
    )


ON_FAILURE_TWICE = ServiceSettings(restart_policy_type="ON_FAILURE", restart_policy_max_retries=2)


def test_a_crash_loop_that_spent_its_restarts_is_the_end_of_every_replica() -> None:
    pods = [pod("web-a", restarts=2), pod("web-b", restarts=3)]
    end = pod_verdicts.live_end(pods, ON_FAILURE_TWICE, NOW)
    assert end is not None and not end.completed
    assert end.reason == (
        "all 2 replicas crashed; web-a: the process exited with code 1; restarts exhausted (2/2)"
    )


def test_a_replica_still_within_its_restarts_keeps_the_release_alive() -> None:
    assert (
        pod_verdicts.live_end([pod("web-a", restarts=2), pod("web-b", restarts=1)], ON_FAILURE_TWICE, NOW)
        is None
    )


def test_a_process_that_served_a_while_before_it_crashed_has_its_restarts_back() -> None:
    # as on the local runtime: a service that crashes once a day is not CRASHED on its third day
    assert pod_verdicts.live_end([pod("web-a", restarts=9, ran=3600)], ON_FAILURE_TWICE, NOW) is None
    assert pod_verdicts.live_end([pod("web-a", restarts=9, running_for=600)], ON_FAILURE_TWICE, NOW) is None


def test_every_replica_that_exited_0_is_a_completion() -> None:
    pods = [pod("job-a", code=0), pod("job-b", code=0, running_for=2)]  # b restarted by the kubelet
    end = pod_verdicts.live_end(pods, ON_FAILURE_TWICE, NOW)
    assert end is not None and end.completed
    assert "all 2 replicas ran to completion" in end.reason
