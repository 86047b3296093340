"""The Kubernetes runtime for a service without a health-check path (domain/workloads.py), through
the test API server: no HTTP probes, and a pod counts as live only once it has run for the worker
settle time (the Deployment's minReadySeconds), as the local runtime's workers do."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.adapters.runtime import manifests as m
from chalicelib.adapters.runtime.kubernetes import KubernetesRuntime
from chalicelib.domain.models import ServiceSettings
from chalicelib.domain.ports import ReleaseSpec
from tests.kubernetes.apiserver import KubeApiServer

pytestmark = pytest.mark.timeout(60)

SETTLE = 7.0
OPTIONS = m.ManifestOptions(
    base_domain="apps.example.com", load_balancer_cidrs=("10.0.0.0/24",), worker_settle_seconds=SETTLE
)
NS = "ry-env-01prod"


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, message: str) -> None:
        self.lines.append(message)

    def flush(self) -> None:
        pass


def spec(**settings: Any) -> ReleaseSpec:
    return ReleaseSpec(
        service_id="svc_01bot",
        hostname="bot-production-shop",
        deployment_id="dep_1",
        release_id="rel_1",
        artifact_key="artifacts/bot-1.tar.gz",
        start_command="python bot.py",
        variables={},
        settings=ServiceSettings(**settings),
        image="123456789012.dkr.ecr.us-east-1.amazonaws.com/bot:1",
        project="shop",
        environment="production",
        service="bot",
        environment_id="env_01prod",
    )


def ready(server: KubeApiServer) -> bool:
    found = server.get_object("apps/v1", "deployments", NS, "bot")
    return bool(found and (found.get("status") or {}).get("readyReplicas") == 1)


@pytest.fixture
def server(kube_server: KubeApiServer) -> Iterator[KubeApiServer]:
    kube_server.autostep(0.005)
    yield kube_server
    kube_server.stop_autostep()


def test_without_a_path_there_are_no_probes_and_pods_must_stay_up_the_settle_time() -> None:
    objects = {o["kind"]: o for o in m.render(spec(), OPTIONS)}
    deployment = objects["Deployment"]["spec"]
    (container,) = deployment["template"]["spec"]["containers"]
    assert "readinessProbe" not in container and "livenessProbe" not in container
    assert deployment["minReadySeconds"] == SETTLE
    annotations = objects["Ingress"]["metadata"]["annotations"]
    assert annotations["alb.ingress.kubernetes.io/success-codes"] == "200-499"  # any answer: it listens


def test_an_explicit_path_keeps_the_http_probes_and_no_settle_time() -> None:
    objects = {o["kind"]: o for o in m.render(spec(healthcheck_path="/health"), OPTIONS)}
    deployment = objects["Deployment"]["spec"]
    (container,) = deployment["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert "minReadySeconds" not in deployment
    assert objects["Ingress"]["metadata"]["annotations"]["alb.ingress.kubernetes.io/success-codes"] == "200"


def test_the_rollout_of_a_release_without_a_path_waits_for_the_settle_time(
    server: KubeApiServer, kube_api_client: Any
) -> None:
    runtime = KubernetesRuntime(OPTIONS, kube_api_client, backoff_seconds=0.01, request_timeout=5)
    done = threading.Event()
    errors: list[BaseException] = []

    def activate() -> None:
        try:
            runtime.activate(spec(num_replicas=1), Log(), lambda: None)
        except BaseException as error:  # reported to the test thread
            errors.append(error)
        finally:
            done.set()

    thread = threading.Thread(target=activate, daemon=True)
    thread.start()
    # Started and Ready, but not yet up for the settle time: not live
    deadline = time.monotonic() + 20
    while not ready(server):
        assert time.monotonic() < deadline and not done.is_set(), errors
        time.sleep(0.05)
    assert not done.wait(0.5), errors
    server.clock.advance(SETTLE)
    assert done.wait(20) and not errors, errors
    thread.join(5)
