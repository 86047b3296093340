"""Opt-in: the Kubernetes runtime against a real cluster (EKS, kind, k3d, minikube, …).

Runs only with K8S_INTEGRATION=1 and KUBECONFIG set (K8S_CONTEXT picks a context, else the current
one); never by default. It creates one namespace whose name is unique to the run, deploys a tiny
public image and waits for its rollout, then deploys an image that never becomes ready and checks
that the rollout fails on the progress deadline (about 70 s) and that the first release is still
the one serving. Everything it created is deleted at the end, namespace included.

The kubeconfig's user needs the rights of docs/kubernetes-rbac.yaml (applied, the user in group
railyard-runtime: the runtime binds itself railyard-tenant in the run's namespace) plus "delete"
on namespaces (for the clean-up only), and the nodes need to pull from registry.k8s.io. The
namespace enforces Pod Security restricted: the test images run as uid 10001 on a read-only root.
See docs/kubernetes.md, "Running the tests".
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.adapters.runtime import manifests as m
from chalicelib.adapters.runtime.kubernetes import KubernetesRuntime
from chalicelib.domain.errors import HealthCheckFailed
from chalicelib.domain.models import ServiceSettings
from chalicelib.domain.ports import ReleaseSpec

KUBECONFIG = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
CONTEXT = os.environ.get("K8S_CONTEXT") or None
# agnhost is the Kubernetes project's own e2e test server: `netexec` answers 200 on every path.
GOOD_IMAGE = os.environ.get("K8S_TEST_IMAGE", "registry.k8s.io/e2e-test-images/agnhost:2.52")
GOOD_COMMAND = "/agnhost netexec --http-port=8080"
# The pause container runs forever and listens nowhere: its readiness probe never passes.
NEVER_READY_IMAGE = os.environ.get("K8S_TEST_NEVER_READY_IMAGE", "registry.k8s.io/pause:3.10")
HEALTHCHECK_TIMEOUT = 10.0  # progress deadline: 10 + 60 s

pytestmark = [
    pytest.mark.skipif(
        os.environ.get("K8S_INTEGRATION") != "1" or not KUBECONFIG,
        reason="opt-in: set K8S_INTEGRATION=1 and KUBECONFIG=<kubeconfig> to run against a real "
        "cluster (it creates and deletes a namespace of its own; see docs/kubernetes.md)",
    ),
    pytest.mark.timeout(900),
]


class PrintingLog:
    def write(self, message: str) -> None:
        print(f"  {message}", flush=True)

    def flush(self) -> None:
        pass


def no_progress() -> None:
    return None


@pytest.fixture
def run_id() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
def cluster(run_id: str) -> Iterator[tuple[KubernetesRuntime, Any, str]]:
    """The runtime from the kubeconfig, a client of our own for assertions and clean-up, and the
    namespace this run will use (removed afterwards whatever happened)."""
    from chalicelib.adapters.runtime.eks_auth import kubeconfig_api_client

    runtime = KubernetesRuntime.for_kubeconfig(
        KUBECONFIG,
        m.ManifestOptions(base_domain="railyard-it.example.com"),
        context=CONTEXT,
        watch_seconds=5,
    )
    api_client = kubeconfig_api_client(KUBECONFIG, CONTEXT)
    namespace = m.namespace_name(spec(run_id, 1, GOOD_IMAGE, GOOD_COMMAND))
    try:
        yield runtime, api_client, namespace
    finally:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        try:
            runtime.stop(service_id(run_id))
        finally:
            core = client.CoreV1Api(api_client)
            try:
                core.delete_namespace(namespace, propagation_policy="Foreground")
            except ApiException as error:
                if error.status != 404:
                    raise
            api_client.close()


def service_id(run_id: str) -> str:
    return f"svc_it{run_id}"


def spec(run_id: str, release: int, image: str, command: str) -> ReleaseSpec:
    return ReleaseSpec(
        service_id=service_id(run_id),
        hostname=f"web-it-{run_id}",
        deployment_id=f"dep_it{run_id}{release}",
        release_id=f"rel_it{run_id}{release}",
        artifact_key="",
        start_command=command,
        variables={"RELEASE": str(release)},
        settings=ServiceSettings(
            num_replicas=2, healthcheck_path="/", healthcheck_timeout=HEALTHCHECK_TIMEOUT
        ),
        image=image,
        project=f"railyard-it-{run_id}",
        environment="test",
        service="web",
        environment_id=f"env_it{run_id}",
    )


def test_a_release_rolls_out_and_a_never_ready_one_is_rolled_back(
    cluster: tuple[KubernetesRuntime, Any, str], run_id: str
) -> None:
    from kubernetes import client

    runtime, api_client, namespace = cluster
    apps: Any = client.AppsV1Api(api_client)  # the models' fields are all Optional
    first = spec(run_id, 1, GOOD_IMAGE, GOOD_COMMAND)

    # GIVEN a first release rolled out
    runtime.activate(first, PrintingLog(), no_progress)
    live = apps.read_namespaced_deployment("web", namespace)
    assert live.spec.template.spec.containers[0].image == GOOD_IMAGE
    assert live.status.available_replicas == 2
    assert live.status.updated_replicas == 2

    # WHEN a release whose pods never become ready is activated
    broken = spec(run_id, 2, NEVER_READY_IMAGE, "")
    started = time.monotonic()
    with pytest.raises(HealthCheckFailed) as failure:
        runtime.activate(broken, PrintingLog(), no_progress)

    # THEN it failed on the progress deadline and rolled back
    message = str(failure.value)
    print(f"failed after {time.monotonic() - started:.0f}s: {message}")
    assert f"deployment {namespace}/web" in message
    assert "exceeded its progress deadline" in message or "did not finish rolling out" in message
    assert message.endswith(f"rolled back to release {first.release_id}")
    # AND the first release serves again from its own ReplicaSet, every replica available
    deadline = time.monotonic() + 120
    while True:
        live = apps.read_namespaced_deployment("web", namespace)
        status = live.status
        done = (
            (status.observed_generation or 0) >= live.metadata.generation
            and status.updated_replicas == status.available_replicas == status.replicas == 2
        )
        if done or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert live.spec.template.spec.containers[0].image == GOOD_IMAGE
    annotations = live.spec.template.metadata.annotations or {}
    assert annotations[m.RELEASE_ID_ANNOTATION] == first.release_id
    assert done, f"the first release is not fully available again: {status}"
