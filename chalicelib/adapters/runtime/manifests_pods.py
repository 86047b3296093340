"""The Deployment of a release and its pod template: the container (image, port, variables,
resources, start command), its probes, the rolling update, and the timings that Railway's settings
map to (progress deadline, termination grace, preStop overlap).

The pod template depends only on the release, so re-rendering an older release produces the
template its ReplicaSet already has (a rollback reuses it). Isolation is manifests_security's
(`restrict_pod_spec`); what a release without a health-check path gets is manifests_workloads'.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.runtime import manifests_security as security
from chalicelib.adapters.runtime import manifests_workloads as workloads
from chalicelib.adapters.runtime.manifests_names import (
    CONTAINER_NAME,
    DEPLOYMENT_ID_ANNOTATION,
    PORT_NAME,
    PREVIOUS_RELEASE_ANNOTATION,
    RELEASE_ANNOTATION,
    RELEASE_ID_ANNOTATION,
    object_metadata,
    selector_labels,
    service_labels,
    service_name,
    variables_secret_name,
)
from chalicelib.adapters.runtime.manifests_records import release_record
from chalicelib.domain.models import ServiceSettings
from chalicelib.domain.ports import ReleaseSpec
from chalicelib.domain.workloads import Workload

if TYPE_CHECKING:
    from chalicelib.adapters.runtime.manifests import Manifest, ManifestOptions


# Image pull, scheduling and (with Karpenter) node start-up come on top of the app's own start.
PROGRESS_DEADLINE_MARGIN_SECONDS = 60
LIVENESS_PERIOD_SECONDS = 10
LIVENESS_FAILURES = 3
READINESS_PERIOD_SECONDS = 2
READINESS_FAILURES = 3
MAX_PROBE_TIMEOUT_SECONDS = 5


def whole_seconds(value: float) -> int:
    return math.ceil(value)


def progress_deadline_seconds(settings: ServiceSettings) -> int:
    return whole_seconds(settings.healthcheck_timeout) + PROGRESS_DEADLINE_MARGIN_SECONDS


def termination_grace_seconds(settings: ServiceSettings) -> int:
    # The grace period runs from the start of termination, preStop included: the overlap sleep
    # comes out of it, so the app still gets drainingSeconds between SIGTERM and SIGKILL.
    return whole_seconds(settings.overlap_seconds) + whole_seconds(settings.draining_seconds)


def rolling_update(settings: ServiceSettings) -> dict[str, Any]:
    """Zero downtime: `maxUnavailable: 0` always (no ready pod goes away before its replacement is
    available). The surge follows the replica count the release starts from (numReplicas, or
    autoscaleMinReplicas with autoscaling): one extra pod at a time up to 4 replicas (the way the
    local runtime replaces one), 25% of them above, so large services do not roll one by one."""
    replicas = settings.autoscale_min_replicas if settings.autoscaling else settings.num_replicas
    surge: int | str = 1 if replicas <= 4 else "25%"
    return {"maxUnavailable": 0, "maxSurge": surge}


def container_port(spec: ReleaseSpec, options: ManifestOptions) -> int:
    """Railway's convention: a PORT variable tells the platform where the app listens."""
    raw = spec.variables.get("PORT", "")
    if raw.isdigit() and 1 <= int(raw) <= 65535:
        return int(raw)
    return options.container_port


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
                "labels": {**service_labels(spec), **selector_labels(spec)},
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
        "metadata": object_metadata(spec, service_name(spec), annotations=annotations),
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
    overlap = whole_seconds(settings.overlap_seconds)
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
            "timeoutSeconds": max(
                1, min(MAX_PROBE_TIMEOUT_SECONDS, whole_seconds(settings.healthcheck_timeout))
            ),
            "successThreshold": 1,
            "failureThreshold": READINESS_FAILURES,
        },
        # Lenient: it only restarts a hung app, and never before the app had its whole health-check
        # timeout to come up.
        "livenessProbe": {
            "httpGet": http_get,
            "initialDelaySeconds": whole_seconds(settings.healthcheck_timeout),
            "periodSeconds": LIVENESS_PERIOD_SECONDS,
            "timeoutSeconds": MAX_PROBE_TIMEOUT_SECONDS,
            "successThreshold": 1,
            "failureThreshold": LIVENESS_FAILURES,
        },
    }
