"""Pod Security `restricted` as the cluster enforces it: the test API server refuses what a real
kube-apiserver's PodSecurity admission refuses, and the runtime's pods get through.

Enforce mode refuses Pods (403 Forbidden, 'violates PodSecurity "restricted:latest": ...'); a
Deployment whose template violates the level is stored, and its pods are what gets refused, which
the ReplicaSet and the Deployment report as a ReplicaFailure condition.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.adapters.runtime import manifests as m
from chalicelib.adapters.runtime import manifests_security as security
from chalicelib.adapters.runtime.kubernetes import KubernetesRuntime
from chalicelib.domain.errors import HealthCheckFailed
from chalicelib.domain.models import ServiceSettings
from chalicelib.domain.ports import ReleaseSpec
from tests.kubernetes.apiserver import KubeApiServer

pytestmark = pytest.mark.timeout(60)

OPTIONS = m.ManifestOptions(base_domain="apps.example.com", load_balancer_cidrs=("10.0.0.0/24",))
RESTRICTED = "tenant"
# What a real kube-apiserver answers for a bare `nginx` pod in a restricted namespace.
BARE_POD_REFUSAL = (
    'pods "bare" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false '
    '(container "app" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities '
    '(container "app" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or '
    'container "app" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "app" '
    'must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")'
)


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()

    def write(self, message: str) -> None:
        with self._lock:
            self.lines.append(message)

    def flush(self) -> None:
        pass


def make_spec(release: int) -> ReleaseSpec:
    return ReleaseSpec(
        service_id="svc_01web",
        hostname="web-production-shop",
        deployment_id=f"dep_{release}",
        release_id=f"rel_{release}",
        artifact_key=f"artifacts/web-{release}.tar.gz",
        start_command="python app.py",
        variables={"GREETING": f"hello {release}"},
        settings=ServiceSettings(num_replicas=2, healthcheck_path="/"),
        image=f"123456789012.dkr.ecr.us-east-1.amazonaws.com/web:{release}",
        project="shop",
        environment="production",
        service="web",
        environment_id="env_01prod",
    )


@pytest.fixture
def server(kube_server: KubeApiServer) -> Iterator[KubeApiServer]:
    kube_server.create_object(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": RESTRICTED, "labels": security.pod_security_labels("latest")},
        }
    )
    yield kube_server
    kube_server.stop_autostep()


def bare_pod(name: str = "bare") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [{"name": "app", "image": "nginx"}]},
    }


def runtime_pod_spec() -> dict[str, Any]:
    (deployment,) = [o for o in m.render(make_spec(1), OPTIONS) if o["kind"] == "Deployment"]
    spec: dict[str, Any] = deployment["spec"]["template"]["spec"]
    # A bare pod has no variables Secret to read; the security settings are what is on trial here.
    spec["containers"][0].pop("envFrom")
    return spec


def test_a_pod_that_is_not_restricted_is_refused_with_the_real_message(
    server: KubeApiServer, kube_api_client: Any
) -> None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    core = client.CoreV1Api(kube_api_client)
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_pod(RESTRICTED, bare_pod())
    assert refused.value.status == 403
    status = json.loads(refused.value.body)
    assert status["reason"] == "Forbidden"
    assert status["message"] == BARE_POD_REFUSAL
    assert server.get_object("v1", "pods", RESTRICTED, "bare") is None
    # AND without the label the same pod is admitted (enforcement is per namespace)
    core.create_namespaced_pod("default", bare_pod())
    assert server.get_object("v1", "pods", "default", "bare") is not None


def test_one_missing_setting_is_named_alone(server: KubeApiServer, kube_api_client: Any) -> None:
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    spec = runtime_pod_spec()
    del spec["containers"][0]["securityContext"]["capabilities"]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "almost"}, "spec": spec}
    with pytest.raises(ApiException) as refused:
        client.CoreV1Api(kube_api_client).create_namespaced_pod(RESTRICTED, pod)
    assert json.loads(refused.value.body)["message"] == (
        'pods "almost" is forbidden: violates PodSecurity "restricted:latest": unrestricted capabilities '
        '(container "app" must set securityContext.capabilities.drop=["ALL"])'
    )


def test_the_runtimes_pod_is_admitted(server: KubeApiServer, kube_api_client: Any) -> None:
    from kubernetes import client

    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}, "spec": runtime_pod_spec()}
    client.CoreV1Api(kube_api_client).create_namespaced_pod(RESTRICTED, pod)
    assert server.get_object("v1", "pods", RESTRICTED, "web") is not None


def test_a_deployment_that_is_not_restricted_is_stored_but_its_pods_are_refused(
    server: KubeApiServer, kube_api_client: Any
) -> None:
    from kubernetes import client

    # GIVEN a Deployment whose pods would run as root
    labels = {"app": "bare"}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "bare"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": bare_pod()["spec"]},
        },
    }
    # WHEN it is created and the controllers run
    client.AppsV1Api(kube_api_client).create_namespaced_deployment(RESTRICTED, deployment)
    server.step(3)
    # THEN no pod exists, and both the ReplicaSet and the Deployment say why
    assert server.objects("pods", RESTRICTED) == []
    (replica_set,) = server.objects("replicasets", RESTRICTED)
    stored = server.get_object("apps/v1", "deployments", RESTRICTED, "bare")
    assert stored is not None
    for obj in (replica_set, stored):
        (failure,) = [c for c in obj["status"].get("conditions", []) if c["type"] == "ReplicaFailure"]
        assert failure["status"] == "True"
        assert failure["reason"] == "FailedCreate"
        assert failure["message"].startswith(f'pods "{replica_set["metadata"]["name"]}-')
        assert (
            'is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation'
            in failure["message"]
        )


def test_the_runtime_deploys_into_a_restricted_namespace_and_a_regression_is_refused(
    kube_server: KubeApiServer, kube_api_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    kube_server.autostep(0.005)
    runtime = KubernetesRuntime(OPTIONS, kube_api_client, backoff_seconds=0.01)
    namespace = m.namespace_name(make_spec(1))

    # WHEN the runtime deploys a release
    runtime.activate(make_spec(1), Log(), lambda: None)

    # THEN its namespace enforces restricted, and its pods were admitted and run
    ns = kube_server.get_object("v1", "namespaces", None, namespace)
    assert ns is not None
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    pods = kube_server.objects("pods", namespace)
    assert len(pods) == 2
    assert all(p["spec"]["securityContext"]["runAsNonRoot"] is True for p in pods)
    binding = kube_server.get_object(
        "rbac.authorization.k8s.io/v1", "rolebindings", namespace, "railyard-runtime"
    )
    assert binding is not None and binding["roleRef"]["name"] == "railyard-tenant"

    # WHEN a later release loses its security settings (a regression in the renderer)
    monkeypatch.setattr(security, "restrict_pod_spec", lambda spec, options: spec)
    quick = KubernetesRuntime(OPTIONS, kube_api_client, backoff_seconds=0.01, rollout_timeout=0.5)
    log = Log()
    with pytest.raises(HealthCheckFailed) as failed:
        quick.activate(make_spec(2), log, lambda: None)
    kube_server.stop_autostep()

    # THEN the cluster refused its pods, the failure says so, and release 1 still serves
    assert 'violates PodSecurity "restricted:latest"' in str(failed.value)
    assert "rolled back to release rel_1" in str(failed.value)
    assert {
        p["metadata"]["annotations"][m.RELEASE_ID_ANNOTATION] for p in kube_server.objects("pods", namespace)
    } == {"rel_1"}
