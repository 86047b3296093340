"""Kubernetes manifests of one release: pure functions from a ReleaseSpec to plain dicts.

Owns the mapping of Railyard's service settings onto Kubernetes objects (docs/decisions/0005):

- one Namespace per environment, named by the environment's id (`ry-<id>`, never by the names users
  choose), isolated by manifests_security (Pod Security `restricted`, a NetworkPolicy, the
  runtime's RoleBinding there);
- per service: an immutable Secret with its variables (named by their hash), a Deployment, a
  ClusterIP Service, an Ingress for the AWS Load Balancer Controller, and, depending on the
  settings, a HorizontalPodAutoscaler and a PodDisruptionBudget.

Everything here is deterministic: the same spec and options always render the same dicts, so
server-side apply of an unchanged release changes nothing, and re-rendering an older release
produces the pod template its ReplicaSet already has (a rollback reuses it instead of creating a
new one). No kubernetes import: the runtime sends these dicts as they are.

This module renders the release's objects in apply order (`render`) and says which a release must
not have (`absent_objects`); its parts: manifests_names (names, labels, annotations),
manifests_records (the release record), manifests_pods (the Deployment and its pod template),
manifests_security (isolation), manifests_workloads (web, worker or job).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any

from chalicelib.adapters.runtime import manifests_names as names
from chalicelib.adapters.runtime import manifests_pods as pods
from chalicelib.adapters.runtime import manifests_records as records
from chalicelib.adapters.runtime import manifests_security as security
from chalicelib.adapters.runtime import manifests_workloads as workloads
from chalicelib.adapters.runtime.manifests_names import (
    ENVIRONMENT_ANNOTATION,
    ENVIRONMENT_ID_LABEL,
    ENVIRONMENT_LABEL,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    PORT_NAME,
    PROJECT_ANNOTATION,
    PROJECT_LABEL,
    ROLE_LABEL,
    SERVICE_PORT,
    label_value,
    namespace_name,
    object_metadata,
    public_host,
    selector_labels,
    service_name,
    variables_secret_name,
)
from chalicelib.adapters.runtime.manifests_pods import deployment, whole_seconds
from chalicelib.domain.models import ServiceSettings
from chalicelib.domain.ports import ReleaseSpec
from chalicelib.domain.workloads import DEFAULT_WORKER_SETTLE_SECONDS, Workload

Manifest = dict[str, Any]

# The Kubernetes runtime (kubernetes.py, kubernetes_workloads.py) and its tests read these as
# `manifests.NAME`; each lives in the module named.
LIVE_RELEASE_ANNOTATION = names.LIVE_RELEASE_ANNOTATION
NAMESPACE_PREFIX = names.NAMESPACE_PREFIX
NETWORK_POLICY_NAME = names.NETWORK_POLICY_NAME
PREVIOUS_RELEASE_ANNOTATION = names.PREVIOUS_RELEASE_ANNOTATION
RELEASE_ANNOTATION = names.RELEASE_ANNOTATION
RELEASE_ID_ANNOTATION = names.RELEASE_ID_ANNOTATION
RESTARTED_AT_ANNOTATION = names.RESTARTED_AT_ANNOTATION
SERVICE_ID_LABEL = names.SERVICE_ID_LABEL
progress_deadline_seconds = pods.progress_deadline_seconds
record_secret_name = records.record_secret_name
release_record = records.release_record
spec_from_record = records.spec_from_record

DEFAULT_PORT = (
    8080  # the PORT the rendered Dockerfile sets (renderings.DEFAULT_PORT; a test keeps them equal)
)


@dataclass(frozen=True)
class ManifestOptions:
    """What the platform operator configures once for every service of a cluster."""

    base_domain: str  # services answer on https://<hostname>.<base_domain>
    certificate_arn: str | None = None  # ACM certificate; None lets the controller discover by host
    ingress_class: str = "alb"
    load_balancer_group: str = "railyard"  # alb.ingress.kubernetes.io/group.name: one ALB for all
    load_balancer_scheme: str = "internet-facing"
    # Where the ALB's ENIs live (its subnets). With target-type ip the ALB connects to pod IPs
    # directly, so the NetworkPolicy must admit these ranges; keep them to the public subnets, as
    # pods' own IPs come from the VPC too (a VPC-wide range would admit every namespace).
    load_balancer_cidrs: tuple[str, ...] = ()
    ingress_controller_namespace: str = "kube-system"
    container_port: int = DEFAULT_PORT
    revision_history_limit: int = 10
    # Isolation (manifests_security). Destinations pods may not reach: by default every private and
    # link-local range (the service CIDR and API server, other namespaces' pods, the metadata
    # endpoint). Set it to the cluster's own ranges (service CIDR, VPC, API endpoint) to let apps
    # reach other private networks; the metadata endpoint stays blocked either way.
    blocked_egress_cidrs: tuple[str, ...] = security.DEFAULT_BLOCKED_EGRESS_CIDRS
    # Holes in the above (a database subnet); a range holding pods opens other namespaces to apps.
    allowed_egress_cidrs: tuple[str, ...] = ()
    pod_security_version: str = "latest"  # or "v1.33": the Pod Security standard's version
    run_as_user: int = security.DEFAULT_RUN_AS_USER  # also the group and fsGroup
    tmp_size_limit: str = "1Gi"  # the writable /tmp (an emptyDir on the node's disk)
    # Without a health-check path a pod counts as available once it has run this long (the
    # Deployment's minReadySeconds): the local runtime's worker settle time (domain/workloads.py).
    worker_settle_seconds: float = DEFAULT_WORKER_SETTLE_SECONDS

    def __post_init__(self) -> None:
        security.check_cidrs("load_balancer_cidrs", self.load_balancer_cidrs)
        security.check_cidrs("blocked_egress_cidrs", self.blocked_egress_cidrs)
        security.check_cidrs("allowed_egress_cidrs", self.allowed_egress_cidrs)
        if self.run_as_user <= 0:
            raise ValueError("run_as_user must be a non-root uid (> 0)")
        if not re.fullmatch(r"latest|v1\.\d+", self.pod_security_version):
            raise ValueError("pod_security_version must be 'latest' or 'v1.<minor>'")


@dataclass(frozen=True)
class ObjectRef:
    """One object of a service, for deleting it: kind and name in the service's namespace."""

    kind: str
    name: str


