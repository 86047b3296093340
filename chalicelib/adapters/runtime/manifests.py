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
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from chalicelib.adapters.runtime import manifests_security as security
from chalicelib.adapters.runtime import manifests_workloads as workloads
from chalicelib.domain.built_release import BuiltRelease
from chalicelib.domain.models import ServiceSettings
from chalicelib.domain.ports import ReleaseSpec
from chalicelib.domain.workloads import DEFAULT_WORKER_SETTLE_SECONDS, Workload

Manifest = dict[str, Any]

DEFAULT_PORT = (
    8080  # the PORT the rendered Dockerfile sets (renderings.DEFAULT_PORT; a test keeps them equal)
)

MANAGED_BY = security.MANAGED_BY
MANAGED_BY_LABEL = security.MANAGED_BY_LABEL
NETWORK_POLICY_NAME = security.NETWORK_POLICY_NAME
CONTAINER_NAME = "app"
PORT_NAME = "http"
SERVICE_PORT = 80

# Label and annotation keys.
NAME_LABEL = "app.kubernetes.io/name"
PROJECT_LABEL = "railyard.dev/project"
ENVIRONMENT_LABEL = "railyard.dev/environment"
ENVIRONMENT_ID_LABEL = "railyard.dev/environment-id"
PROJECT_ANNOTATION = "railyard.dev/project-name"  # the names in full (label values are cut at 63)
ENVIRONMENT_ANNOTATION = "railyard.dev/environment-name"
NAMESPACE_PREFIX = "ry-"
SERVICE_ID_LABEL = "railyard.dev/service-id"
ROLE_LABEL = "railyard.dev/role"
RELEASE_ID_ANNOTATION = "railyard.dev/release-id"
DEPLOYMENT_ID_ANNOTATION = "railyard.dev/deployment-id"
RELEASE_ANNOTATION = "railyard.dev/release"  # the release this Deployment runs, see release_record
PREVIOUS_RELEASE_ANNOTATION = "railyard.dev/previous-release"
# The last release whose rollout completed (same record format), written by the runtime with a
# metadata-only patch after a successful rollout: what a later failure rolls back to.
LIVE_RELEASE_ANNOTATION = "railyard.dev/live-release"
RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt"

# Image pull, scheduling and (with Karpenter) node start-up come on top of the app's own start.
PROGRESS_DEADLINE_MARGIN_SECONDS = 60
LIVENESS_PERIOD_SECONDS = 10
LIVENESS_FAILURES = 3
READINESS_PERIOD_SECONDS = 2
READINESS_FAILURES = 3
MAX_PROBE_TIMEOUT_SECONDS = 5

_NOT_LABEL_CHARS = re.compile(r"[^a-z0-9-]+")
_NOT_VALUE_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")


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


# --- names ---------------------------------------------------------------------------------------


def dns_label(text: str, fallback: str = "railyard", max_length: int = 63, letter_first: bool = True) -> str:
    """A DNS-1035 label (lowercase alphanumerics and '-', starting with a letter, at most 63):
    valid as a Namespace, Service, Deployment or Ingress name; with `letter_first=False` a DNS-1123
    label (a host name's label may start with a digit). Names too long keep a hash suffix so two
    long names stay distinct."""
    label = _NOT_LABEL_CHARS.sub("-", text.lower()).strip("-")
    label = re.sub(r"-{2,}", "-", label)
    if not label:
        label = fallback
    if letter_first and not label[0].isalpha():
        label = "x-" + label
    if len(label) > max_length:
        digest = hashlib.sha256(text.encode()).hexdigest()[:8]
        label = label[: max_length - 9].rstrip("-") + "-" + digest
    return label


def label_value(text: str) -> str:
    """A valid label value (at most 63 characters, alphanumeric at both ends)."""
    value = _NOT_VALUE_CHARS.sub("-", text)[:63]
    return value.strip("-_.")


