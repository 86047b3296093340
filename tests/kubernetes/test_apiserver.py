"""The test API server through the official ``kubernetes`` client (which validates every response).

These tests pin the behaviour other tests rely on: REST verbs and Status errors, the four patch
types, server-side apply ownership, generation/observedGeneration, the stepped deployment
controller (ReplicaSets per template, revisions, rollback, history pruning, progress deadline),
watches, subresources and deletion propagation.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from tests.kubernetes.apiserver import KubeApiServer

pytestmark = pytest.mark.timeout(30)

JSON = dict[str, Any]
NS = "default"


def deployment(name: str = "web", image: str = "nginx:1.25", replicas: int = 2, **spec: Any) -> JSON:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": image,
                            "ports": [{"containerPort": 8080}],
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                        }
                    ]
                },
            },
            **spec,
        },
    }


def apply(
    apps: client.AppsV1Api, body: JSON, manager: str = "railyard", force: bool = False
) -> client.V1Deployment:
    return apps.patch_namespaced_deployment(
        body["metadata"]["name"],
        NS,
        body,
        field_manager=manager,
        force=force,
        _content_type="application/apply-patch+yaml",
    )


def status_body(err: ApiException) -> JSON:
    body: JSON = json.loads(err.body)
    return body


def conditions(d: client.V1Deployment) -> dict[str, tuple[str, str | None, str | None]]:
    return {c.type: (c.status, c.reason, c.message) for c in d.status.conditions or []}


def step_until_complete(
    server: KubeApiServer, apps: client.AppsV1Api, name: str = "web", limit: int = 20
) -> int:
    """Step until the rollout is complete by kubectl's rules; returns the number of steps.

    Like ``kubectl rollout status`` this reads the counters, not the Progressing reason: right after
    a rollback to an existing ReplicaSet the condition still says NewReplicaSetAvailable.
    """
    for n in range(1, limit + 1):
        server.step()
        d = apps.read_namespaced_deployment(name, NS)
        s = d.status
        if (s.observed_generation or 0) >= d.metadata.generation and (
            s.updated_replicas == s.replicas == s.available_replicas == d.spec.replicas
        ):
            return n
    raise AssertionError(f"rollout of {name} did not complete in {limit} steps")


def owned_replica_sets(apps: client.AppsV1Api, name: str = "web") -> list[client.V1ReplicaSet]:
    return sorted(
        apps.list_namespaced_replica_set(NS, label_selector=f"app={name}").items,
        key=lambda rs: int(rs.metadata.annotations["deployment.kubernetes.io/revision"]),
    )


@pytest.fixture
def apps(kube_api_client: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(kube_api_client)


@pytest.fixture
def core(kube_api_client: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(kube_api_client)


# --------------------------------------------------------------------------- discovery and CRUD


def test_discovery_and_version(kube_api_client: client.ApiClient) -> None:
    version = client.VersionApi(kube_api_client).get_code()
    assert (version.major, version.minor) == ("1", "37")
    assert client.CoreApi(kube_api_client).get_api_versions().versions == ["v1"]
    groups = {g.name for g in client.ApisApi(kube_api_client).get_api_versions().groups}
    assert {"apps", "autoscaling", "networking.k8s.io", "policy"} <= groups
    resources = {r.name: r for r in client.AppsV1Api(kube_api_client).get_api_resources().resources}
    assert resources["deployments"].short_names == ["deploy"]
    assert resources["deployments/scale"].kind == "Scale"
    assert "deployments/status" in resources


def test_crud_selectors_and_status_objects(core: client.CoreV1Api) -> None:
    for name, tier in (("db", "data"), ("cache", "data"), ("web", "front")):
        core.create_namespaced_secret(
            NS,
            {"metadata": {"name": name, "labels": {"tier": tier}}, "stringData": {"password": f"{name}-pw"}},
        )
    secret = core.read_namespaced_secret("db", NS)
    assert secret.data == {"password": "ZGItcHc="}  # stringData is folded into base64 data
    assert secret.type == "Opaque"
    assert (
        secret.metadata.uid
        and secret.metadata.creation_timestamp
        and int(secret.metadata.resource_version) > 0
    )

    data = core.list_namespaced_secret(NS, label_selector="tier=data").items
    assert sorted(s.metadata.name for s in data) == ["cache", "db"]
    assert [
        s.metadata.name for s in core.list_namespaced_secret(NS, field_selector="metadata.name=web").items
    ] == ["web"]
    assert {
        s.metadata.name for s in core.list_namespaced_secret(NS, label_selector="tier in (front)").items
    } == {"web"}
    # Items of a list carry no kind/apiVersion on a real server either.
    assert data[0].kind is None

    page = core.list_namespaced_secret(NS, limit=2)
    assert len(page.items) == 2 and page.metadata._continue and page.metadata.remaining_item_count == 1
    rest = core.list_namespaced_secret(NS, limit=2, _continue=page.metadata._continue)
    assert [s.metadata.name for s in rest.items] == ["web"]

    deleted = core.delete_namespaced_secret("db", NS)
    assert deleted["status"] == "Success" and deleted["details"]["name"] == "db"
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_secret("db", NS)
    assert status_body(missing.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'secrets "db" not found',
        "reason": "NotFound",
        "details": {"name": "db", "kind": "secrets"},
        "code": 404,
    }


def test_already_exists_conflict_and_invalid(apps: client.AppsV1Api) -> None:
    created = apps.create_namespaced_deployment(NS, deployment())
    with pytest.raises(ApiException) as exists:
        apps.create_namespaced_deployment(NS, deployment())
    assert exists.value.status == 409
    assert status_body(exists.value)["reason"] == "AlreadyExists"
    assert status_body(exists.value)["message"] == 'deployments.apps "web" already exists'

    apps.patch_namespaced_deployment("web", NS, {"spec": {"replicas": 3}})
    stale = created.to_dict(serialize=True)
    stale["spec"]["replicas"] = 5
    with pytest.raises(ApiException) as conflict:
        apps.replace_namespaced_deployment("web", NS, stale)
    assert conflict.value.status == 409
    assert status_body(conflict.value)["reason"] == "Conflict"
    assert status_body(conflict.value)["message"] == (
        'Operation cannot be fulfilled on deployments.apps "web": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )

    bad = deployment("bad")
    bad["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    with pytest.raises(ApiException) as invalid:
        apps.create_namespaced_deployment(NS, bad)
    body = status_body(invalid.value)
    assert invalid.value.status == 422 and body["reason"] == "Invalid"
    assert body["message"].startswith(
        'Deployment.apps "bad" is invalid: spec.template.metadata.labels: Invalid value'
    )
    assert body["details"]["causes"][0]["field"] == "spec.template.metadata.labels"


def test_forbidden_fault_names_verb_resource_and_namespace(
    kube_server: KubeApiServer, apps: client.AppsV1Api
) -> None:
    apps.create_namespaced_deployment(NS, deployment())
    kube_server.forbid("patch", "deployments")
    with pytest.raises(ApiException) as forbidden:
        apps.patch_namespaced_deployment("web", NS, {"spec": {"replicas": 1}})
    assert forbidden.value.status == 403
    body = status_body(forbidden.value)
    assert body["reason"] == "Forbidden"
    assert body["message"] == (
        'deployments.apps "web" is forbidden: User "test-user" cannot patch resource "deployments" '
        'in API group "apps" in the namespace "default"'
    )
    assert apps.read_namespaced_deployment("web", NS).spec.replicas == 2  # other verbs still allowed
    kube_server.allow("patch", "deployments")
    apps.patch_namespaced_deployment("web", NS, {"spec": {"replicas": 1}})

    kube_server.inject_error(
        "get", "deployments", code=503, reason="ServiceUnavailable", message="etcd is down"
    )
    with pytest.raises(ApiException) as unavailable:
        apps.read_namespaced_deployment("web", NS)
    assert unavailable.value.status == 503 and status_body(unavailable.value)["message"] == "etcd is down"
    assert apps.read_namespaced_deployment("web", NS).spec.replicas == 1  # times=1: only the next request


def test_wrong_token_is_unauthorized(kube_server: KubeApiServer) -> None:
    config = client.Configuration(
        host=kube_server.url, api_key={"BearerToken": "nope"}, api_key_prefix={"BearerToken": "Bearer"}
    )
    with client.ApiClient(config) as api, pytest.raises(ApiException) as unauthorized:
        client.CoreV1Api(api).list_namespace()
    assert unauthorized.value.status == 401


# --------------------------------------------------------------------------- patches and server-side apply


def test_server_side_apply_is_idempotent_and_tracks_ownership(apps: client.AppsV1Api) -> None:
    first = apply(apps, deployment())
    again = apply(apps, deployment())
    assert again.metadata.resource_version == first.metadata.resource_version
    assert again.metadata.generation == first.metadata.generation == 1
    entry = next(m for m in again.metadata.managed_fields if m.manager == "railyard")
    assert entry.operation == "Apply"
    assert 'k:{"name":"web"}' in entry.fields_v1["f:spec"]["f:template"]["f:spec"]["f:containers"]
    assert entry.fields_v1["f:spec"]["f:selector"] == {}  # LabelSelector is atomic

    # Another manager changing a field railyard owns is a conflict, unless forced.
    replicas_only = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"replicas": 5},
    }
    with pytest.raises(ApiException) as conflict:
        apply(apps, replicas_only, manager="hpa-tool")
    body = status_body(conflict.value)
    assert conflict.value.status == 409
    assert body["message"] == 'Apply failed with 1 conflict: conflict with "railyard": .spec.replicas'
    assert body["details"]["causes"][0]["field"] == ".spec.replicas"
    forced = apply(apps, replicas_only, "hpa-tool", force=True)
    assert forced.spec.replicas == 5 and forced.metadata.generation == 2
    assert {m.manager for m in forced.metadata.managed_fields} == {"railyard", "hpa-tool"}

    # Fields a manager stops applying are removed (env B), defaults come back for dropped fields.
    trimmed = deployment()
    trimmed["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "A", "value": "1"}]
    del trimmed["spec"]["replicas"]
    result = apply(apps, trimmed)
    assert [e.name for e in result.spec.template.spec.containers[0].env] == ["A"]
    assert result.spec.replicas == 5  # now owned by hpa-tool only, so railyard's apply keeps it


def test_strategic_merge_patch_merges_lists_by_key(apps: client.AppsV1Api) -> None:
    apps.create_namespaced_deployment(NS, deployment())
    patched = apps.patch_namespaced_deployment(
        "web",
        NS,
        {
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "name": "web",
                                "env": [{"name": "B", "value": "changed"}, {"name": "C", "value": "3"}],
                                "ports": [{"containerPort": 9090}],
                            },
                            {"name": "sidecar", "image": "envoy:1"},
                        ]
                    }
                }
            }
        },
    )  # a dict body is sent as application/strategic-merge-patch+json
    web, sidecar = patched.spec.template.spec.containers
    assert [(e.name, e.value) for e in web.env] == [("A", "1"), ("B", "changed"), ("C", "3")]
    assert [p.container_port for p in web.ports] == [8080, 9090]
    assert web.image == "nginx:1.25" and sidecar.image == "envoy:1"
    assert sidecar.termination_message_path == "/dev/termination-log"  # defaults applied to the new item

    deleted = apps.patch_namespaced_deployment(
        "web", NS, {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}}
    )
    assert [c.name for c in deleted.spec.template.spec.containers] == ["web"]

    merged = apps.patch_namespaced_deployment(
        "web",
        NS,
        {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:2"}]}}}},
        _content_type="application/merge-patch+json",
    )
    assert merged.spec.template.spec.containers[0].env is None  # merge patch replaces lists wholesale

    json_patched = apps.patch_namespaced_deployment(
        "web",
        NS,
        [
            {"op": "replace", "path": "/spec/replicas", "value": 4},
            {"op": "test", "path": "/spec/replicas", "value": 4},
        ],
    )
    assert json_patched.spec.replicas == 4
    with pytest.raises(ApiException) as failed:
        apps.patch_namespaced_deployment("web", NS, [{"op": "test", "path": "/spec/replicas", "value": 1}])
    assert failed.value.status == 422


# --------------------------------------------------------------------------- the deployment controller


def test_generation_moves_on_spec_writes_and_is_observed_on_step(
    kube_server: KubeApiServer, apps: client.AppsV1Api
) -> None:
    created = apps.create_namespaced_deployment(NS, deployment())
    assert created.metadata.generation == 1 and created.status.observed_generation is None
    kube_server.step()
    assert apps.read_namespaced_deployment("web", NS).status.observed_generation == 1

    patched = apps.patch_namespaced_deployment(
        "web", NS, {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.26"}]}}}}
    )
    assert patched.metadata.generation == 2 and patched.status.observed_generation == 1
    kube_server.step()
    assert apps.read_namespaced_deployment("web", NS).status.observed_generation == 2

    # The main resource ignores status; /status ignores spec; neither bumps generation for the other.
    ignored = apps.patch_namespaced_deployment("web", NS, {"status": {"replicas": 99}})
    assert ignored.status.replicas != 99 and ignored.metadata.generation == 2
    status_write = apps.patch_namespaced_deployment_status(
        "web", NS, {"spec": {"replicas": 7}, "status": {"replicas": 9}}
    )
    assert status_write.spec.replicas == 2 and status_write.status.replicas == 9
    assert status_write.metadata.generation == 2


def test_a_deployment_annotation_bumps_generation_and_a_label_does_not(
    kube_server: KubeApiServer, apps: client.AppsV1Api
) -> None:
    # As kube-apiserver's deployment strategy (PrepareForUpdate): annotations are copied to the
    # ReplicaSets, so changing one is a new generation for the controller; labels are not.
    apply(apps, deployment())
    step_until_complete(kube_server, apps)
    merge = "application/merge-patch+json"

    labelled = apps.patch_namespaced_deployment(
        "web", NS, {"metadata": {"labels": {"tier": "front"}}}, _content_type=merge
    )
    assert labelled.metadata.generation == 1

    annotated = apps.patch_namespaced_deployment(
        "web", NS, {"metadata": {"annotations": {"example.com/live": "v1"}}}, _content_type=merge
    )
    assert annotated.metadata.generation == 2 and annotated.status.observed_generation == 1
    same_again = apps.patch_namespaced_deployment(
        "web", NS, {"metadata": {"annotations": {"example.com/live": "v1"}}}, _content_type=merge
    )
    assert same_again.metadata.generation == 2  # no change, no generation

    # One controller round observes it: the same ReplicaSet (no rollout), now carrying the annotation.
    kube_server.step()
    observed = apps.read_namespaced_deployment("web", NS)
    assert observed.status.observed_generation == 2
    assert observed.status.updated_replicas == observed.status.available_replicas == 2
    (rs,) = owned_replica_sets(apps)
    assert rs.metadata.annotations["example.com/live"] == "v1"
    assert rs.metadata.annotations["deployment.kubernetes.io/revision"] == "1"


def test_rollout_completes_with_kube_controller_manager_status(
    kube_server: KubeApiServer, apps: client.AppsV1Api, core: client.CoreV1Api
) -> None:
    apps.create_namespaced_deployment(NS, deployment(replicas=2))
    kube_server.step()
    first = apps.read_namespaced_deployment("web", NS)
    (rs,) = owned_replica_sets(apps)
    assert conditions(first)["Progressing"] == (
        "True",
        "NewReplicaSetCreated",
        f'Created new replica set "{rs.metadata.name}"',
    )
    assert conditions(first)["Available"][1] == "MinimumReplicasUnavailable"
    assert first.metadata.annotations["deployment.kubernetes.io/revision"] == "1"

    steps = step_until_complete(kube_server, apps)
    assert steps <= 4  # one pod becomes ready per step
    done = apps.read_namespaced_deployment("web", NS)
    assert (done.status.replicas, done.status.updated_replicas, done.status.ready_replicas) == (2, 2, 2)
    assert done.status.available_replicas == 2 and done.status.unavailable_replicas is None
    assert conditions(done) == {
        "Available": ("True", "MinimumReplicasAvailable", "Deployment has minimum availability."),
        "Progressing": (
            "True",
            "NewReplicaSetAvailable",
            f'ReplicaSet "{rs.metadata.name}" has successfully progressed.',
        ),
    }
    pod_hash = rs.metadata.labels["pod-template-hash"]
    assert rs.metadata.name == f"web-{pod_hash}"
    assert rs.spec.selector.match_labels == {"app": "web", "pod-template-hash": pod_hash}
    owner = rs.metadata.owner_references[0]
    assert (owner.kind, owner.name, owner.uid, owner.controller) == (
        "Deployment",
        "web",
        done.metadata.uid,
        True,
    )
    pods = core.list_namespaced_pod(NS, label_selector=f"pod-template-hash={pod_hash}").items
    assert len(pods) == 2 and all(p.status.phase == "Running" for p in pods)
    assert all(p.metadata.owner_references[0].uid == rs.metadata.uid for p in pods)


def test_rollback_reuses_the_old_replicaset_with_a_new_revision(
    kube_server: KubeApiServer, apps: client.AppsV1Api
) -> None:
    apply(apps, deployment(image="app:v1"))
    step_until_complete(kube_server, apps)
    apply(apps, deployment(image="app:v2"))
    step_until_complete(kube_server, apps)
    v1_rs, v2_rs = owned_replica_sets(apps)
    assert (v1_rs.spec.replicas, v2_rs.spec.replicas) == (0, 2)

    apply(apps, deployment(image="app:v1"))  # back to the first template
    step_until_complete(kube_server, apps)
    replica_sets = {rs.metadata.name: rs for rs in owned_replica_sets(apps)}
    assert len(replica_sets) == 2  # no third ReplicaSet: the v1 one is reused
    reused = replica_sets[v1_rs.metadata.name]
    assert reused.metadata.annotations["deployment.kubernetes.io/revision"] == "3"
    assert reused.metadata.annotations["deployment.kubernetes.io/revision-history"] == "1"
    assert reused.spec.replicas == 2 and replica_sets[v2_rs.metadata.name].spec.replicas == 0
    assert (
        apps.read_namespaced_deployment("web", NS).metadata.annotations["deployment.kubernetes.io/revision"]
        == "3"
    )


def test_revision_history_limit_prunes_scaled_down_replicasets(
    kube_server: KubeApiServer, apps: client.AppsV1Api
) -> None:
    for version in range(1, 5):
        apply(apps, deployment(image=f"app:v{version}", replicas=1, revisionHistoryLimit=1))
        step_until_complete(kube_server, apps)
    kube_server.step()  # cleanup runs once the rollout is complete
    revisions = [
        rs.metadata.annotations["deployment.kubernetes.io/revision"] for rs in owned_replica_sets(apps)
    ]
    assert revisions == ["3", "4"]


def test_never_ready_image_hits_progress_deadline(kube_server: KubeApiServer, apps: client.AppsV1Api) -> None:
    apply(apps, deployment(image="app:v1", replicas=1))
    step_until_complete(kube_server, apps)
    kube_server.never_ready_images.add("app:broken")
    apply(apps, deployment(image="app:broken", replicas=1, progressDeadlineSeconds=30))
    kube_server.step(5)
    stuck = apps.read_namespaced_deployment("web", NS)
    # The new pod counted as progress once (ReplicaSetUpdated), then nothing moves.
    assert conditions(stuck)["Progressing"][:2] == ("True", "ReplicaSetUpdated")
    assert stuck.status.available_replicas == 1  # maxUnavailable 0: the old pod keeps serving
    assert stuck.status.updated_replicas == 1 and stuck.status.unavailable_replicas == 1

    kube_server.clock.advance(31)
    kube_server.step()
    failed = apps.read_namespaced_deployment("web", NS)
    new_rs = owned_replica_sets(apps)[-1]
    assert conditions(failed)["Progressing"] == (
        "False",
        "ProgressDeadlineExceeded",
        f'ReplicaSet "{new_rs.metadata.name}" has timed out progressing.',
    )
    pods = kube_server.objects("pods", NS)
    broken = [p for p in pods if p["spec"]["containers"][0]["image"] == "app:broken"]
    assert broken and broken[0]["status"]["phase"] == "Running"
    assert broken[0]["status"]["containerStatuses"][0]["ready"] is False


def test_scale_subresource_and_hpa_min_replicas(
    kube_server: KubeApiServer, kube_api_client: client.ApiClient
) -> None:
    apps = client.AppsV1Api(kube_api_client)
    apply(apps, deployment(replicas=1))
    scale = apps.read_namespaced_deployment_scale("web", NS)
    assert (scale.spec.replicas, scale.status.selector) == (1, "app=web")
    scaled = apps.patch_namespaced_deployment_scale("web", NS, {"spec": {"replicas": 2}})
    assert scaled.spec.replicas == 2 and apps.read_namespaced_deployment("web", NS).metadata.generation == 2

    hpa = client.AutoscalingV2Api(kube_api_client).create_namespaced_horizontal_pod_autoscaler(
        NS,
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 3,
                "maxReplicas": 5,
            },
        },
    )
    assert hpa.spec.metrics[0].resource.target.average_utilization == 80  # defaulted
    assert hpa.status.desired_replicas == 0
    kube_server.step()
    assert apps.read_namespaced_deployment("web", NS).spec.replicas == 3
    kube_server.set_hpa_recommendation(NS, "web", 9)
    kube_server.step(2)
    status = (
        client.AutoscalingV2Api(kube_api_client).read_namespaced_horizontal_pod_autoscaler("web", NS).status
    )
    assert status.desired_replicas == 5
    assert {c.type: c.reason for c in status.conditions}["ScalingLimited"] == "TooManyReplicas"
    assert apps.read_namespaced_deployment("web", NS).spec.replicas == 5


def test_other_resource_kinds_round_trip_through_the_typed_client(kube_api_client: client.ApiClient) -> None:
    core, networking = client.CoreV1Api(kube_api_client), client.NetworkingV1Api(kube_api_client)
    policy = client.PolicyV1Api(kube_api_client)
    core.create_namespace({"metadata": {"name": "team"}})
    svc = core.create_namespaced_service(
        "team", {"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}
    )
    assert svc.spec.cluster_ip.startswith("10.96.") and svc.spec.ports[0].target_port == 80
    core.create_namespaced_config_map("team", {"metadata": {"name": "cfg"}, "data": {"k": "v"}})
    ingress = networking.create_namespaced_ingress(
        "team",
        {
            "metadata": {"name": "web"},
            "spec": {
                "rules": [
                    {
                        "host": "web.example.com",
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "pathType": "Prefix",
                                    "backend": {"service": {"name": "web", "port": {"number": 80}}},
                                }
                            ]
                        },
                    }
                ]
            },
        },
    )
    assert ingress.metadata.generation == 1
    policy_obj = networking.create_namespaced_network_policy(
        "team", {"metadata": {"name": "deny"}, "spec": {"podSelector": {}}}
    )
    assert policy_obj.spec.policy_types == ["Ingress"]
    pdb = policy.create_namespaced_pod_disruption_budget(
        "team",
        {
            "metadata": {"name": "web"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}},
        },
    )
    assert pdb.status.disruptions_allowed == 0
    assert [
        n.metadata.name for n in core.list_namespace(label_selector="kubernetes.io/metadata.name=team").items
    ] == ["team"]


# --------------------------------------------------------------------------- deletion


def test_delete_propagation_policies(kube_server: KubeApiServer, apps: client.AppsV1Api) -> None:
    for name in ("fg", "bg", "orphan"):
        apps.create_namespaced_deployment(NS, deployment(name, replicas=1))
    kube_server.step(2)

    foreground = apps.delete_namespaced_deployment("fg", NS, propagation_policy="Foreground")
    assert foreground["kind"] == "Deployment"  # pending: the object comes back with its finalizer
    assert foreground["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert foreground["metadata"]["deletionTimestamp"]
    background = apps.delete_namespaced_deployment("bg", NS, propagation_policy="Background")
    assert background["kind"] == "Status" and background["details"]["kind"] == "deployments"
    apps.delete_namespaced_deployment("orphan", NS, body=client.V1DeleteOptions(propagation_policy="Orphan"))

    kube_server.step()
    remaining = {d["metadata"]["name"] for d in kube_server.objects("deployments", NS)}
    assert remaining == set()
    replica_sets = kube_server.objects("replicasets", NS)
    assert [rs["metadata"]["labels"]["app"] for rs in replica_sets] == ["orphan"]
    assert "ownerReferences" not in replica_sets[0]["metadata"]
    assert {p["metadata"]["labels"]["app"] for p in kube_server.objects("pods", NS)} == {"orphan"}


def test_namespace_deletion_terminates_then_removes_contents(
    kube_server: KubeApiServer, core: client.CoreV1Api
) -> None:
    core.create_namespace({"metadata": {"name": "doomed"}})
    core.create_namespaced_config_map("doomed", {"metadata": {"name": "cfg"}})
    terminating = core.delete_namespace("doomed")
    assert terminating["status"]["phase"] == "Terminating"
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_config_map("doomed", {"metadata": {"name": "late"}})
    assert refused.value.status == 403 and "is being terminated" in status_body(refused.value)["message"]
    kube_server.step()
    assert kube_server.get_object("v1", "namespaces", None, "doomed") is None
    assert kube_server.objects("configmaps", "doomed") == []


# --------------------------------------------------------------------------- watches


def test_watch_replays_history_streams_live_events_and_bookmarks(
    kube_server: KubeApiServer, core: client.CoreV1Api
) -> None:
    kube_server.bookmark_interval = 0.05
    start = core.list_namespaced_config_map(NS).metadata.resource_version
    core.create_namespaced_config_map(NS, {"metadata": {"name": "a"}, "data": {"v": "1"}})
    core.patch_namespaced_config_map("a", NS, {"data": {"v": "2"}})
    core.delete_namespaced_config_map("a", NS)
    timer = threading.Timer(0.2, lambda: core.create_namespaced_config_map(NS, {"metadata": {"name": "b"}}))
    timer.start()
    seen: list[tuple[str, str | None]] = []
    w = watch.Watch()
    try:
        for event in w.stream(
            core.list_namespaced_config_map,
            NS,
            resource_version=start,
            allow_watch_bookmarks=True,
            timeout_seconds=5,
        ):
            name = event["raw_object"].get("metadata", {}).get("name")
            seen.append((event["type"], name))
            if ("ADDED", "b") in seen and seen[-1][0] == "BOOKMARK":
                w.stop()
    finally:
        timer.join()
    assert seen[:3] == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]
    assert ("ADDED", "b") in seen and seen[-1] == ("BOOKMARK", None)
    assert int(w.resource_version) >= int(core.read_namespaced_config_map("b", NS).metadata.resource_version)


def test_watch_from_compacted_resource_version_is_gone(
    kube_server: KubeApiServer, core: client.CoreV1Api
) -> None:
    kube_server.watch_history_limit = 3
    start = core.list_namespaced_config_map(NS).metadata.resource_version
    for i in range(5):
        core.create_namespaced_config_map(NS, {"metadata": {"name": f"c{i}"}})
    with pytest.raises(ApiException) as gone:
        list(
            watch.Watch().stream(
                core.list_namespaced_config_map, NS, resource_version=start, timeout_seconds=2
            )
        )
    assert gone.value.status == 410 and "too old resource version" in gone.value.reason


def test_watch_ends_at_timeout_seconds(core: client.CoreV1Api) -> None:
    started = time.monotonic()
    events = list(watch.Watch().stream(core.list_namespaced_config_map, NS, timeout_seconds=1))
    assert events == [] and 0.9 <= time.monotonic() - started < 3


# --------------------------------------------------------------------------- autostep and reachability


def test_autostep_completes_rollouts_for_waiting_callers(
    kube_server: KubeApiServer, apps: client.AppsV1Api
) -> None:
    with kube_server.autostep(0.01):
        apply(apps, deployment(replicas=3))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            d = apps.read_namespaced_deployment("web", NS)
            if d.status.available_replicas == 3 and d.status.observed_generation == d.metadata.generation:
                break
            time.sleep(0.02)
    assert (
        conditions(apps.read_namespaced_deployment("web", NS))["Progressing"][1] == "NewReplicaSetAvailable"
    )


def test_unreachable_server_drops_connections(kube_server: KubeApiServer) -> None:
    import urllib3

    config = client.Configuration(host=kube_server.url, retries=False)
    with client.ApiClient(config) as api:
        kube_server.unreachable = True
        with pytest.raises(urllib3.exceptions.HTTPError):
            client.CoreV1Api(api).list_namespace()
        kube_server.unreachable = False
        assert client.CoreV1Api(api).list_namespace().items
    kube_server.stop()
    with client.ApiClient(config) as api, pytest.raises(urllib3.exceptions.HTTPError):
        client.CoreV1Api(api).list_namespace()
