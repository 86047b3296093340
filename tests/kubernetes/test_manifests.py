"""The manifests of a release: valid for the targeted Kubernetes versions, and the settings mapping.

Validation uses kubernetes-validate's strict schemas (unknown fields are errors), for EKS's
oldest standard-support version we target and the newest the client knows.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import itertools
import json
import re
from typing import Any

import kubernetes_validate
import kubernetes_validate.utils
import pytest

from chalicelib.adapters.runtime import manifests as m
from chalicelib.adapters.runtime import manifests_names as names
from chalicelib.adapters.runtime import manifests_pods as pods
from chalicelib.domain.models import ServiceSettings
from chalicelib.domain.ports import ReleaseSpec

pytestmark = pytest.mark.timeout(60)

KUBERNETES_VERSIONS = ("1.33", "1.37")
OPTIONS = m.ManifestOptions(
    base_domain="apps.example.com", load_balancer_cidrs=("10.0.0.0/24", "10.0.1.0/24")
)


@pytest.fixture(autouse=True)
def cached_schemas(monkeypatch: pytest.MonkeyPatch) -> None:
    # kubernetes-validate re-reads its multi-megabyte definitions for every object; the schemas are
    # read-only, so one read per test is enough.
    monkeypatch.setattr(
        kubernetes_validate.utils,
        "schema_contents",
        functools.lru_cache(maxsize=None)(kubernetes_validate.utils.schema_contents),
    )


def make_spec(**settings: Any) -> ReleaseSpec:
    variables = settings.pop("variables", {"DATABASE_URL": "postgres://u:p@db/app", "DEBUG": "0"})
    changes = {
        k: settings.pop(k) for k in ("release_id", "deployment_id", "image", "start_command") if k in settings
    }
    changes["domains"] = settings.pop("custom_domains", ())  # verified domains travel on the spec
    spec = ReleaseSpec(
        service_id="svc_01jc3v7q2m8x4k2p",
        hostname="web-production-shop",
        deployment_id="dep_01jc3v7q2m8x4k2p",
        release_id="rel_01jc3v7q2m8x4k2p",
        artifact_key="artifacts/web.tar.gz",
        start_command="gunicorn --bind 127.0.0.1:$PORT app:app",
        variables=variables,
        settings=ServiceSettings(**{"healthcheck_path": "/", **settings}),
        image="123456789012.dkr.ecr.us-east-1.amazonaws.com/railyard/web:rel_1",
        project="shop",
        environment="production",
        service="web",
        environment_id="env_01jc3v7q2m8x4k2p",
    )
    return dataclasses.replace(spec, **changes)


def by_kind(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    kinds = [o["kind"] for o in objects]
    assert len(kinds) == len(set(kinds)), kinds
    return {o["kind"]: o for o in objects}


COMBINATIONS = [
    pytest.param(dict(num_replicas=replicas, **autoscale, **domains), id=f"{rid}-{aid}-{did}")
    for (rid, replicas), (aid, autoscale), (did, domains) in itertools.product(
        [("1-replica", 1), ("3-replicas", 3)],
        [
            ("fixed", {}),
            ("hpa-cpu", {"autoscale_max_replicas": 6, "autoscale_min_replicas": 2}),
            (
                "hpa-memory",
                {"autoscale_max_replicas": 4, "autoscale_cpu_percent": None, "autoscale_memory_percent": 75},
            ),
        ],
        [
            ("no-domains", {}),
            ("custom-domains", {"custom_domains": ("shop.example.org", "www.shop.example.org")}),
        ],
    )
]


@pytest.mark.parametrize("settings", COMBINATIONS)
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_validates_strictly(settings: dict[str, Any], version: str) -> None:
    for options in (
        OPTIONS,
        dataclasses.replace(OPTIONS, certificate_arn="arn:aws:acm:us-east-1:1:certificate/x"),
    ):
        for obj in m.render(make_spec(**settings), options):
            kubernetes_validate.validate(obj, version, strict=True)


def test_strict_validation_would_catch_a_misspelt_field() -> None:
    deployment = by_kind(m.render(make_spec(), OPTIONS))["Deployment"]
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, "1.33", strict=True)


def test_objects_come_in_apply_order_namespace_first_deployment_last() -> None:
    spec = make_spec(autoscale_min_replicas=2, autoscale_max_replicas=4)
    kinds = [o["kind"] for o in m.render(spec, OPTIONS)]
    assert kinds[0] == "Namespace"
    assert kinds[1] == "RoleBinding"  # the runtime's rights in the namespace, before it needs them
    assert kinds[-1] == "Deployment"
    assert set(kinds) == {
        "Namespace",
        "RoleBinding",
        "NetworkPolicy",
        "Secret",
        "Service",
        "Deployment",
        "Ingress",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    }


def test_rendering_is_deterministic() -> None:
    assert m.render(make_spec(), OPTIONS) == m.render(make_spec(), OPTIONS)


def test_names_and_labels_per_project_environment_and_service() -> None:
    objects = by_kind(m.render(make_spec(), OPTIONS))
    ns = objects["Namespace"]["metadata"]
    assert ns["name"] == "ry-env-01jc3v7q2m8x4k2p"
    assert ns["labels"]["railyard.dev/project"] == "shop"
    assert ns["labels"]["railyard.dev/environment"] == "production"
    assert ns["labels"]["railyard.dev/environment-id"] == "env_01jc3v7q2m8x4k2p"
    assert ns["annotations"] == {
        "railyard.dev/project-name": "shop",
        "railyard.dev/environment-name": "production",
    }
    for kind in ("Deployment", "Service", "Ingress"):
        meta = objects[kind]["metadata"]
        assert meta["name"] == "web"
        assert meta["namespace"] == "ry-env-01jc3v7q2m8x4k2p"
        assert meta["labels"]["app.kubernetes.io/name"] == "web"
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "railyard"
        assert meta["labels"]["railyard.dev/service-id"] == "svc_01jc3v7q2m8x4k2p"
    deployment = objects["Deployment"]["spec"]
    selector = deployment["selector"]["matchLabels"]
    assert selector == {"app.kubernetes.io/name": "web", "railyard.dev/service-id": "svc_01jc3v7q2m8x4k2p"}
    assert selector.items() <= deployment["template"]["metadata"]["labels"].items()
    assert objects["Service"]["spec"]["selector"] == selector


@pytest.mark.parametrize(
    ("settings", "surge"),
    [
        ({"num_replicas": 1}, 1),
        ({"num_replicas": 4}, 1),
        ({"num_replicas": 5}, "25%"),
        ({"num_replicas": 20}, "25%"),
        ({"num_replicas": 1, "autoscale_min_replicas": 2, "autoscale_max_replicas": 4}, 1),
        ({"num_replicas": 1, "autoscale_min_replicas": 8, "autoscale_max_replicas": 12}, "25%"),
    ],
)
def test_rolling_update_surge_follows_the_replica_count_and_never_lets_one_go(
    settings: dict[str, Any], surge: Any
) -> None:
    deployment = by_kind(m.render(make_spec(**settings), OPTIONS))["Deployment"]["spec"]
    assert deployment["strategy"]["rollingUpdate"] == {"maxUnavailable": 0, "maxSurge": surge}


def test_namespace_is_named_by_the_environment_id_never_by_user_names() -> None:
    base = make_spec()
    # User-chosen names cannot reach a system namespace or another project's namespace.
    kube = dataclasses.replace(base, project="kube", environment="system", environment_id="env_01a")
    assert m.namespace_name(kube) == "ry-env-01a"
    one = dataclasses.replace(base, project="a-b", environment="c", environment_id="env_01x")
    two = dataclasses.replace(base, project="a", environment="b-c", environment_id="env_01y")
    assert m.namespace_name(one) != m.namespace_name(two)
    org_a = dataclasses.replace(base, environment_id="env_01orga")
    org_b = dataclasses.replace(base, environment_id="env_01orgb")
    assert m.namespace_name(org_a) != m.namespace_name(org_b)
    # Without an id (older callers) the names still never collide nor leave the prefix.
    old_one = dataclasses.replace(one, environment_id="")
    old_two = dataclasses.replace(two, environment_id="")
    assert m.namespace_name(old_one) != m.namespace_name(old_two)
    assert m.namespace_name(dataclasses.replace(kube, environment_id="")).startswith("ry-")
    # Long or odd ids stay valid DNS-1123 labels, distinct.
    long_a = dataclasses.replace(base, environment_id="env_" + "A" * 70)
    long_b = dataclasses.replace(base, environment_id="env_" + "A" * 69 + "B")
    for spec in (long_a, long_b):
        name = m.namespace_name(spec)
        assert len(name) <= 63 and name.startswith("ry-")
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name)
    assert m.namespace_name(long_a) != m.namespace_name(long_b)


def test_long_and_odd_names_become_valid_distinct_dns_labels() -> None:
    long_a = "a" * 32 + "-" + "b" * 32
    long_b = "a" * 32 + "-" + "b" * 31 + "c"
    assert len(names.dns_label(long_a)) == 63
    assert names.dns_label(long_a) != names.dns_label(long_b)
    assert names.dns_label("9lives") == "x-9lives"
    assert names.dns_label("My_App") == "my-app"
    assert names.dns_label("--") == "railyard"
    spec = dataclasses.replace(make_spec(), project="p" * 32, environment="e" * 32)
    assert len(m.namespace_name(spec)) <= 63
    host = m.public_host("s" * 32 + "-" + "e" * 32 + "-" + "p" * 32, "apps.example.com")
    assert all(len(label) <= 63 for label in host.split("."))
    # A hostname that is already a valid label is used as it is (the API shows the same URL).
    assert (
        m.public_host("9lives-production-shop", "Apps.Example.com.")
        == "9lives-production-shop.apps.example.com"
    )


def test_replicas_are_left_to_the_autoscaler_when_autoscaling() -> None:
    fixed = by_kind(m.render(make_spec(num_replicas=3), OPTIONS))
    assert fixed["Deployment"]["spec"]["replicas"] == 3
    assert "HorizontalPodAutoscaler" not in fixed
    assert m.ObjectRef("HorizontalPodAutoscaler", "web") in m.absent_objects(make_spec(num_replicas=3))

    spec = make_spec(
        num_replicas=3, autoscale_min_replicas=2, autoscale_max_replicas=8, autoscale_memory_percent=80
    )
    scaled = by_kind(m.render(spec, OPTIONS))
    assert "replicas" not in scaled["Deployment"]["spec"]
    hpa = scaled["HorizontalPodAutoscaler"]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 8)
    assert hpa["metrics"] == [
        {
            "type": "Resource",
            "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
        },
        {
            "type": "Resource",
            "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 80}},
        },
    ]
    assert m.ObjectRef("HorizontalPodAutoscaler", "web") not in m.absent_objects(spec)


@pytest.mark.parametrize(
    ("settings", "wanted"),
    [
        ({"num_replicas": 1}, False),
        ({"num_replicas": 2}, True),
        ({"num_replicas": 3, "autoscale_max_replicas": 5, "autoscale_min_replicas": 1}, False),
        ({"num_replicas": 1, "autoscale_max_replicas": 5, "autoscale_min_replicas": 2}, True),
    ],
)
def test_disruption_budget_only_with_two_or_more_replicas(settings: dict[str, Any], wanted: bool) -> None:
    objects = by_kind(m.render(make_spec(**settings), OPTIONS))
    assert ("PodDisruptionBudget" in objects) is wanted
    assert (
        m.ObjectRef("PodDisruptionBudget", "web") in m.absent_objects(make_spec(**settings))
    ) is not wanted
    if wanted:
        pdb = objects["PodDisruptionBudget"]["spec"]
        assert pdb == {"maxUnavailable": 1, "selector": {"matchLabels": m.selector_labels(make_spec())}}


def test_container_runs_the_start_command_with_port_probes_and_resources() -> None:
    spec = make_spec(
        healthcheck_path="/healthz",
        healthcheck_timeout=30,
        cpu_request_millis=100,
        cpu_limit_millis=500,
        memory_request_mb=128,
        memory_limit_mb=384,
    )
    pod = by_kind(m.render(spec, OPTIONS))["Deployment"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == spec.image
    # Containers are reached from outside: a loopback bind of a local plan is opened up.
    assert container["command"] == ["/bin/sh", "-c", "gunicorn --bind 0.0.0.0:$PORT app:app"]
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert container["env"] == [{"name": "PORT", "value": "8080"}, {"name": "HOME", "value": "/tmp"}]
    assert container["envFrom"] == [{"secretRef": {"name": m.variables_secret_name(spec)}}]
    assert container["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"cpu": "500m", "memory": "384Mi"},
    }
    readiness, liveness = container["readinessProbe"], container["livenessProbe"]
    assert readiness["httpGet"] == liveness["httpGet"] == {"path": "/healthz", "port": "http"}
    assert readiness["timeoutSeconds"] == 5
    # Liveness never kills an app before it had its whole health-check timeout to start.
    assert liveness["initialDelaySeconds"] == 30
    assert liveness["periodSeconds"] * liveness["failureThreshold"] > (
        readiness["periodSeconds"] * readiness["failureThreshold"]
    )
    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False


def test_default_port_is_the_one_the_image_sets() -> None:
    from chalicelib.domain import renderings

    assert m.DEFAULT_PORT == renderings.DEFAULT_PORT


def test_port_variable_moves_the_container_port_and_empty_start_command_keeps_the_image_cmd() -> None:
    spec = make_spec(variables={"PORT": "3000"}, start_command="")
    (container,) = by_kind(m.render(spec, OPTIONS))["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert container["ports"][0]["containerPort"] == 3000
    assert container["env"][0] == {"name": "PORT", "value": "3000"}
    assert "command" not in container


def test_rollout_strategy_maps_overlap_and_draining() -> None:
    spec = make_spec(overlap_seconds=2.5, draining_seconds=10, healthcheck_timeout=45)
    deployment = by_kind(m.render(spec, OPTIONS))["Deployment"]["spec"]
    # Zero downtime: no ready pod goes before a new one is available; one extra pod at a time.
    assert deployment["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }
    assert deployment["progressDeadlineSeconds"] == 45 + pods.PROGRESS_DEADLINE_MARGIN_SECONDS
    assert deployment["revisionHistoryLimit"] == 10
    pod = deployment["template"]["spec"]
    # Overlap: the old pod keeps serving (preStop) while the ALB deregisters it; then SIGTERM and
    # drainingSeconds before SIGKILL. The grace period counts from the preStop's start.
    assert pod["containers"][0]["lifecycle"] == {"preStop": {"sleep": {"seconds": 3}}}
    assert pod["terminationGracePeriodSeconds"] == 3 + 10
    ingress = by_kind(m.render(spec, OPTIONS))["Ingress"]["metadata"]["annotations"]
    assert (
        ingress["alb.ingress.kubernetes.io/target-group-attributes"]
        == "deregistration_delay.timeout_seconds=10"
    )

    no_overlap = by_kind(m.render(make_spec(overlap_seconds=0), OPTIONS))["Deployment"]
    assert "lifecycle" not in no_overlap["spec"]["template"]["spec"]["containers"][0]


def test_variables_live_in_an_immutable_content_addressed_secret_never_in_annotations() -> None:
    spec = make_spec()
    objects = by_kind(m.render(spec, OPTIONS))
    secret = objects["Secret"]
    assert secret["immutable"] is True
    assert secret["metadata"]["name"] == m.variables_secret_name(spec)
    assert {k: base64.b64decode(v).decode() for k, v in secret["data"].items()} == spec.variables
    rendered_without_secret = json.dumps([o for o in m.render(spec, OPTIONS) if o["kind"] != "Secret"])
    assert "postgres://u:p@db/app" not in rendered_without_secret

    # New variables: a new Secret name, so the pod template changes and the pods roll.
    changed = make_spec(variables={**spec.variables, "DEBUG": "1"})
    assert m.variables_secret_name(changed) != m.variables_secret_name(spec)
    template = objects["Deployment"]["spec"]["template"]
    assert by_kind(m.render(changed, OPTIONS))["Deployment"]["spec"]["template"] != template


def test_a_new_deployment_of_the_same_release_renders_the_same_pod_template() -> None:
    # A rollback is a new deployment of an old release: it must match the old ReplicaSet.
    first = by_kind(m.render(make_spec(), OPTIONS))["Deployment"]
    again = by_kind(m.render(make_spec(deployment_id="dep_rollback"), OPTIONS))["Deployment"]
    assert again["spec"]["template"] == first["spec"]["template"]
    assert again["metadata"]["annotations"][names.DEPLOYMENT_ID_ANNOTATION] == "dep_rollback"
    other_release = by_kind(m.render(make_spec(release_id="rel_2"), OPTIONS))["Deployment"]
    assert other_release["spec"]["template"]["metadata"]["annotations"] == {m.RELEASE_ID_ANNOTATION: "rel_2"}


def test_release_record_round_trips_without_variables() -> None:
    spec = make_spec(custom_domains=("shop.example.org",), autoscale_max_replicas=3)
    record = m.release_record(spec)
    assert "postgres://" not in record
    assert m.record_secret_name(record) == m.variables_secret_name(spec)
    assert m.spec_from_record(record, dict(spec.variables)) == spec
    deployment = by_kind(m.render(spec, OPTIONS, previous_record="{}"))["Deployment"]
    assert deployment["metadata"]["annotations"][m.RELEASE_ANNOTATION] == record
    assert deployment["metadata"]["annotations"][m.PREVIOUS_RELEASE_ANNOTATION] == "{}"


def test_a_release_record_written_by_the_old_code_still_reads() -> None:
    # The record before BuiltRelease: the same camelCase keys, without deploySettings.
    spec = make_spec()
    old = json.loads(m.release_record(spec))
    del old["deploySettings"]
    assert m.spec_from_record(json.dumps(old), dict(spec.variables)) == spec


def test_ingress_serves_generated_and_custom_hosts_on_a_shared_alb() -> None:
    spec = make_spec(custom_domains=("shop.example.org",), healthcheck_path="/up")
    options = dataclasses.replace(
        OPTIONS, certificate_arn="arn:aws:acm:us-east-1:123456789012:certificate/abc"
    )
    ingress = by_kind(m.render(spec, options))["Ingress"]
    annotations = ingress["metadata"]["annotations"]
    assert annotations["alb.ingress.kubernetes.io/scheme"] == "internet-facing"
    assert annotations["alb.ingress.kubernetes.io/target-type"] == "ip"
    assert json.loads(annotations["alb.ingress.kubernetes.io/listen-ports"]) == [{"HTTP": 80}, {"HTTPS": 443}]
    assert annotations["alb.ingress.kubernetes.io/ssl-redirect"] == "443"
    assert annotations["alb.ingress.kubernetes.io/group.name"] == "railyard"
    assert annotations["alb.ingress.kubernetes.io/healthcheck-path"] == "/up"
    # With custom domains the configured (base domain) certificate is left out: the controller
    # discovers certificates for every host of the TLS section instead.
    assert "alb.ingress.kubernetes.io/certificate-arn" not in annotations
    assert ingress["spec"]["ingressClassName"] == "alb"
    hosts = [rule["host"] for rule in ingress["spec"]["rules"]]
    assert hosts == ["web-production-shop.apps.example.com", "shop.example.org"]
    assert ingress["spec"]["tls"] == [{"hosts": hosts}]
    for rule in ingress["spec"]["rules"]:
        (path,) = rule["http"]["paths"]
        assert path == {
            "path": "/",
            "pathType": "Prefix",
            "backend": {"service": {"name": "web", "port": {"name": "http"}}},
        }
    plain = by_kind(m.render(make_spec(), OPTIONS))["Ingress"]
    assert "alb.ingress.kubernetes.io/certificate-arn" not in plain["metadata"]["annotations"]
    base_only = by_kind(m.render(make_spec(), options))["Ingress"]
    assert base_only["metadata"]["annotations"]["alb.ingress.kubernetes.io/certificate-arn"] == (
        options.certificate_arn
    )
    assert [rule["host"] for rule in plain["spec"]["rules"]] == ["web-production-shop.apps.example.com"]


def test_service_sends_port_80_to_the_named_container_port() -> None:
    svc = by_kind(m.render(make_spec(variables={"PORT": "9000"}), OPTIONS))["Service"]["spec"]
    assert svc["type"] == "ClusterIP"
    assert svc["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]


def test_network_policy_admits_only_the_load_balancer_and_the_environment_itself() -> None:
    policy = by_kind(m.render(make_spec(), OPTIONS))["NetworkPolicy"]
    assert policy["metadata"]["namespace"] == "ry-env-01jc3v7q2m8x4k2p"
    spec = policy["spec"]
    assert spec["podSelector"] == {}
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    same_namespace, load_balancer = spec["ingress"]
    assert same_namespace == {"from": [{"podSelector": {}}]}
    assert load_balancer["ports"] == [{"protocol": "TCP", "port": "http"}]
    assert load_balancer["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}},
        {"ipBlock": {"cidr": "10.0.0.0/24"}},
        {"ipBlock": {"cidr": "10.0.1.0/24"}},
    ]


def test_render_refuses_a_release_without_an_image() -> None:
    with pytest.raises(ValueError):
        m.render(make_spec(image=None), OPTIONS)