def namespace_name(spec: ReleaseSpec) -> str:
    """`ry-<environment id>`: ids are globally unique and never chosen by users, so no two
    environments share a namespace and none lands in a system namespace (kube-system). The prefix
    keeps Railyard's namespaces apart from everything else in the cluster."""
    if spec.environment_id:
        return _prefixed_label(spec.environment_id.lower().replace("_", "-"), spec.environment_id)
    # Without an id (older callers): the names, with a hash of the pair, so "a-b"/"c" and "a"/"b-c"
    # still differ.
    pair = json.dumps([spec.project, spec.environment])
    return _prefixed_label(f"{spec.project}-{spec.environment}"[:40] + "-" + _short_hash(pair), pair)


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _prefixed_label(text: str, original: str) -> str:
    budget = 63 - len(NAMESPACE_PREFIX)
    label = dns_label(text, letter_first=False, max_length=budget)
    if label != text:  # cleaned up or cut: keep it unique to the original
        label = dns_label(label[: budget - 9], letter_first=False) + "-" + _short_hash(original)
    return NAMESPACE_PREFIX + label


def service_name(spec: ReleaseSpec) -> str:
    return dns_label(spec.service or spec.service_id, fallback="service")


def public_host(hostname: str, base_domain: str) -> str:
    """The generated public host name of a service: `<hostname>.<base domain>`, unchanged for every
    hostname that is already a DNS label; a longer one is shortened (labels stop at 63 characters)."""
    return f"{dns_label(hostname, fallback='service', letter_first=False)}.{base_domain.strip('.').lower()}"


def container_port(spec: ReleaseSpec, options: ManifestOptions) -> int:
    """Railway's convention: a PORT variable tells the platform where the app listens."""
    raw = spec.variables.get("PORT", "")
    if raw.isdigit() and 1 <= int(raw) <= 65535:
        return int(raw)
    return options.container_port


