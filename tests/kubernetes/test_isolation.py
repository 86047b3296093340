"""What a deployed app can reach and do on Kubernetes, read from the rendered manifests.

The NetworkPolicy is judged by the connections it lets through (tests/support/network_policy.py,
under the strictest reading of ipBlock), the pod spec by the Pod Security `restricted` checks the
test API server enforces (tests/kubernetes/apiserver_admission.py), and every object kind by
kubernetes-validate's strict schemas (test_manifests.py).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from chalicelib.adapters.runtime import manifests as m
from chalicelib.adapters.runtime import manifests_security as security
from chalicelib.domain.models import ServiceSettings
from chalicelib.domain.ports import ReleaseSpec
from tests.kubernetes.apiserver_admission import violations
from tests.support.network_policy import Endpoint, allows

OPTIONS = m.ManifestOptions(base_domain="apps.example.com", load_balancer_cidrs=("10.0.0.0/24",))
NS = "ry-env-01prod"
APP_LABELS = {"app.kubernetes.io/name": "web"}


def make_spec(variables: dict[str, str] | None = None, **settings: Any) -> ReleaseSpec:
    return ReleaseSpec(
        service_id="svc_01web",
        hostname="web-production-shop",
        deployment_id="dep_1",
        release_id="rel_1",
        artifact_key="artifacts/web.tar.gz",
        start_command="python app.py",
        variables=variables if variables is not None else {"GREETING": "hello"},
        settings=ServiceSettings(**{"healthcheck_path": "/", **settings}),
        image="123456789012.dkr.ecr.us-east-1.amazonaws.com/web:1",
        project="shop",
        environment="production",
        service="web",
        environment_id="env_01prod",
    )


def rendered(kind: str, options: m.ManifestOptions = OPTIONS, **settings: Any) -> dict[str, Any]:
    (obj,) = [o for o in m.render(make_spec(**settings), options) if o["kind"] == kind]
    return obj


def app(namespace: str = NS, ip: str = "10.0.12.7") -> Endpoint:
    return Endpoint(ip, namespace, APP_LABELS)


def reaches(
    destination: Endpoint, port: int, protocol: str = "TCP", options: m.ManifestOptions = OPTIONS
) -> bool:
    policies = [rendered("NetworkPolicy", options)]
    return allows(policies, app(), destination, port, protocol, {"http": 8080})


# --- egress ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("what", "destination", "port"),
    [
        ("the instance metadata endpoint", Endpoint("169.254.169.254"), 80),
        ("the IPv6 instance metadata endpoint", Endpoint("fd00:ec2::254"), 80),
        ("the API server's Service IP (EKS, VPC in 172.16/12)", Endpoint("10.100.0.1"), 443),
        ("the API server's Service IP (EKS, VPC in 10/8)", Endpoint("172.20.0.1"), 443),
        ("the API server's private endpoint in the VPC", Endpoint("10.0.33.12"), 443),
        ("a pod of another environment", Endpoint("10.0.40.3", "ry-env-02other", APP_LABELS), 8080),
        ("a system pod that is not the DNS", Endpoint("10.0.9.9", "kube-system", {"k8s-app": "metrics"}), 53),
        ("the DNS on another port", Endpoint("10.0.9.2", "kube-system", {"k8s-app": "kube-dns"}), 443),
        ("a node's kubelet", Endpoint("10.0.2.15"), 10250),
    ],
)
def test_an_app_cannot_reach(what: str, destination: Endpoint, port: int) -> None:
    assert not reaches(destination, port), what


def test_an_app_reaches_its_own_environment_the_dns_and_the_internet() -> None:
    assert reaches(app(ip="10.0.12.99"), 5432)  # a database service of the same environment
    coredns = Endpoint("10.0.9.2", "kube-system", {"k8s-app": "kube-dns"})
    assert reaches(coredns, 53, "UDP") and reaches(coredns, 53, "TCP")
    assert reaches(Endpoint("93.184.215.14"), 443)
    assert reaches(Endpoint("2606:2800:21f:cb07:6820:80da:af6b:8b2c"), 443)


def test_the_operator_opens_private_ranges_but_the_metadata_endpoint_stays_closed() -> None:
    # GIVEN a cluster whose own ranges are named, and a database subnet apps may reach
    options = dataclasses.replace(
        OPTIONS,
        blocked_egress_cidrs=("10.100.0.0/16", "10.0.0.0/16", "fe80::/10"),
        allowed_egress_cidrs=("10.0.200.0/24",),
    )
    # THEN other private networks and the database subnet are reachable, the cluster is not
    assert reaches(Endpoint("192.168.4.4"), 5432, options=options)
    assert reaches(Endpoint("10.0.200.9"), 5432, options=options)
    assert not reaches(Endpoint("10.100.0.1"), 443, options=options)
    assert not reaches(Endpoint("10.0.40.3", "ry-env-02other", APP_LABELS), 8080, options=options)
    # AND the metadata endpoints are blocked although the configured ranges leave them out
    assert not reaches(Endpoint("169.254.169.254"), 80, options=options)
    assert not reaches(Endpoint("fd00:ec2::254"), 80, options=options)


def test_bad_cidrs_and_root_are_refused_when_the_options_are_built() -> None:
    with pytest.raises(ValueError, match=r"blocked_egress_cidrs: '10\.0\.0\.1/8'"):
        dataclasses.replace(OPTIONS, blocked_egress_cidrs=("10.0.0.1/8",))
    with pytest.raises(ValueError, match="allowed_egress_cidrs"):
        dataclasses.replace(OPTIONS, allowed_egress_cidrs=("not-a-cidr",))
    with pytest.raises(ValueError, match="non-root"):
        dataclasses.replace(OPTIONS, run_as_user=0)
    with pytest.raises(ValueError, match="pod_security_version"):
        dataclasses.replace(OPTIONS, pod_security_version="1.33")


# --- ingress -----------------------------------------------------------------------------------------


def test_only_the_environment_and_the_load_balancer_reach_an_app() -> None:
    policies = [rendered("NetworkPolicy")]
    target = app()

    def reached_from(source: Endpoint, port: int = 8080) -> bool:
        return allows(policies, source, target, port, named_ports={"http": 8080})

    assert reached_from(app(ip="10.0.12.8"), 9000)  # same environment, any port
    assert reached_from(Endpoint("10.0.0.17"))  # the ALB's subnet, the app port
    assert not reached_from(Endpoint("10.0.0.17"), 9000)
    assert reached_from(Endpoint("10.0.3.3", "kube-system", {"app": "aws-load-balancer-controller"}))
    assert not reached_from(Endpoint("10.0.40.3", "ry-env-02other", APP_LABELS))
    assert not reached_from(Endpoint("10.0.55.1", "default", {}))


# --- the pod -----------------------------------------------------------------------------------------


def pod_spec(**settings: Any) -> dict[str, Any]:
    return dict(rendered("Deployment", **settings)["spec"]["template"]["spec"])


@pytest.mark.parametrize(
    "settings",
    [{}, {"overlap_seconds": 3}, {"autoscale_min_replicas": 2, "autoscale_max_replicas": 5}],
)
def test_every_pod_passes_pod_security_restricted(settings: dict[str, Any]) -> None:
    assert violations("restricted", pod_spec(**settings)) == []


def test_the_pod_runs_unprivileged_on_a_read_only_root_with_a_writable_tmp_and_no_token() -> None:
    spec = pod_spec()
    (container,) = spec["containers"]
    pod_context = spec["securityContext"]
    assert pod_context["runAsNonRoot"] is True
    assert pod_context["runAsUser"] == pod_context["runAsGroup"] == pod_context["fsGroup"] == 10001
    assert pod_context["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    (tmp,) = [v for v in spec["volumes"] if v["name"] == "tmp"]
    assert tmp == {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert {"name": "HOME", "value": "/tmp"} in container["env"]
    assert spec["automountServiceAccountToken"] is False


def test_a_home_variable_cannot_move_home_onto_the_read_only_root() -> None:
    spec = m.render(make_spec(variables={"HOME": "/app"}), OPTIONS)
    (deployment,) = [o for o in spec if o["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    # `env` wins over `envFrom` (the variables' Secret)
    assert [e for e in container["env"] if e["name"] == "HOME"] == [{"name": "HOME", "value": "/tmp"}]


def test_the_uid_is_the_one_railyard_images_run_as() -> None:
    from chalicelib.domain import renderings

    assert security.DEFAULT_RUN_AS_USER == renderings.RUNTIME_UID


def test_the_pod_security_check_would_catch_a_root_pod() -> None:
    spec = pod_spec()
    spec["securityContext"] = {}
    spec["containers"] = [dict(spec["containers"][0], securityContext={"allowPrivilegeEscalation": False})]
    reasons = [reason for reason, _ in violations("restricted", spec)]
    assert reasons == ["unrestricted capabilities", "runAsNonRoot != true", "seccompProfile"]


# --- the namespace -----------------------------------------------------------------------------------


def test_the_namespace_enforces_pod_security_restricted() -> None:
    labels = rendered("Namespace")["metadata"]["labels"]
    for mode in ("enforce", "warn", "audit"):
        assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
        assert labels[f"pod-security.kubernetes.io/{mode}-version"] == "latest"
    pinned = rendered("Namespace", dataclasses.replace(OPTIONS, pod_security_version="v1.33"))
    assert pinned["metadata"]["labels"]["pod-security.kubernetes.io/enforce-version"] == "v1.33"


def test_the_runtime_binds_itself_the_tenant_role_in_this_namespace_only() -> None:
    binding = rendered("RoleBinding")
    assert binding["metadata"]["namespace"] == NS
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "railyard-tenant",
    }
    assert binding["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "railyard-runtime"}
    ]