def pdb_wanted(settings: ServiceSettings) -> bool:
    """A budget only protects something with at least two replicas; with one it would either allow
    everything or block node drains forever."""
    if settings.autoscaling:
        return settings.autoscale_min_replicas > 1
    return settings.num_replicas > 1


def absent_objects(spec: ReleaseSpec, workload: Workload | None = None) -> list[ObjectRef]:
    """Objects of a previous release that this release must not have (autoscaling turned off,
    replicas down to one; no Service and Ingress for a worker or a job: manifests_workloads)."""
    name = service_name(spec)
    kinds = workloads.absent_kinds(spec.settings, workload)
    if not spec.settings.autoscaling:
        kinds.append("HorizontalPodAutoscaler")
    if not pdb_wanted(spec.settings):
        kinds.append("PodDisruptionBudget")
    return [ObjectRef(kind, name) for kind in dict.fromkeys(kinds)]


# --- rendering -------------------------------------------------------------------------------------


def render(
    spec: ReleaseSpec,
    options: ManifestOptions,
    previous_record: str | None = None,
    workload: Workload | None = None,
) -> list[Manifest]:
    """Every object of the release, in apply order: the namespace first, the Deployment last (what
    it references exists before its pods start, and a refusal on the way leaves the serving pods
    untouched). `previous_record` is the release this one replaces, kept on the Deployment so a
    retried activation can still roll back to it. `workload`: what a release without a
    health-check path turned out to be, None while unknown (manifests_workloads). Requires
    spec.image."""
    if not spec.image:
        raise ValueError("render needs a container image (the runtime checks this first)")
    objects = [
        namespace(spec, options),
        security.role_binding(namespace_name(spec)),  # before anything needing the runtime's rights
        network_policy(spec, options),
        variables_secret(spec),
    ]
    if workloads.serves_http(spec.settings, workload):
        objects += [service(spec, options), ingress(spec, options)]
    if workloads.keeps_running(workload):
        if spec.settings.autoscaling:
            objects.append(autoscaler(spec))
        if pdb_wanted(spec.settings):
            objects.append(disruption_budget(spec))
    objects.append(deployment(spec, options, previous_record, workload))
    return objects


