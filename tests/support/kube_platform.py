"""Railyard wired as a worker runs it on the Kubernetes runtime (RAILYARD_RUNTIME=kubernetes +
RAILYARD_K8S_KUBECONFIG), against the in-process test API server (tests/kubernetes/apiserver.py):
the real state machine executed by moto, the real workers fed by local pollers, DynamoDB, S3 and
SQS on moto. Only the build is a fake: it "pushes" the image the test chose.

`kubernetes_platform(kube, kubeconfig, monkeypatch)` yields a `Platform` whose pollers stop at the
end; test modules wrap it in their own fixture.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib import wiring
from chalicelib.adapters.aws import client
from chalicelib.adapters.runtime.kubernetes import KubernetesRuntime
from chalicelib.config import Settings
from chalicelib.domain.models import Deployment, DeploymentStatus
from railyard.localdev.bootstrap import bootstrap
from railyard.localdev.pollers import QueuePoller
from tests.fakes import FakeBuildRunner
from tests.kubernetes.apiserver import KubeApiServer
from tests.support.principals import admin_access
from tests.support.tarballs import pack

WHO = admin_access()
BASE_DOMAIN = "apps.example.com"
REGISTRY = "123456789012.dkr.ecr.us-east-1.amazonaws.com/railyard"
API_TOKEN = "ry_test_kubernetes_platform_token"
NAME = "web"  # service "web" of project "demo", in its first environment


def _tarball(marker: str) -> bytes:
    """A small app source; `marker` makes each upload distinct (an identical one skips the build)."""
    return pack({"main.py": f"print({marker!r})\n", "requirements.txt": ""})


def until(probe: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.02)
    raise AssertionError(f"{what}: not after {timeout}s")


class Platform:
    """Railyard as a worker runs it, wired from the environment (RAILYARD_RUNTIME=kubernetes)."""

    def __init__(self, kube: KubeApiServer, service_settings: dict[str, Any]) -> None:
        self.kube = kube
        self.settings = Settings.from_env()
        self.resources = bootstrap(self.settings.catalogue, self.settings.account_id)
        self.builds = FakeBuildRunner(image=f"{REGISTRY}:v1")
        self.container = wiring.Container(self.settings, build_runner=self.builds)
        assert isinstance(self.container.runtime, KubernetesRuntime)  # chosen by RAILYARD_RUNTIME
        # Pods' start times are the cluster's (here the server's manual clock); a real cluster's
        # clock and ours agree.
        self.container.runtime.rollouts.now = kube.clock.now
        wiring.use(self.container)
        self.stop = threading.Event()
        from functions.task_worker import handler

        for key in ("build", "deploy"):
            QueuePoller(
                f"{key}-k8s-test",
                self.resources.queue_urls[key],
                self.resources.queue_arns[key],
                handler,
                self.stop,
            ).start()
        _, envs = self.container.projects.create_project(WHO, "demo")
        self.service = self.container.projects.create_service(WHO, envs[0].id, NAME, service_settings)
        # Named by the environment's id, never by the project's and environment's names.
        self.ns = "ry-" + envs[0].id.lower().replace("_", "-")
        self._uploads = 0

    def deploy(self, image: str) -> str:
        self.builds.image = image
        self._uploads += 1
        _, key = self.container.deployments.presign_upload(WHO, self.service.id)
        self.container.blobs.put_bytes(self.settings.sources_bucket, key, _tarball(f"upload {self._uploads}"))
        return self.container.deployments.deploy_source(WHO, self.service.id, key).id

    def execution_status(self, deployment_id: str) -> str:
        arn = self.settings.state_machine_arn.replace(":stateMachine:", ":execution:") + ":" + deployment_id
        return str(client("stepfunctions").describe_execution(executionArn=arn)["status"])

    def wait(self, deployment_id: str, timeout: float = 30) -> Deployment:
        """The deployment once its execution has ended."""
        status = until(
            lambda: (s := self.execution_status(deployment_id)) != "RUNNING" and s,
            timeout,
            f"execution {deployment_id}",
        )
        deployment = self.container.repository.get_deployment(deployment_id)
        assert (status == "SUCCEEDED") == (deployment.status == DeploymentStatus.SUCCESS), (
            status,
            deployment,
        )
        return deployment

    def api_get(self, path: str) -> dict[str, Any]:
        """GET on the Chalice app, as the CLI does (`railyard status`, `up`), with an admin token."""
        from chalice.test import Client

        from app import app

        self.container.auth.ensure_token(API_TOKEN, self.settings.org_id, "test")
        with Client(app) as api:
            response = api.http.get(path, headers={"Authorization": f"Bearer {API_TOKEN}"})
        assert response.status_code == 200, response.body
        body: dict[str, Any] = response.json_body
        return body

    def deploy_log(self, deployment_id: str) -> list[str]:
        return [line.message for line in self.container.logs.read(deployment_id, "deploy", 0, 1000)]

    # --- the cluster ----------------------------------------------------------------------------

    def deployment_object(self) -> dict[str, Any] | None:
        return self.kube.get_object("apps/v1", "deployments", self.ns, NAME)

    def replica_set_running(self, image: str) -> dict[str, Any] | None:
        return next((rs for rs in self.kube.objects("replicasets", self.ns) if image_of(rs) == image), None)


def image_of(obj: dict[str, Any]) -> str:
    image: str = obj["spec"]["template"]["spec"]["containers"][0]["image"]
    return image


def kubernetes_platform(
    kube: KubeApiServer, kubeconfig: Path, monkeypatch: pytest.MonkeyPatch, **service_settings: Any
) -> Iterator[Platform]:
    """The platform configured from the environment, as a fixture's body. `service_settings`: the
    service's own (default: a health-check path of `/`)."""
    for name, value in {
        "RAILYARD_RUNTIME": "kubernetes",
        "RAILYARD_K8S_KUBECONFIG": str(kubeconfig),
        "RAILYARD_BASE_DOMAIN": BASE_DOMAIN,
        "RAILYARD_K8S_LB_CIDRS": "10.0.0.0/24,10.0.1.0/24",
        # the cluster's own ranges, one hole (a database subnet)
        "RAILYARD_K8S_BLOCKED_EGRESS_CIDRS": "10.100.0.0/16,172.20.0.0/16",
        "RAILYARD_K8S_ALLOWED_EGRESS_CIDRS": "10.100.8.0/24",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("RAILYARD_EKS_CLUSTER", raising=False)
    monkeypatch.delenv("RAILYARD_K8S_CONTEXT", raising=False)
    p = Platform(kube, service_settings or {"healthcheck_path": "/"})
    yield p
    p.stop.set()
    wiring.use(None)
