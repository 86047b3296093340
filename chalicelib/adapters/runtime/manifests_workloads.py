"""How a release without a health-check path is rendered while the runtime finds out what it is,
and once it knows: web, worker or job (domain/workloads.py, docs/decisions/0030).

Pure functions over settings and a `Workload | None` (None: not known yet), used by manifests.py:

- **detecting** (None) and **web**: a `tcpSocket` readiness probe on the container port, so a pod
  is Ready exactly when its process accepts connections on $PORT (what the local runtime calls
  web), with the Service and the Ingress. Both forms render the same pod template, so the web
  release that comes out of detection keeps its ReplicaSet.
- **worker**: no probe, and the Deployment's `minReadySeconds` is the settle time (a pod is
  available once it has run that long: a crash loop never is); no Service, no Ingress.
- **job**: the detecting template scaled to 0 replicas (its pods ran to completion; a Deployment
  would restart them for ever), without Service, Ingress, autoscaler or disruption budget.

A release with a health-check path is always web and keeps its HTTP probes (manifests._probes).
"""

from __future__ import annotations

import math
from typing import Any

from chalicelib.domain.models import ServiceSettings
from chalicelib.domain.workloads import Workload

# What the Deployment's live release turned out to be (written with the live-release record), and
# what the release before it was: a rollback re-renders that release in the same form instead of
# detecting it again (a worker in the detecting form would never become available). Written and
# read by the runtime (kubernetes_workloads), never rendered.
LIVE_WORKLOAD_ANNOTATION = "railyard.dev/live-workload"
PREVIOUS_WORKLOAD_ANNOTATION = "railyard.dev/previous-workload"

# How often the kubelet tries $PORT while the runtime waits: the web side of the settle window.
PORT_PROBE_PERIOD_SECONDS = 1
PORT_PROBE_TIMEOUT_SECONDS = 1


def detects(settings: ServiceSettings) -> bool:
    """Whether the runtime must find out what the release is (no health-check path)."""
    return settings.healthcheck_path is None


def serves_http(settings: ServiceSettings, workload: Workload | None) -> bool:
    """Service and Ingress: for web releases and while it is not known yet (a previous web release's
    Service keeps routing to its Ready pods meanwhile; a worker's pods are never Ready)."""
    return not detects(settings) or workload in (None, Workload.WEB)


def keeps_running(workload: Workload | None) -> bool:
    """A job's Deployment is scaled to 0: no autoscaler or disruption budget around it."""
    return workload is not Workload.JOB


def port_probe(port_name: str) -> dict[str, Any]:
    """Ready once the process accepts a TCP connection on its port; never restarts anything."""
    return {
        "readinessProbe": {
            "tcpSocket": {"port": port_name},
            "periodSeconds": PORT_PROBE_PERIOD_SECONDS,
            "timeoutSeconds": PORT_PROBE_TIMEOUT_SECONDS,
            "successThreshold": 1,
            "failureThreshold": 1,
        }
    }


def probes(workload: Workload | None, port_name: str) -> dict[str, Any]:
    """The probes of a release without a health-check path."""
    return {} if workload is Workload.WORKER else port_probe(port_name)


def min_ready_seconds(settings: ServiceSettings, workload: Workload | None, settle_seconds: float) -> int:
    """A worker's pod is available once it stayed up the settle time; a web pod once it listens."""
    if detects(settings) and workload is Workload.WORKER:
        return math.ceil(settle_seconds)
    return 0


def replicas(settings: ServiceSettings, workload: Workload | None) -> int | None:
    """The Deployment's spec.replicas; None when an autoscaler owns the count."""
    if detects(settings) and workload is Workload.JOB:
        return 0
    return None if settings.autoscaling else settings.num_replicas


def absent_kinds(settings: ServiceSettings, workload: Workload | None) -> list[str]:
    """Kinds a previous release may have left that this form of the release must not have."""
    absent = []
    if not serves_http(settings, workload):
        absent += ["Ingress", "Service"]
    if not keeps_running(workload):
        absent += ["HorizontalPodAutoscaler", "PodDisruptionBudget"]
    return absent
