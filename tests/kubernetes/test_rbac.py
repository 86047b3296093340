"""The example RBAC of docs/kubernetes-rbac.yaml: valid for the targeted Kubernetes versions, in step
with docs/kubernetes.md, and enough for everything the runtime does.

"Enough" is measured, not assumed: the runtime goes through every operation against the test API
server, which reports the authorization attributes (verb, API group, resource, namespace) of each
request; a cluster-wide one must be allowed by the runtime's ClusterRole, a namespaced one by it
or by the tenant ClusterRole, and then only after the runtime bound that role in the namespace.
Server-side apply of an object that does not exist yet is authorized as "create" as well as
"patch" by kube-apiserver (handlers/patch.go, createAuthorizerAttributes), so applies that
created an object (HTTP 201) also need "create".
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import kubernetes_validate.utils
import pytest
import yaml

from chalicelib.adapters.runtime import manifests as m
from chalicelib.adapters.runtime import manifests_security as security
from chalicelib.adapters.runtime.kubernetes import KubernetesRuntime
from chalicelib.domain.errors import HealthCheckFailed, RuntimeRefused
from chalicelib.domain.models import ServiceSettings
from chalicelib.domain.ports import ReleaseEnd, ReleaseSpec
from tests.kubernetes.apiserver import KubeApiServer
from tests.kubernetes.apiserver_resources import find_resource

pytestmark = pytest.mark.timeout(60)

DOCS = Path(__file__).parents[2] / "docs"
RBAC = DOCS / "kubernetes-rbac.yaml"
KUBERNETES_VERSIONS = ("1.33", "1.37")
OPTIONS = m.ManifestOptions(base_domain="apps.example.com", load_balancer_cidrs=("10.0.0.0/24",))
Access = tuple[str, str, str]  # (verb, API group, resource[/subresource])


def rbac_objects() -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(RBAC.read_text()) if doc]


def cluster_role(name: str = security.RUNTIME_GROUP) -> dict[str, Any]:
    (role,) = [o for o in rbac_objects() if o["kind"] == "ClusterRole" and o["metadata"]["name"] == name]
    return role


def tenant_role() -> dict[str, Any]:
    return cluster_role(security.TENANT_CLUSTER_ROLE)


def allowed(rules: list[dict[str, Any]], access: Access) -> bool:
    verb, group, resource = access
    return any(
        group in rule.get("apiGroups", ())
        and (resource in rule.get("resources", ()) or "*" in rule.get("resources", ()))
        and (verb in rule["verbs"] or "*" in rule["verbs"])
        for rule in rules
    )


# --- the file ------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_example_rbac_validates_strictly(version: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        kubernetes_validate.utils,
        "schema_contents",
        functools.lru_cache(maxsize=None)(kubernetes_validate.utils.schema_contents),
    )
    objects = rbac_objects()
    assert [o["kind"] for o in objects] == [
        "ClusterRole",
        "ClusterRoleBinding",
        "ClusterRole",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
    ]
    for obj in objects:
        kubernetes_validate.validate(obj, version, strict=True)
    # Only the runtime's own ClusterRole is bound cluster-wide, to the group the access entry maps
    (binding,) = [o for o in objects if o["kind"] == "ClusterRoleBinding"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": cluster_role()["metadata"]["name"],
    }
    assert [s["name"] for s in binding["subjects"]] == [security.RUNTIME_GROUP]
    policy, policy_binding = objects[3], objects[4]
    assert policy_binding["spec"]["policyName"] == policy["metadata"]["name"]
    assert policy_binding["spec"]["validationActions"] == ["Deny"]


def test_the_docs_show_the_same_rbac() -> None:
    text = (DOCS / "kubernetes.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.DOTALL)
    shown = [
        [doc for doc in yaml.safe_load_all(block) if doc] for block in blocks if "kind: ClusterRole" in block
    ]
    assert shown == [rbac_objects()]


@pytest.mark.parametrize("role", [security.RUNTIME_GROUP, security.TENANT_CLUSTER_ROLE])
def test_no_role_deletes_namespaces_or_reads_more_than_pods(role: str) -> None:
    rules = cluster_role(role)["rules"]
    # Deleting a namespace deletes everything in it, other teams' objects included.
    assert not allowed(rules, ("delete", "", "namespaces"))
    assert not allowed(rules, ("get", "", "pods/log"))
    assert not allowed(rules, ("create", "", "pods/exec"))
    assert not any("*" in rule["verbs"] or "*" in rule.get("resources", ()) for rule in rules)


def test_the_cluster_wide_role_reads_no_secret_and_creates_no_workload() -> None:
    rules = cluster_role()["rules"]
    for verb in ("get", "list", "watch"):
        assert not allowed(rules, (verb, "", "secrets"))
    # A pod (or anything that makes one) in a namespace can mount that namespace's Secrets.
    for access in [
        ("create", "", "pods"),
        ("create", "apps", "deployments"),
        ("patch", "apps", "deployments"),
    ]:
        assert not allowed(rules, access)


def test_the_runtime_may_bind_the_tenant_role_and_nothing_else() -> None:
    rules = cluster_role()["rules"]
    role_rules = [r for r in rules if r["apiGroups"] == ["rbac.authorization.k8s.io"]]
    (bind,) = [r for r in role_rules if "bind" in r["verbs"]]
    assert bind == {
        "apiGroups": ["rbac.authorization.k8s.io"],
        "resources": ["clusterroles"],
        "verbs": ["bind"],
        "resourceNames": [security.TENANT_CLUSTER_ROLE],
    }
    for access in [
        ("escalate", "rbac.authorization.k8s.io", "clusterroles"),
        ("escalate", "rbac.authorization.k8s.io", "roles"),
        ("create", "rbac.authorization.k8s.io", "clusterrolebindings"),
        ("create", "rbac.authorization.k8s.io", "roles"),
        ("patch", "rbac.authorization.k8s.io", "clusterroles"),
        ("impersonate", "", "users"),
        ("impersonate", "", "groups"),
    ]:
        assert not allowed(rules, access), access
    # The binding the runtime renders is the one this file lets it create
    binding = security.role_binding("ry-x")
    assert binding["roleRef"]["name"] == tenant_role()["metadata"]["name"]


# --- enough for the runtime ----------------------------------------------------------------------


def _path_access(method: str, path: str) -> Access | None:
    """(verb, group, resource) of a write that created an object, from its URL."""
    parts = path.split("?")[0].strip("/").split("/")
    if parts[0] == "api":  # /api/v1/...
        group, rest = "", parts[2:]
    else:  # /apis/<group>/<version>/...
        group, rest = parts[1], parts[3:]
    if rest[:1] == ["namespaces"] and len(rest) >= 4:
        rest = rest[2:]  # namespaced: drop "namespaces/<ns>"
    resource = rest[0] + (f"/{rest[2]}" if len(rest) > 2 else "")
    return ("create", group, resource) if method == "PATCH" else None


def make_spec(release: int, image: str | None = None, **settings: Any) -> ReleaseSpec:
    settings.setdefault("num_replicas", 2)
    return ReleaseSpec(
        service_id="svc_01web",
        hostname="web-production-shop",
        deployment_id=f"dep_{release}",
        release_id=f"rel_{release}",
        artifact_key=f"artifacts/web-{release}.tar.gz",
        start_command="python app.py",
        variables={"GREETING": f"hello {release}"},
        settings=ServiceSettings(**{"healthcheck_path": "/", **settings}),
        image=image or f"123456789012.dkr.ecr.us-east-1.amazonaws.com/web:{release}",
        project="shop",
        environment="production",
        service="web",
        environment_id="env_01prod",
    )


class Log:
    def write(self, message: str) -> None:
        pass

    def flush(self) -> None:
        pass


def test_every_request_the_runtime_makes_is_allowed_by_the_cluster_role(
    kube_server: KubeApiServer, kube_api_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a server that reports the authorization attributes of each request
    checked: set[Access] = set()
    unbound: set[tuple[Access, str]] = set()  # namespaced requests the runtime had no binding for yet
    original = kube_server.check_faults
    binding_type = find_resource("rolebindings")

    def recording(verb: str, rt: Any, sub: str, namespace: str, *args: Any, **kwargs: Any) -> None:
        access = (verb, rt.group, f"{rt.plural}/{sub}" if sub else rt.plural)
        checked.add(access)
        if (
            rt.namespaced
            and namespace
            and not allowed(cluster_role()["rules"], access)
            and kube_server.stored(binding_type, namespace, security.TENANT_ROLE_BINDING) is None
        ):
            unbound.add((access, namespace))
        original(verb, rt, sub, namespace, *args, **kwargs)

    monkeypatch.setattr(kube_server, "check_faults", recording)
    kube_server.autostep(0.005)
    runtime = KubernetesRuntime(OPTIONS, kube_api_client, backoff_seconds=0.01)
    impatient = KubernetesRuntime(OPTIONS, kube_api_client, backoff_seconds=0.01, rollout_timeout=0.3)
    log, beat = Log(), lambda: None

    # WHEN the runtime does everything it does: a first release (with a PDB), autoscaling on (an
    # HPA, the replicas hand-over) and off again, a failed rollout (pods read, rollback, secrets),
    # restart, scale, a sweep's look at live releases and the retirement of one, and stop
    runtime.activate(make_spec(1), log, beat)
    runtime.activate(make_spec(2, autoscale_min_replicas=2, autoscale_max_replicas=4), log, beat)
    runtime.activate(make_spec(3, num_replicas=1), log, beat)
    with pytest.raises(HealthCheckFailed, match="rolled back to release rel_3"):
        impatient.activate(make_spec(4, image="registry.example.com/web:never-ready"), log, beat)
    runtime.activate(make_spec(5), log, beat)  # collects release 3's variables
    runtime.restart("svc_01web")
    runtime.scale("svc_01web", 3)
    sweeping = KubernetesRuntime(OPTIONS, kube_api_client, backoff_seconds=0.01)  # a sweep's process
    assert sweeping.ended_releases() == []
    sweeping.retire(ReleaseEnd("svc_01web", "dep_5", "rel_5", "exited with code 0", completed=True), log)
    assert [d["spec"]["replicas"] for d in kube_server.objects("deployments")] == [0]  # it was retired
    runtime.stop("svc_01web")
    kube_server.stop_autostep()

    # THEN each request's verb, group and resource is granted: by the runtime's ClusterRole, or in
    # a namespace where the runtime had bound the tenant role before it asked
    created = {
        access
        for method, path, status in list(kube_server.requests)
        if status == 201 and (access := _path_access(method, path)) is not None
    }
    needed = checked | created
    rules = cluster_role()["rules"] + tenant_role()["rules"]
    assert sorted(a for a in needed if not allowed(rules, a)) == []
    assert sorted(unbound) == []
    # AND the scenario did reach the requests that are easy to forget
    for access in [
        ("create", "", "namespaces"),
        ("create", "apps", "deployments"),
        ("watch", "apps", "deployments"),
        ("list", "", "pods"),
        ("get", "", "secrets"),
        ("delete", "", "secrets"),
        ("delete", "autoscaling", "horizontalpodautoscalers"),
        ("delete", "policy", "poddisruptionbudgets"),
        ("patch", "apps", "deployments/scale"),
        ("list", "apps", "deployments"),
        ("create", "rbac.authorization.k8s.io", "rolebindings"),
        ("list", "", "secrets"),
    ]:
        assert access in needed, access


def test_a_binding_not_yet_in_effect_is_waited_for_and_a_missing_one_is_named(
    kube_server: KubeApiServer, kube_api_client: Any
) -> None:
    # GIVEN RBAC's cache lagging the new RoleBinding: the first request it allows is refused once
    kube_server.autostep(0.005)
    kube_server.inject_error("list", "secrets", code=403, reason="Forbidden", times=1)
    runtime = KubernetesRuntime(OPTIONS, kube_api_client, backoff_seconds=0.01)
    # WHEN the runtime deploys into a new namespace, THEN it waits for the binding and succeeds
    runtime.activate(make_spec(1), Log(), lambda: None)
    assert kube_server.objects("pods", m.namespace_name(make_spec(1)))

    # GIVEN a namespace where the binding never takes effect (the tenant role was not applied)
    kube_server.inject_error("list", "secrets", code=403, reason="Forbidden", times=None)
    fresh = KubernetesRuntime(OPTIONS, kube_api_client, backoff_seconds=0.01)
    # THEN the deployment is refused with the request that was forbidden, not reported as an outage
    with pytest.raises(RuntimeRefused, match=r"cannot list secrets in namespace ry-env-01prod \(forbidden"):
        fresh.activate(make_spec(2), Log(), lambda: None)
    kube_server.stop_autostep()
