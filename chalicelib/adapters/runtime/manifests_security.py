"""What a tenant's pods may do and reach: the isolation half of a release's manifests (pure dicts).

Owns, for every namespace Railyard creates (docs/decisions/0020, docs/kubernetes.md "Isolation"):

- the Pod Security Admission labels: `restricted` enforced (and warned, audited), at a pinned or
  `latest` version;
- the namespace's NetworkPolicy: ingress only from its own pods and the load balancer, egress only
  to its own pods, the cluster DNS, and addresses outside `blocked_egress_cidrs` (the instance
  metadata endpoint always among them);
- the RoleBinding that gives the runtime its namespaced rights (Secrets included) in this
  namespace only, through the pre-provisioned ClusterRole `railyard-tenant` of
  docs/kubernetes-rbac.yaml (never bound cluster-wide);
- the restricted pod: non-root ids, read-only root filesystem with a writable /tmp (also HOME),
  no privilege escalation, no capabilities, seccomp RuntimeDefault, no API token.

The names of the RBAC objects are facts shared with docs/kubernetes-rbac.yaml; the RBAC tests keep
the two equal.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chalicelib.adapters.runtime.manifests import ManifestOptions

Manifest = dict[str, Any]

NETWORK_POLICY_NAME = "railyard-environment-isolation"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "railyard"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set by the API server on every namespace

# --- RBAC (docs/kubernetes-rbac.yaml) -------------------------------------------------------------
RUNTIME_GROUP = "railyard-runtime"  # the Kubernetes group of the workers' EKS access entry
TENANT_CLUSTER_ROLE = "railyard-tenant"  # namespaced rights, bound per namespace, never cluster-wide
TENANT_ROLE_BINDING = "railyard-runtime"

# --- Pod Security Admission ------------------------------------------------------------------------
POD_SECURITY_LEVEL = "restricted"
POD_SECURITY_MODES = ("enforce", "warn", "audit")
POD_SECURITY_LABEL = "pod-security.kubernetes.io/{mode}"
POD_SECURITY_VERSION_LABEL = "pod-security.kubernetes.io/{mode}-version"

# The uid images built by Railyard run as (renderings.RUNTIME_UID; a test keeps them equal).
DEFAULT_RUN_AS_USER = 10001
TMP_VOLUME = "tmp"
TMP_PATH = "/tmp"  # also HOME: the image sets HOME=/tmp, and npm, pip and bundler write there

# --- egress ------------------------------------------------------------------------------------------
# The instance metadata service (IMDS) answers with the node role's credentials: always blocked,
# whatever else the operator configures.
METADATA_CIDRS = ("169.254.169.254/32", "fd00:ec2::254/128")
# What pods may not reach unless `allowed_egress_cidrs` opens a hole: every private, shared
# (CGNAT, used by EKS custom networking) and link-local range. On EKS this covers the cluster's
# service CIDR (10.100.0.0/16 or 172.20.0.0/16, where the API server's `kubernetes` Service
# lives), the API server's private endpoint, the VPC's node and pod addresses (other namespaces)
# and the metadata endpoints. What stays reachable is the internet.
DEFAULT_BLOCKED_EGRESS_CIDRS = (
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "169.254.0.0/16",
    "fc00::/7",
    "fe80::/10",
)
DNS_NAMESPACE = "kube-system"
DNS_POD_LABELS = {"k8s-app": "kube-dns"}  # CoreDNS on EKS and kubeadm clusters
DNS_PORT = 53


def check_cidrs(name: str, cidrs: tuple[str, ...]) -> None:
    """A CIDR the API server would refuse in an ipBlock is refused when the options are built."""
    for cidr in cidrs:
        try:
            ipaddress.ip_network(cidr, strict=True)
        except ValueError as error:
            raise ValueError(
                f"{name}: {cidr!r} is not a network address in CIDR notation ({error})"
            ) from None


def pod_security_labels(version: str) -> dict[str, str]:
    labels = {}
    for mode in POD_SECURITY_MODES:
        labels[POD_SECURITY_LABEL.format(mode=mode)] = POD_SECURITY_LEVEL
        labels[POD_SECURITY_VERSION_LABEL.format(mode=mode)] = version
    return labels


def role_binding(namespace: str) -> Manifest:
    """The runtime's rights in this namespace: the tenant ClusterRole, bound here only. Creating it
    needs `bind` on that one ClusterRole (the RBAC escalation check), which is all the runtime's
    ClusterRole grants about roles."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {
            "name": TENANT_ROLE_BINDING,
            "namespace": namespace,
            "labels": {MANAGED_BY_LABEL: MANAGED_BY},
        },
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": TENANT_CLUSTER_ROLE,
        },
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": RUNTIME_GROUP}],
    }


