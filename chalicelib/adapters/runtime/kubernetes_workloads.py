"""What the pods of a release without a health-check path say it is: a worker, a job, or a crash,
on Kubernetes (domain/workloads.py, docs/decisions/0030). Web is the Deployment's own verdict: its
pods carry a TCP readiness probe on $PORT (manifests_workloads), so a rollout that completes in
that form is a web service; this module decides the other outcomes from the pods' status.

A Deployment's pods always have `restartPolicy: Always`, so the kubelet restarts every exit; the
service's restart policy is applied here, on what the container status reports: `restartCount`
and the last termination (`state.terminated`, or `lastState.terminated` while the container
waits in CrashLoopBackOff or runs again). As on the local runtime (`_may_restart`):
- NEVER restarts nothing, ON_FAILURE no clean exit, and no policy more than
  restartPolicyMaxRetries times;
- an exit the policy does not restart is the end: code 0 ran to completion (a JOB), another code
  fails the deploy naming it.
A pod whose process runs, unready (it does not listen), since at least the settle time is a
WORKER. The release is what its pods are (`of_replicas`); undecided while any pod is neither.

After the release went live the same rule says when it stopped for good (`live_end`): every pod's
last exit is one the policy does not restart; COMPLETED when each exited 0, else CRASHED (the
local runtime's `_gave_up`). A process that ran RESTART_BUDGET_RESET_SECONDS (domain/workloads.py)
before its last exit has its restart budget back, as on the local runtime: `restartCount` counts
every restart of the pod's life, and a service that crashes once a day must not be CRASHED on its
eleventh.

Also owns the Deployment's record of what its live release (and the one before) turned out to
be, so a rollback re-renders it in that form (manifests_workloads.LIVE_WORKLOAD_ANNOTATION).

Pure: reads the client's V1Pod objects and annotation dicts, imports nothing from kubernetes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.adapters.runtime import manifests as m
from chalicelib.adapters.runtime import manifests_workloads as workloads
from chalicelib.domain.models import ServiceSettings
from chalicelib.domain.workloads import RESTART_BUDGET_RESET_SECONDS, Workload, of_replicas


@dataclass(frozen=True)
class PodsVerdict:
    """`workload`: WORKER or JOB once decided; `failure`: why the release crashed; both None:
    keep waiting (the rollout may still make it web)."""

    workload: Workload | None = None
    failure: str | None = None


UNDECIDED = PodsVerdict()


@dataclass(frozen=True)
class LiveEnd:
    """A live release that stopped for good: `completed` (every pod exited 0: COMPLETED) or
    crashed (CRASHED), and why, as the local runtime says it."""

    completed: bool
    reason: str


def judge(
    pods: Iterable[Any], settings: ServiceSettings, now: datetime, settle_seconds: float
) -> PodsVerdict:
    """The verdict on the new release's pods (those of other releases filtered out by the caller)."""
    outcomes: list[Workload] = []
    for pod in pods:
        status = _container_status(pod)
        if status is None:
            return UNDECIDED  # not started yet
        ended = _ended(status, settings, now)
        if ended is not None:
            code, why = ended
            if code == 0:
                outcomes.append(Workload.JOB)
                continue
            return PodsVerdict(failure=f"{pod.metadata.name}: the process exited with code {code}; {why}")
        running = status.state.running if status.state is not None else None
        if status.ready or running is None or running.started_at is None:
            return UNDECIDED
        if (now - running.started_at).total_seconds() < settle_seconds:
            return UNDECIDED
        outcomes.append(Workload.WORKER)
    return PodsVerdict(workload=of_replicas(outcomes)) if outcomes else UNDECIDED


def live_end(pods: Iterable[Any], settings: ServiceSettings, now: datetime) -> LiveEnd | None:
    """Whether the live release's pods (those of other releases filtered out by the caller) all
    ended for good; None while any runs or will be restarted, or when there is none."""
    ends: list[tuple[str, int, str]] = []
    for pod in pods:
        status = _container_status(pod)
        ended = _ended(status, settings, now) if status is not None else None
        if ended is None:
            return None
        ends.append((pod.metadata.name, *ended))
    if not ends:
        return None
    completed = all(code == 0 for _, code, _ in ends)
    name, code, why = next((end for end in ends if end[1] != 0), ends[0])
    reason = f"the process exited with code {code}; {why}"
    if len(ends) > 1:
        ran = "ran to completion" if completed else "crashed"
        reason = f"all {len(ends)} replicas {ran}; {name}: {reason}"
    return LiveEnd(completed, reason)


