"""KubernetesRuntime's autoscaling, scale, restart and stop, and the objects as the cluster stores
them."""

from __future__ import annotations

import pytest

from chalicelib.adapters.runtime import manifests as m
from chalicelib.adapters.runtime.kubernetes import KubernetesRuntime
from chalicelib.adapters.runtime.kubernetes_api import FIELD_MANAGER
from chalicelib.domain.errors import (
    Conflict,
)
from tests.kubernetes.apiserver import KubeApiServer
from tests.support.kube_runtime import (
    APPLIED_PLURALS,
    NAMESPACE,
    RecordingLog,
    deployment,
    make_spec,
    no_progress,
    replica_sets,
    wait_until,
)

# A hang guard, not a speed bound: the first test also pays the client's one-off import (~2 s idle,
# over 20 s measured with the Kubernetes suite running twice beside a busy loop on 2 cores).
pytestmark = pytest.mark.timeout(60)


def test_autoscaling_leaves_replicas_to_the_hpa_and_turning_it_off_deletes_it(
    server: KubeApiServer, runtime: KubernetesRuntime
) -> None:
    # GIVEN release 1 with three fixed replicas
    runtime.activate(make_spec(1, num_replicas=3), RecordingLog(), no_progress)
    assert deployment(server)["spec"]["replicas"] == 3

    # WHEN release 2 turns autoscaling on (2..5)
    runtime.activate(
        make_spec(2, autoscale_min_replicas=2, autoscale_max_replicas=5), RecordingLog(), no_progress
    )

    # THEN an HPA owns the count: railyard no longer applies replicas, and the count was handed
    # over without dropping to the default of 1
    hpa = server.get_object("autoscaling/v2", "horizontalpodautoscalers", NAMESPACE, "web")
    assert hpa is not None
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 5)
    assert hpa["spec"]["scaleTargetRef"]["name"] == "web"
    live = deployment(server)
    applied = [f for f in live["metadata"]["managedFields"] if f["manager"] == FIELD_MANAGER]
    assert applied and all("f:replicas" not in f["fieldsV1"].get("f:spec", {}) for f in applied)
    assert live["spec"]["replicas"] == 3
    assert live["status"]["availableReplicas"] == 3

    # AND the HPA scales within its bounds
    server.set_hpa_recommendation(NAMESPACE, "web", 5)
    wait_until(lambda: deployment(server)["spec"]["replicas"] == 5)

    # WHEN release 3 turns autoscaling off with two replicas
    runtime.activate(make_spec(3, num_replicas=2), RecordingLog(), no_progress)

    # THEN the HPA is gone and the Deployment has the configured count again
    assert server.get_object("autoscaling/v2", "horizontalpodautoscalers", NAMESPACE, "web") is None
    assert deployment(server)["spec"]["replicas"] == 2
    assert deployment(server)["status"]["availableReplicas"] == 2


def test_first_release_with_autoscaling_waits_for_the_minimum(
    server: KubeApiServer, runtime: KubernetesRuntime
) -> None:
    spec = make_spec(1, autoscale_min_replicas=3, autoscale_max_replicas=6)
    runtime.activate(spec, RecordingLog(), no_progress)
    live = deployment(server)
    assert live["status"]["availableReplicas"] >= 3
    assert server.get_object("policy/v1", "poddisruptionbudgets", NAMESPACE, "web") is not None


def test_scale_sets_replicas_without_an_autoscaler_and_is_refused_with_one(
    server: KubeApiServer, runtime: KubernetesRuntime
) -> None:
    # GIVEN a service with fixed replicas
    runtime.activate(make_spec(1), RecordingLog(), no_progress)

    # WHEN it is scaled to 4
    runtime.scale("svc_01web", 4)

    # THEN the Deployment runs 4 replicas
    wait_until(lambda: deployment(server)["status"].get("availableReplicas") == 4)

    # AND with an autoscaler, scaling is refused with the reason
    runtime.activate(make_spec(2, autoscale_max_replicas=6), RecordingLog(), no_progress)
    with pytest.raises(Conflict, match="autoscaling owns the replica count of ry-env-01prod/web"):
        runtime.scale("svc_01web", 1)


def test_restart_rolls_every_pod_of_the_live_release(
    server: KubeApiServer, runtime: KubernetesRuntime
) -> None:
    runtime.activate(make_spec(1), RecordingLog(), no_progress)
    runtime.restart("svc_01web")
    annotations = deployment(server)["spec"]["template"]["metadata"]["annotations"]
    assert m.RESTARTED_AT_ANNOTATION in annotations
    assert annotations[m.RELEASE_ID_ANNOTATION] == "rel_1"
    wait_until(lambda: len(replica_sets(server)) == 2)


def test_stop_removes_the_service_objects_and_keeps_the_shared_namespace(
    server: KubeApiServer, runtime: KubernetesRuntime
) -> None:
    runtime.activate(
        make_spec(1, autoscale_min_replicas=2, autoscale_max_replicas=3), RecordingLog(), no_progress
    )

    runtime.stop("svc_01web")

    def gone() -> bool:
        return all(
            not server.objects(plural, NAMESPACE)
            for plural in (*APPLIED_PLURALS, "replicasets", "pods")
            if plural != "networkpolicies"
        )

    wait_until(gone)
    assert server.get_object("v1", "namespaces", None, NAMESPACE) is not None
    runtime.stop("svc_01web")  # idempotent
    with pytest.raises(Exception, match="nothing running"):
        runtime.restart("svc_01web")


# --- what is stored ------------------------------------------------------------------------------------


def test_ingress_and_network_policy_as_the_cluster_stores_them(
    server: KubeApiServer, runtime: KubernetesRuntime
) -> None:
    spec = make_spec(1, custom_domains=("shop.example.org",), healthcheck_path="/health")
    runtime.activate(spec, RecordingLog(), no_progress)

    ingress = server.get_object("networking.k8s.io/v1", "ingresses", NAMESPACE, "web")
    assert ingress is not None
    assert ingress["spec"]["ingressClassName"] == "alb"
    assert [r["host"] for r in ingress["spec"]["rules"]] == [
        "web-production-shop.apps.example.com",
        "shop.example.org",
    ]
    annotations = ingress["metadata"]["annotations"]
    assert annotations["alb.ingress.kubernetes.io/healthcheck-path"] == "/health"
    assert annotations["alb.ingress.kubernetes.io/group.name"] == "railyard"
    assert runtime.url_for(spec.hostname) == "https://web-production-shop.apps.example.com"

    policy = server.get_object("networking.k8s.io/v1", "networkpolicies", NAMESPACE, m.NETWORK_POLICY_NAME)
    assert policy is not None
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert {"from": [{"podSelector": {}}]} in policy["spec"]["ingress"]
    assert any(
        {"ipBlock": {"cidr": "10.0.0.0/24"}} in rule.get("from", []) for rule in policy["spec"]["ingress"]
    )