def variables_digest(variables: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for key in sorted(variables):
        for part in (key, variables[key]):
            digest.update(len(part).to_bytes(8, "big") + part.encode())
    return digest.hexdigest()


def variables_secret_name(spec: ReleaseSpec) -> str:
    """Content-addressed: new variables are a new Secret, so the pod template changes and the
    pods roll, and pods of the previous ReplicaSet keep the variables they started with."""
    return f"{service_name(spec)[:40].rstrip('-')}-vars-{variables_digest(spec.variables)[:12]}"


# --- the release record (the Deployment's annotation) ---------------------------------------------


def release_record(spec: ReleaseSpec) -> str:
    """The release a Deployment runs, as JSON for an annotation, so a failed rollout can re-apply
    it. Never the variables themselves (annotations are readable with `get deployments`): the name
    of their Secret instead."""
    record = {
        "serviceId": spec.service_id,
        "hostname": spec.hostname,
        "deploymentId": spec.deployment_id,
        "releaseId": spec.release_id,
        **spec.built.to_dict(),  # artifactKey, startCommand, image: BuiltRelease's one encoding
        "settings": spec.settings.to_dict(),
        "project": spec.project,
        "environment": spec.environment,
        "service": spec.service,
        "environmentId": spec.environment_id,
        "domains": list(spec.domains),
        "variablesSecret": variables_secret_name(spec),
    }
    return json.dumps(record, sort_keys=True, separators=(",", ":"))


def record_secret_name(record: str) -> str:
    return str(json.loads(record)["variablesSecret"])


def spec_from_record(record: str, variables: dict[str, str]) -> ReleaseSpec:
    data = json.loads(record)
    built = BuiltRelease.from_dict(data)
    return ReleaseSpec(
        service_id=data["serviceId"],
        hostname=data["hostname"],
        deployment_id=data["deploymentId"],
        release_id=data["releaseId"],
        artifact_key=built.artifact_key,
        start_command=built.start_command,
        variables=dict(variables),
        settings=ServiceSettings.from_dict(data["settings"]),
        image=built.image,
        project=data.get("project", ""),
        environment=data.get("environment", ""),
        service=data.get("service", ""),
        environment_id=data.get("environmentId", ""),
        domains=tuple(data.get("domains", ())),
    )


# --- the mapping of settings -----------------------------------------------------------------------


def _seconds(value: float) -> int:
    return math.ceil(value)


def pdb_wanted(settings: ServiceSettings) -> bool:
    """A budget only protects something with at least two replicas; with one it would either allow
    everything or block node drains forever."""
    if settings.autoscaling:
        return settings.autoscale_min_replicas > 1
    return settings.num_replicas > 1


def progress_deadline_seconds(settings: ServiceSettings) -> int:
    return _seconds(settings.healthcheck_timeout) + PROGRESS_DEADLINE_MARGIN_SECONDS


def termination_grace_seconds(settings: ServiceSettings) -> int:
    # The grace period runs from the start of termination, preStop included: the overlap sleep
    # comes out of it, so the app still gets drainingSeconds between SIGTERM and SIGKILL.
    return _seconds(settings.overlap_seconds) + _seconds(settings.draining_seconds)


def rolling_update(settings: ServiceSettings) -> dict[str, Any]:
    """Zero downtime: `maxUnavailable: 0` always (no ready pod goes away before its replacement is
    available). The surge follows the replica count the release starts from (numReplicas, or
    autoscaleMinReplicas with autoscaling): one extra pod at a time up to 4 replicas (the way the
    local runtime replaces one), 25% of them above, so large services do not roll one by one."""
    replicas = settings.autoscale_min_replicas if settings.autoscaling else settings.num_replicas
    surge: int | str = 1 if replicas <= 4 else "25%"
    return {"maxUnavailable": 0, "maxSurge": surge}


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


def _service_labels(spec: ReleaseSpec) -> dict[str, str]:
    labels = {
        NAME_LABEL: service_name(spec),
        MANAGED_BY_LABEL: MANAGED_BY,
        SERVICE_ID_LABEL: label_value(spec.service_id),
    }
    if spec.project:
        labels[PROJECT_LABEL] = label_value(spec.project)
    if spec.environment:
        labels[ENVIRONMENT_LABEL] = label_value(spec.environment)
    return labels


def selector_labels(spec: ReleaseSpec) -> dict[str, str]:
    """Immutable once the Deployment exists: only what never changes for a service."""
    return {NAME_LABEL: service_name(spec), SERVICE_ID_LABEL: label_value(spec.service_id)}


def _metadata(spec: ReleaseSpec, name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": namespace_name(spec), "labels": _service_labels(spec), **extra}


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
    metadata = _metadata(spec, variables_secret_name(spec))
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
        "metadata": _metadata(spec, service_name(spec)),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(spec),
            "ports": [{"name": PORT_NAME, "port": SERVICE_PORT, "targetPort": PORT_NAME, "protocol": "TCP"}],
        },
    }


def deployment(
    spec: ReleaseSpec,
    options: ManifestOptions,
    previous_record: str | None = None,
    workload: Workload | None = None,
) -> Manifest:
    settings = spec.settings
    annotations = {RELEASE_ANNOTATION: release_record(spec), DEPLOYMENT_ID_ANNOTATION: spec.deployment_id}
    if previous_record is not None:
        annotations[PREVIOUS_RELEASE_ANNOTATION] = previous_record
    deployment_spec: dict[str, Any] = {
        "selector": {"matchLabels": selector_labels(spec)},
        "revisionHistoryLimit": options.revision_history_limit,
        "progressDeadlineSeconds": progress_deadline_seconds(settings),
        "strategy": {"type": "RollingUpdate", "rollingUpdate": rolling_update(settings)},
        "template": {
            # Only the release id: a rollback to this release then matches its old ReplicaSet.
            "metadata": {
                "labels": {**_service_labels(spec), **selector_labels(spec)},
                "annotations": {RELEASE_ID_ANNOTATION: spec.release_id},
            },
            "spec": _pod_spec(spec, options, workload),
        },
    }
    replicas = workloads.replicas(settings, workload)
    if replicas is not None:  # None: the HPA owns the replica count
        deployment_spec["replicas"] = replicas
    min_ready = workloads.min_ready_seconds(settings, workload, options.worker_settle_seconds)
    if min_ready:
        deployment_spec["minReadySeconds"] = min_ready
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(spec, service_name(spec), annotations=annotations),
        "spec": deployment_spec,
    }


