"""The Kubernetes runtime for a service without a health-check path (domain/workloads.py, ADR 0030),
through the real client and the test API server, whose kubelet evaluates TCP readiness probes and
crash-loops images that exit (apiserver_kubelet): a release whose pods accept connections on $PORT
is web (Service, Ingress, URL); one whose pods stay up the settle time without is a worker (rolled
out without the probe, no Service and no Ingress); one whose process exits 0 and is not restarted
by its policy is a job (COMPLETED, scaled to 0); a crash its policy gives up on fails the deploy and
the previous release keeps serving."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chalicelib.adapters.runtime import manifests as m
from chalicelib.adapters.runtime.kubernetes import KubernetesRuntime
from chalicelib.domain.errors import HealthCheckFailed, Superseded
from chalicelib.domain.models import ServiceSettings
from chalicelib.domain.ports import ReleaseSpec
from chalicelib.domain.workloads import Workload
from tests.fakes import FakeLog
from tests.kubernetes.apiserver import KubeApiServer
from tests.support.kube_runtime import NAMESPACE, fast_runtime, shop_release

pytestmark = pytest.mark.timeout(60)

SETTLE = 7.0
OPTIONS = m.ManifestOptions(
    base_domain="apps.example.com", load_balancer_cidrs=("10.0.0.0/24",), worker_settle_seconds=SETTLE
)
REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com/bot"


class Promotion:
    """Records the workload the runtime commits, and may refuse the commit."""

    def __init__(self, refuse_commit: bool = False) -> None:
        self.committed: list[Workload] = []
        self.refuse_commit = refuse_commit

    def check(self) -> None:
        pass

    def commit(self, workload: Workload = Workload.WEB) -> None:
        if self.refuse_commit:
            raise Superseded("superseded by dep_9 (created later), which is live")
        self.committed.append(workload)


def spec(release: int = 1, image: str = f"{REGISTRY}:1", **settings: Any) -> ReleaseSpec:
    return shop_release("bot", release, image, ServiceSettings(**settings))


def deployment(server: KubeApiServer) -> dict[str, Any]:
    found = server.get_object("apps/v1", "deployments", NAMESPACE, "bot")
    assert found is not None
    return found


def has_route(server: KubeApiServer) -> bool:
    service = server.get_object("v1", "services", NAMESPACE, "bot")
    ingress = server.get_object("networking.k8s.io/v1", "ingresses", NAMESPACE, "bot")
    assert (service is None) == (ingress is None)
    return service is not None


def pod_images(server: KubeApiServer) -> list[str]:
    return sorted(p["spec"]["containers"][0]["image"] for p in server.objects("pods", NAMESPACE))


class Activation:
    """One `activate` on a thread, so the test can move the server's clock while it waits."""

    def __init__(self, runtime: KubernetesRuntime, release: ReleaseSpec, promotion: Promotion) -> None:
        self.log = FakeLog()
        self.error: BaseException | None = None
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(runtime, release, promotion), daemon=True)
        self._thread.start()

    def _run(self, runtime: KubernetesRuntime, release: ReleaseSpec, promotion: Promotion) -> None:
        try:
            runtime.activate(release, self.log, lambda: None, promotion)
        except BaseException as error:  # reported to the test thread
            self.error = error
        finally:
            self.done.set()

    def finish(self, server: KubeApiServer, tick: float = 1.0) -> None:
        """Let time pass on the server (tick seconds every 20 ms) until the activation returned."""
        deadline = time.monotonic() + 30
        while not self.done.wait(0.02):
            assert time.monotonic() < deadline, self.log.lines
            server.clock.advance(tick)
        self._thread.join(5)


def wait_for(condition: Callable[[], bool], activation: Activation) -> None:
    deadline = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < deadline and not activation.done.is_set(), (
            activation.error,
            activation.log.lines,
        )
        time.sleep(0.02)


@pytest.fixture
def server(kube_server: KubeApiServer) -> Iterator[KubeApiServer]:
    kube_server.autostep(0.005)
    yield kube_server
    kube_server.stop_autostep()


@pytest.fixture
def runtime(kube_api_client: Any, kube_server: KubeApiServer) -> KubernetesRuntime:
    # The runtime reads the pods' start times against the cluster's clock (here, the server's).
    return fast_runtime(OPTIONS, kube_api_client, now=kube_server.clock.now)