def namespace(spec: ReleaseSpec, options: ManifestOptions) -> Manifest:
    labels = {MANAGED_BY_LABEL: MANAGED_BY}
    annotations = {}
    if spec.project:
        labels[PROJECT_LABEL] = label_value(spec.project)
        annotations[PROJECT_ANNOTATION] = spec.project
    if spec.environment:
        labels[ENVIRONMENT_LABEL] = label_value(spec.environment)
        annotations[ENVIRONMENT_ANNOTATION] = spec.environment
    if spec.environment_id:
        labels[ENVIRONMENT_ID_LABEL] = label_value(spec.environment_id)
    # Pod Security `restricted`: apps in a shared cluster get no host access, root or privileges.
    labels.update(security.pod_security_labels(options.pod_security_version))
    metadata: dict[str, Any] = {"name": namespace_name(spec), "labels": labels}
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}


def network_policy(spec: ReleaseSpec, options: ManifestOptions) -> Manifest:
    return security.network_policy(namespace_name(spec), options, PORT_NAME)


def variables_secret(spec: ReleaseSpec) -> Manifest:
    data = {key: base64.b64encode(value.encode()).decode() for key, value in sorted(spec.variables.items())}
    metadata = object_metadata(spec, variables_secret_name(spec))
    metadata["labels"] = {**metadata["labels"], ROLE_LABEL: "variables"}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": "Opaque",
        "immutable": True,
        "data": data,
    }


def service(spec: ReleaseSpec, options: ManifestOptions) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_metadata(spec, service_name(spec)),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(spec),
            "ports": [{"name": PORT_NAME, "port": SERVICE_PORT, "targetPort": PORT_NAME, "protocol": "TCP"}],
        },
    }


def ingress(spec: ReleaseSpec, options: ManifestOptions) -> Manifest:
    settings = spec.settings
    hosts = [public_host(spec.hostname, options.base_domain), *spec.domains]  # verified domains only
    annotations = {
        "alb.ingress.kubernetes.io/scheme": options.load_balancer_scheme,
        "alb.ingress.kubernetes.io/target-type": "ip",
        "alb.ingress.kubernetes.io/listen-ports": '[{"HTTP": 80}, {"HTTPS": 443}]',
        "alb.ingress.kubernetes.io/ssl-redirect": "443",
        "alb.ingress.kubernetes.io/group.name": options.load_balancer_group,
        # Without a path any HTTP answer on / means the target is up (as "it accepts connections").
        "alb.ingress.kubernetes.io/healthcheck-path": settings.healthcheck_path or "/",
        "alb.ingress.kubernetes.io/success-codes": "200" if settings.healthcheck_path else "200-499",
        # In-flight requests to a deregistered pod get drainingSeconds, like the local router.
        "alb.ingress.kubernetes.io/target-group-attributes": (
            f"deregistration_delay.timeout_seconds={whole_seconds(settings.draining_seconds)}"
        ),
    }
    if options.certificate_arn and not spec.domains:
        # Only for the base domain: the annotation replaces discovery, so on an Ingress with custom
        # domains it would leave them with the base domain's certificate. Without it, the
        # controller discovers ACM certificates for every host of the TLS section (the base
        # domain's configured one included, as it matches).
        annotations["alb.ingress.kubernetes.io/certificate-arn"] = options.certificate_arn
    backend = {"service": {"name": service_name(spec), "port": {"name": PORT_NAME}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": object_metadata(spec, service_name(spec), annotations=annotations),
        "spec": {
            "ingressClassName": options.ingress_class,
            # Without a certificate ARN the controller discovers ACM certificates for these hosts.
            "tls": [{"hosts": hosts}],
            "rules": [
                {"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}}
                for host in hosts
            ],
        },
    }


def autoscaler(spec: ReleaseSpec) -> Manifest:
    settings = spec.settings
    assert settings.autoscale_max_replicas is not None
    metrics = []
    for resource, percent in (
        ("cpu", settings.autoscale_cpu_percent),
        ("memory", settings.autoscale_memory_percent),
    ):
        if percent is not None:
            target = {"type": "Utilization", "averageUtilization": percent}
            metrics.append({"type": "Resource", "resource": {"name": resource, "target": target}})
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": object_metadata(spec, service_name(spec)),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": service_name(spec)},
            "minReplicas": settings.autoscale_min_replicas,
            "maxReplicas": settings.autoscale_max_replicas,
            "metrics": metrics,
        },
    }


def disruption_budget(spec: ReleaseSpec) -> Manifest:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": object_metadata(spec, service_name(spec)),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector_labels(spec)}},
    }