def _pod_spec(spec: ReleaseSpec, options: ManifestOptions, workload: Workload | None) -> dict[str, Any]:
    settings = spec.settings
    port = container_port(spec, options)
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": spec.image,
        "ports": [{"name": PORT_NAME, "containerPort": port, "protocol": "TCP"}],
        # `env` wins over `envFrom`: PORT is always where the probes and the Service look.
        "env": [{"name": "PORT", "value": str(port)}],
        "envFrom": [{"secretRef": {"name": variables_secret_name(spec)}}],
        "resources": {
            "requests": {
                "cpu": f"{settings.cpu_request_millis}m",
                "memory": f"{settings.memory_request_mb}Mi",
            },
            "limits": {"cpu": f"{settings.cpu_limit_millis}m", "memory": f"{settings.memory_limit_mb}Mi"},
        },
        **_probes(settings, workload),
    }
    if spec.start_command:
        # The image build's rule for CMD (local plans bind loopback, containers must not); imported
        # here because renderings pulls in the whole build planner, which activation never needs.
        from chalicelib.domain.renderings import container_command

        container["command"] = ["/bin/sh", "-c", container_command(spec.start_command)]
    overlap = _seconds(settings.overlap_seconds)
    if overlap:
        # The old pod keeps serving while the endpoint removal reaches the ALB; SIGTERM comes after.
        container["lifecycle"] = {"preStop": {"sleep": {"seconds": overlap}}}
    pod_spec = {
        "containers": [container],
        "terminationGracePeriodSeconds": termination_grace_seconds(settings),
        # Apps see their variables, not the Docker-link style variables of every Service around.
        "enableServiceLinks": False,
    }
    return security.restrict_pod_spec(pod_spec, options)


def _probes(settings: ServiceSettings, workload: Workload | None) -> dict[str, Any]:
    """The HTTP probes of a service with a health-check path; without one, a TCP readiness probe on
    the port while it may be web, none for a worker (manifests_workloads)."""
    if settings.healthcheck_path is None:
        return workloads.probes(workload, PORT_NAME)
    http_get = {"path": settings.healthcheck_path, "port": PORT_NAME}
    return {
        "readinessProbe": {
            "httpGet": http_get,
            "periodSeconds": READINESS_PERIOD_SECONDS,
            "timeoutSeconds": max(1, min(MAX_PROBE_TIMEOUT_SECONDS, _seconds(settings.healthcheck_timeout))),
            "successThreshold": 1,
            "failureThreshold": READINESS_FAILURES,
        },
        # Lenient: it only restarts a hung app, and never before the app had its whole health-check
        # timeout to come up.
        "livenessProbe": {
            "httpGet": http_get,
            "initialDelaySeconds": _seconds(settings.healthcheck_timeout),
            "periodSeconds": LIVENESS_PERIOD_SECONDS,
            "timeoutSeconds": MAX_PROBE_TIMEOUT_SECONDS,
            "successThreshold": 1,
            "failureThreshold": LIVENESS_FAILURES,
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
            f"deregistration_delay.timeout_seconds={_seconds(settings.draining_seconds)}"
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
        "metadata": _metadata(spec, service_name(spec), annotations=annotations),
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
        "metadata": _metadata(spec, service_name(spec)),
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
        "metadata": _metadata(spec, service_name(spec)),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector_labels(spec)}},
    }