def _container_status(pod: Any) -> Any:
    statuses = (pod.status.container_statuses if pod.status is not None else None) or []
    return statuses[0] if statuses else None  # one container per pod (manifests._pod_spec)


def _ended(status: Any, settings: ServiceSettings, now: datetime) -> tuple[int, str] | None:
    """(exit code, why it is not restarted) when the process's last exit is one the service's
    restart policy would not restart; None while it runs or will be restarted, and once it has
    run again RESTART_BUDGET_RESET_SECONDS since (the exit is then history, as on the local
    runtime, which would have reset its budget)."""
    state, last = status.state, status.last_state
    running = state.running if state is not None else None
    since = running.started_at if running is not None else None
    if since is not None and (now - since).total_seconds() >= RESTART_BUDGET_RESET_SECONDS:
        return None
    count = int(status.restart_count or 0)
    current = state.terminated if state is not None else None
    previous = last.terminated if last is not None else None
    if current is not None:
        terminated, restarts = current, count  # restarts done before this exit
    elif previous is not None:
        # Waiting for its restart, or already running again: the kubelet restarts every exit,
        # but an exit the policy would not have restarted was still the end of the release.
        terminated, restarts = previous, count - 1 if running is not None else count
    else:
        return None
    if _ran_seconds(terminated) >= RESTART_BUDGET_RESET_SECONDS:
        restarts = 0  # it served a while: its budget is whole again, as on the local runtime
    code = int(terminated.exit_code)
    policy, limit = settings.restart_policy_type, settings.restart_policy_max_retries
    if policy == "NEVER":
        return code, "restart policy NEVER"
    if policy == "ON_FAILURE" and code == 0:
        return code, "restart policy ON_FAILURE does not restart a clean exit"
    if restarts >= limit:
        return code, f"restarts exhausted ({restarts}/{limit})"
    return None


def _ran_seconds(terminated: Any) -> float:
    started, finished = terminated.started_at, terminated.finished_at
    if started is None or finished is None:
        return 0.0
    return float((finished - started).total_seconds())


def describe(workload: Workload, seconds: float, settle_seconds: float) -> str:
    """The log line once the release's kind is known."""
    if workload is Workload.WEB:
        return f"readiness: accepting connections on $PORT after {seconds:.2f}s: a web service"
    if workload is Workload.JOB:
        return "readiness: every pod of the release exited with code 0: it ran to completion (a job)"
    return (
        f"readiness: up {settle_seconds:g}s without opening $PORT: a worker; no Service, no Ingress "
        "and no URL (a web app slower to open its port: set a healthcheckPath)"
    )


def live_workload_annotations(
    annotations: Mapping[str, str], release_id: str, workload: Workload
) -> dict[str, str]:
    """The annotations recording `workload` as the live release's, given the Deployment's current
    ones: the workload of the release it replaces moves to the previous-workload annotation."""
    written = {workloads.LIVE_WORKLOAD_ANNOTATION: str(workload)}
    replaced = annotations.get(workloads.LIVE_WORKLOAD_ANNOTATION)
    if replaced is not None and _release_id(annotations.get(m.LIVE_RELEASE_ANNOTATION)) not in (
        None,
        release_id,
    ):
        written[workloads.PREVIOUS_WORKLOAD_ANNOTATION] = replaced
    return written


def running_live_record(annotations: Mapping[str, str]) -> str | None:
    """The live release's record when it is also the release the Deployment runs; None while a
    rollout of another release is under way (its activation decides) or nothing went live."""
    live = annotations.get(m.LIVE_RELEASE_ANNOTATION)
    live_id = _release_id(live)
    if live is None or live_id is None or _release_id(annotations.get(m.RELEASE_ANNOTATION)) != live_id:
        return None
    return live


def workload_of(annotations: Mapping[str, str], record: str) -> Workload | None:
    """The recorded workload of the release `record` (the live one or the one before), if known."""
    wanted = _release_id(record)
    for release, workload in (
        (m.LIVE_RELEASE_ANNOTATION, workloads.LIVE_WORKLOAD_ANNOTATION),
        (m.PREVIOUS_RELEASE_ANNOTATION, workloads.PREVIOUS_WORKLOAD_ANNOTATION),
    ):
        if wanted is not None and _release_id(annotations.get(release)) == wanted:
            value = annotations.get(workload)
            return Workload(value) if value in tuple(Workload) else None
    return None


def _release_id(record: str | None) -> str | None:
    if record is None:
        return None
    try:
        return str(json.loads(record)["releaseId"])
    except (ValueError, KeyError, TypeError):
        return None