def deploy(
    runtime: KubernetesRuntime, server: KubeApiServer, release: ReleaseSpec
) -> tuple[Promotion, FakeLog]:
    promotion = Promotion()
    activation = Activation(runtime, release, promotion)
    activation.finish(server)
    if activation.error is not None:
        raise activation.error
    return promotion, activation.log


# --- what is rendered ------------------------------------------------------------------------------


def test_without_a_path_the_pods_are_probed_on_their_port_and_the_route_is_rendered() -> None:
    objects = {o["kind"]: o for o in m.render(spec(), OPTIONS)}
    template = objects["Deployment"]["spec"]["template"]["spec"]
    (container,) = template["containers"]
    assert container["readinessProbe"]["tcpSocket"] == {"port": m.PORT_NAME}
    assert "livenessProbe" not in container  # a probe that restarts would kill workers
    assert "minReadySeconds" not in objects["Deployment"]["spec"]  # web is live once it listens
    assert {"Service", "Ingress"} <= set(objects)
    annotations = objects["Ingress"]["metadata"]["annotations"]
    assert annotations["alb.ingress.kubernetes.io/success-codes"] == "200-499"  # any answer: it listens


def test_a_worker_has_no_probe_must_stay_up_the_settle_time_and_has_no_route() -> None:
    objects = {o["kind"]: o for o in m.render(spec(num_replicas=2), OPTIONS, workload=Workload.WORKER)}
    deployment_spec = objects["Deployment"]["spec"]
    (container,) = deployment_spec["template"]["spec"]["containers"]
    assert "readinessProbe" not in container
    assert deployment_spec["minReadySeconds"] == SETTLE
    assert "Service" not in objects and "Ingress" not in objects
    assert "PodDisruptionBudget" in objects  # two replicas of a worker are still protected
    absent = {ref.kind for ref in m.absent_objects(spec(num_replicas=2), Workload.WORKER)}
    assert absent == {"Service", "Ingress", "HorizontalPodAutoscaler"}


def test_a_job_is_its_probed_template_scaled_to_zero_with_nothing_around_it() -> None:
    settings = {"autoscale_min_replicas": 2, "autoscale_max_replicas": 4}
    probed = m.render(spec(**settings), OPTIONS)
    objects = {o["kind"]: o for o in m.render(spec(**settings), OPTIONS, workload=Workload.JOB)}
    assert objects["Deployment"]["spec"]["replicas"] == 0
    assert objects["Deployment"]["spec"]["template"] == probed[-1]["spec"]["template"]  # same ReplicaSet
    assert not {"Service", "Ingress", "HorizontalPodAutoscaler", "PodDisruptionBudget"} & set(objects)