def _ip_blocks(options: ManifestOptions) -> list[dict[str, Any]]:
    """Everything but the blocked ranges, per address family (an ipBlock's `except` must lie in
    its `cidr`), plus the operator's holes."""
    blocked = [ipaddress.ip_network(c) for c in options.blocked_egress_cidrs]
    for cidr in METADATA_CIDRS:  # always, unless a configured range already covers it
        network = ipaddress.ip_network(cidr)
        if not any(network.version == b.version and network.subnet_of(b) for b in blocked):  # type: ignore[arg-type]
            blocked.append(network)
    peers = []
    for everything in ("0.0.0.0/0", "::/0"):
        version = ipaddress.ip_network(everything).version
        excepted = [str(b) for b in blocked if b.version == version]
        block: dict[str, Any] = {"cidr": everything}
        if excepted:
            block["except"] = excepted
        peers.append({"ipBlock": block})
    peers += [{"ipBlock": {"cidr": cidr}} for cidr in options.allowed_egress_cidrs]
    return peers


def network_policy(namespace: str, options: ManifestOptions, app_port: str) -> Manifest:
    """Each environment is its own island. In: from pods of the same namespace, and on the app
    port from the ingress controller's namespace and the load balancer's subnets. Out: to pods of
    the same namespace, the cluster DNS, and the internet (see DEFAULT_BLOCKED_EGRESS_CIDRS)."""
    from_load_balancer: list[dict[str, Any]] = [
        {"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: options.ingress_controller_namespace}}}
    ]
    from_load_balancer += [{"ipBlock": {"cidr": cidr}} for cidr in options.load_balancer_cidrs]
    dns = {
        "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: DNS_NAMESPACE}},
        "podSelector": {"matchLabels": dict(DNS_POD_LABELS)},
    }
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": NETWORK_POLICY_NAME,
            "namespace": namespace,
            "labels": {MANAGED_BY_LABEL: MANAGED_BY},
        },
        "spec": {
            "podSelector": {},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {"from": [{"podSelector": {}}]},
                {"from": from_load_balancer, "ports": [{"protocol": "TCP", "port": app_port}]},
            ],
            "egress": [
                {"to": [{"podSelector": {}}]},
                {
                    "to": [dns],
                    "ports": [{"protocol": "UDP", "port": DNS_PORT}, {"protocol": "TCP", "port": DNS_PORT}],
                },
                {"to": _ip_blocks(options)},
            ],
        },
    }


def pod_security_context(options: ManifestOptions) -> dict[str, Any]:
    uid = options.run_as_user
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,  # the emptyDir belongs to the app's group
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }


def restrict_pod_spec(pod_spec: dict[str, Any], options: ManifestOptions) -> dict[str, Any]:
    """`pod_spec` made Pod Security `restricted`: the one place every pod Railyard renders goes
    through (a Deployment's today; a Job's or CronJob's when the runtime runs them). Returns a new
    dict; containers get the writable /tmp, HOME there, and the restricted security context."""
    restricted = dict(pod_spec)
    containers = []
    for container in pod_spec.get("containers", []):
        container = dict(container)
        env = [e for e in container.get("env", []) if e.get("name") != "HOME"]
        container["env"] = [*env, {"name": "HOME", "value": TMP_PATH}]
        container["volumeMounts"] = [
            *container.get("volumeMounts", []),
            {"name": TMP_VOLUME, "mountPath": TMP_PATH},
        ]
        container["securityContext"] = container_security_context()
        containers.append(container)
    restricted["containers"] = containers
    restricted["volumes"] = [
        *pod_spec.get("volumes", []),
        {"name": TMP_VOLUME, "emptyDir": {"sizeLimit": options.tmp_size_limit}},
    ]
    restricted["securityContext"] = pod_security_context(options)
    # Apps must not get an API token: the API server would be one more way out of the namespace.
    restricted["automountServiceAccountToken"] = False
    return restricted
