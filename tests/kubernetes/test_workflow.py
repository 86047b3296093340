"""The deploy workflow end to end on the Kubernetes runtime, chosen by configuration
(tests/support/kube_platform.py): the runtime is the one the composition root builds for
RAILYARD_RUNTIME=kubernetes + RAILYARD_K8S_KUBECONFIG, talking to the in-process API server whose
controllers run on their own (autostep) and whose clock the tests move.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib.adapters.runtime import manifests as m
from chalicelib.domain.models import DeploymentStatus
from tests.kubernetes.apiserver import KubeApiServer
from tests.support.kube_platform import (
    BASE_DOMAIN,
    NAME,
    REGISTRY,
    Platform,
    image_of,
    kubernetes_platform,
    until,
)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def kube(kube_server: KubeApiServer) -> Iterator[KubeApiServer]:
    """The test API server with its controllers running, as a cluster's would."""
    kube_server.autostep(0.005)
    yield kube_server
    kube_server.stop_autostep()


@pytest.fixture
def platform(
    aws: int, kube: KubeApiServer, kubeconfig: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Platform]:
    yield from kubernetes_platform(kube, kubeconfig, monkeypatch)


def test_a_deployment_rolls_out_its_image_and_the_service_answers_on_the_runtimes_url(
    platform: Platform,
) -> None:
    # GIVEN a build that pushed an image
    image = f"{REGISTRY}:v1"

    # WHEN the service is deployed through the workflow
    deployment = platform.wait(platform.deploy(image))

    # THEN the deployment succeeded and is the service's live release
    assert deployment.status == DeploymentStatus.SUCCESS, deployment.reason
    service = platform.container.repository.get_service(platform.service.id)
    assert service.active_release_id == deployment.release_id
    log = platform.deploy_log(deployment.id)
    assert f"kubernetes: deploying release {deployment.release_id} ({image}) to {platform.ns}/{NAME}" in log
    assert f"rollout: release {deployment.release_id} is available" in log
    # AND the cluster runs that image, fully rolled out, behind a Service and an Ingress
    live = platform.deployment_object()
    assert live is not None and image_of(live) == image
    template_annotations = live["spec"]["template"]["metadata"]["annotations"]
    assert template_annotations[m.RELEASE_ID_ANNOTATION] == deployment.release_id
    status = live["status"]
    assert status["observedGeneration"] >= live["metadata"]["generation"]
    assert status["updatedReplicas"] == status["availableReplicas"] == status["replicas"] == 1
    assert platform.kube.get_object("v1", "services", platform.ns, NAME) is not None
    ingress = platform.kube.get_object("networking.k8s.io/v1", "ingresses", platform.ns, NAME)
    assert ingress is not None
    host = f"{service.hostname}.{BASE_DOMAIN}"
    assert [rule["host"] for rule in ingress["spec"]["rules"]] == [host]
    assert ingress["metadata"]["annotations"]["alb.ingress.kubernetes.io/group.name"] == "railyard"
    policy = platform.kube.get_object(
        "networking.k8s.io/v1", "networkpolicies", platform.ns, m.NETWORK_POLICY_NAME
    )
    assert policy is not None
    blocks = [
        p["ipBlock"]["cidr"] for rule in policy["spec"]["ingress"] for p in rule["from"] if "ipBlock" in p
    ]
    assert blocks == ["10.0.0.0/24", "10.0.1.0/24"]  # RAILYARD_K8S_LB_CIDRS
    egress = json.dumps(policy["spec"]["egress"])
    for cidr in ("10.100.0.0/16", "172.20.0.0/16", "10.100.8.0/24", "169.254.169.254/32"):
        assert cidr in egress  # the operator's blocked ranges and hole; the metadata endpoint always
    # AND the API tells the same URL the Ingress serves
    assert platform.container.settings.public_url(service.hostname) == f"https://{host}"