def test_an_explicit_path_keeps_the_http_probes_and_no_settle_time() -> None:
    objects = {o["kind"]: o for o in m.render(spec(healthcheck_path="/health"), OPTIONS)}
    deployment_spec = objects["Deployment"]["spec"]
    (container,) = deployment_spec["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert "minReadySeconds" not in deployment_spec
    assert objects["Ingress"]["metadata"]["annotations"]["alb.ingress.kubernetes.io/success-codes"] == "200"


# --- through the API server ------------------------------------------------------------------------


def test_a_release_that_listens_on_its_port_is_web_at_once(
    server: KubeApiServer, runtime: KubernetesRuntime
) -> None:
    promotion = Promotion()
    activation = Activation(runtime, spec(), promotion)
    assert activation.done.wait(20), activation.log.lines  # no clock moved: no settle time waited
    assert activation.error is None, activation.error
    assert promotion.committed == [Workload.WEB]
    assert has_route(server)
    assert any("a web service" in line for line in activation.log.lines)


def test_a_release_that_never_listens_is_a_worker_after_the_settle_time_and_loses_the_route(
    server: KubeApiServer, runtime: KubernetesRuntime
) -> None:
    deploy(runtime, server, spec(1, f"{REGISTRY}:web"))
    assert has_route(server)
    promotion = Promotion()
    activation = Activation(runtime, spec(2, f"{REGISTRY}:bot-no-port"), promotion)

    def running_unready() -> bool:
        pods = [
            p for p in server.objects("pods", NAMESPACE) if "no-port" in p["spec"]["containers"][0]["image"]
        ]
        return any((p.get("status") or {}).get("phase") == "Running" for p in pods)

    wait_for(running_unready, activation)
    # Running but not listening, and not yet up the settle time: not live, and the web release serves
    assert not activation.done.wait(1.0), activation.error
    assert f"{REGISTRY}:web" in pod_images(server) and has_route(server)
    activation.finish(server)
    assert activation.error is None, (activation.error, activation.log.lines)
    assert promotion.committed == [Workload.WORKER]
    assert not has_route(server)
    found = deployment(server)
    (container,) = found["spec"]["template"]["spec"]["containers"]
    assert "readinessProbe" not in container and found["spec"]["minReadySeconds"] == SETTLE
    assert pod_images(server) == [f"{REGISTRY}:bot-no-port"]
    assert any("a worker" in line for line in activation.log.lines)


def test_a_process_that_exits_0_is_a_job_committed_completed_and_scaled_to_zero(
    server: KubeApiServer, runtime: KubernetesRuntime
) -> None:
    deploy(runtime, server, spec(1, f"{REGISTRY}:web"))
    promotion, log = deploy(runtime, server, spec(2, f"{REGISTRY}:script-exits-0"))  # ON_FAILURE
    assert promotion.committed == [Workload.JOB]
    assert deployment(server)["spec"]["replicas"] == 0
    wait_for_pods_gone(server)
    assert not has_route(server)
    assert any("ran to completion" in line for line in log.lines)


def test_with_restart_policy_always_a_clean_exit_is_restarted_until_the_retries_are_spent(
    server: KubeApiServer, runtime: KubernetesRuntime
) -> None:
    release = spec(
        1, f"{REGISTRY}:script-exits-0", restart_policy_type="ALWAYS", restart_policy_max_retries=2
    )
    promotion = Promotion()
    activation = Activation(runtime, release, promotion)
    wait_for(lambda: restart_counts(server) == [0] and exited(server), activation)
    assert not activation.done.wait(0.5)  # exited, but ALWAYS restarts it (after the back-off)
    activation.finish(server, tick=2.0)
    assert activation.error is None, (activation.error, activation.log.lines)
    assert promotion.committed == [Workload.JOB]


def test_a_crash_its_policy_does_not_restart_fails_the_deploy_and_the_worker_before_it_stays(
    server: KubeApiServer, runtime: KubernetesRuntime
) -> None:
    deploy(runtime, server, spec(1, f"{REGISTRY}:bot-no-port"))
    promotion = Promotion()
    activation = Activation(
        runtime, spec(2, f"{REGISTRY}:bot-exits-3", restart_policy_type="NEVER"), promotion
    )
    activation.finish(server)
    assert isinstance(activation.error, HealthCheckFailed), activation.error
    assert "exited with code 3; restart policy NEVER" in str(activation.error)
    assert "rolled back to release rel_1" in str(activation.error)
    assert promotion.committed == []
    # The worker is restored as a worker: no probe it would never pass, and still no route
    found = deployment(server)
    (container,) = found["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"{REGISTRY}:bot-no-port" and "readinessProbe" not in container
    assert not has_route(server)


def test_a_job_whose_commit_is_refused_leaves_the_web_release_serving(
    server: KubeApiServer, runtime: KubernetesRuntime
) -> None:
    deploy(runtime, server, spec(1, f"{REGISTRY}:web"))
    activation = Activation(runtime, spec(2, f"{REGISTRY}:script-exits-0"), Promotion(refuse_commit=True))
    activation.finish(server)
    assert isinstance(activation.error, Superseded), activation.error
    found = deployment(server)
    assert found["spec"]["template"]["spec"]["containers"][0]["image"] == f"{REGISTRY}:web"
    assert found["spec"]["replicas"] == 1 and has_route(server)


def restart_counts(server: KubeApiServer) -> list[int]:
    return [
        status.get("restartCount", 0)
        for pod in server.objects("pods", NAMESPACE)
        for status in (pod.get("status") or {}).get("containerStatuses") or []
    ]


def exited(server: KubeApiServer) -> bool:
    return any(
        "terminated" in (status.get("state") or {}) or "terminated" in (status.get("lastState") or {})
        for pod in server.objects("pods", NAMESPACE)
        for status in (pod.get("status") or {}).get("containerStatuses") or []
    )


def wait_for_pods_gone(server: KubeApiServer) -> None:
    deadline = time.monotonic() + 10
    while server.objects("pods", NAMESPACE):
        assert time.monotonic() < deadline, pod_images(server)
        time.sleep(0.02)