def test_the_pods_get_the_injected_variables_with_the_services_cluster_dns_name(platform: Platform) -> None:
    # WHEN a release rolls out on Kubernetes (the same release_spec the local runtime gets: ADR 0037)
    deployment = platform.wait(platform.deploy(f"{REGISTRY}:v1"))
    assert deployment.status == DeploymentStatus.SUCCESS, deployment.reason
    # THEN the Secret its pods take their environment from holds the injected variables, and the
    # private domain is the name its Service object answers at in the cluster
    live = platform.deployment_object()
    assert live is not None
    [source] = live["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    secret = platform.kube.get_object("v1", "secrets", platform.ns, source["secretRef"]["name"])
    assert secret is not None
    env = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert env["RAILWAY_SERVICE_NAME"] == env["RAILYARD_SERVICE_NAME"] == NAME
    assert env["RAILWAY_PRIVATE_DOMAIN"] == f"{NAME}.{platform.ns}.svc.cluster.local"
    assert platform.kube.get_object("v1", "services", platform.ns, NAME) is not None
    hostname = platform.container.repository.get_service(platform.service.id).hostname
    assert env["RAILWAY_PUBLIC_DOMAIN"] == f"{hostname}.{BASE_DOMAIN}"


def test_a_never_ready_release_fails_on_the_progress_deadline_and_the_previous_one_keeps_serving(
    platform: Platform,
) -> None:
    # GIVEN release 1 live
    good = f"{REGISTRY}:v1"
    first = platform.wait(platform.deploy(good))
    assert first.status == DeploymentStatus.SUCCESS, first.reason
    first_rs = platform.replica_set_running(good)
    assert first_rs is not None

    # WHEN a release whose pods never become ready is deployed, and the cluster's time passes
    # its progress deadline
    broken = f"{REGISTRY}:v2-never-ready"
    platform.kube.never_ready_images.add(broken)
    second_id = platform.deploy(broken)
    until(lambda: platform.replica_set_running(broken), 20, "the new ReplicaSet")
    live = platform.deployment_object()
    assert live is not None
    deadline = live["spec"]["progressDeadlineSeconds"]
    # Progress the controller still makes (a pod created) restarts the deadline, as in a cluster.
    while platform.execution_status(second_id) == "RUNNING":
        platform.kube.clock.advance(deadline + 1)
        time.sleep(0.05)
    second = platform.wait(second_id)

    # THEN the deployment failed, saying why and what became of the release
    assert second.status == DeploymentStatus.FAILED
    reason = second.reason or ""
    assert reason.startswith(
        f"HealthCheckFailed: deployment {platform.ns}/{NAME} exceeded its progress deadline"
    )
    assert "not ready" in reason  # what the new pods report
    assert reason.endswith(f"rolled back to release {first.release_id}")
    assert f"rollback: re-applied release {first.release_id}; its ReplicaSet scales back up" in (
        platform.deploy_log(second_id)
    )
    # AND release 1 is still the service's live release
    service = platform.container.repository.get_service(platform.service.id)
    assert service.active_release_id == first.release_id
    assert service.active_deployment_id == first.id
    assert platform.container.repository.get_deployment(first.id).status == DeploymentStatus.SUCCESS
    # AND the cluster's Deployment is back on release 1's template, served by its old ReplicaSet
    live = platform.deployment_object()
    assert live is not None and image_of(live) == good
    assert live["spec"]["template"]["metadata"]["annotations"][m.RELEASE_ID_ANNOTATION] == first.release_id
    assert len(platform.kube.objects("replicasets", platform.ns)) == 2  # no third one: the old one is reused

    def old_serving() -> bool:
        old, new = platform.replica_set_running(good), platform.replica_set_running(broken)
        assert old is not None and new is not None
        return old["metadata"]["uid"] == first_rs["metadata"]["uid"] and bool(
            old["status"].get("availableReplicas") == 1 and new["spec"]["replicas"] == 0
        )

    until(old_serving, 10, "the old ReplicaSet serving alone")


def test_rbac_refusal_fails_the_deployment_naming_the_verb_and_resource(platform: Platform) -> None:
    # GIVEN a cluster role that does not allow patching Deployments
    platform.kube.forbid("patch", "deployments")

    # WHEN the first release is deployed
    deployment = platform.wait(platform.deploy(f"{REGISTRY}:v1"))

    # THEN it failed with Kubernetes' refusal, and the objects applied before it were removed
    assert deployment.status == DeploymentStatus.FAILED
    reason = deployment.reason or ""
    assert reason.startswith(
        f"RuntimeRefused: kubernetes refused: cannot patch deployments.apps in namespace {platform.ns}"
    )
    assert 'cannot patch resource "deployments" in API group "apps"' in reason
    assert reason.endswith("no previous release to roll back to; the failed release was removed")
    assert platform.container.repository.get_service(platform.service.id).active_release_id is None
    assert platform.deployment_object() is None
    assert platform.kube.get_object("v1", "services", platform.ns, NAME) is None


def test_an_unreachable_cluster_fails_the_deployment_after_bounded_retries(platform: Platform) -> None:
    # GIVEN a cluster that drops every connection
    platform.kube.unreachable = True

    # WHEN a release is deployed
    started = time.monotonic()
    deployment = platform.wait(platform.deploy(f"{REGISTRY}:v1"))

    # THEN it failed with the reason, after the runtime's bounded retries (3 attempts, 0.5 s + 1 s)
    assert deployment.status == DeploymentStatus.FAILED
    reason = deployment.reason or ""
    assert reason.startswith(
        "RuntimeUnavailable: kubernetes API unavailable: "
        "get namespaces failed 3 times: "  # the first request: is the namespace Railyard's?
    )
    assert "Error" in reason  # the connection failure's own name (RemoteDisconnected, ProtocolError…)
    assert time.monotonic() - started < 20
    assert platform.container.repository.get_service(platform.service.id).active_release_id is None
