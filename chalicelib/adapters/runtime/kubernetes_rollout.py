"""Watching a Deployment's rollout on Kubernetes (docs/decisions/0005, 0030).

Owns:
- kubectl's `rollout status` rules (`rollout_state`): the controller observed the latest
  generation, every desired replica runs the new template and is available, no old one is left;
  a `ProgressDeadlineExceeded` condition, or our own backstop timeout, fails the rollout;
- the waits themselves, by watching the Deployment from its resourceVersion (1 s server timeouts,
  `progress()` between events, never a sleep loop): for a release with a health-check path until
  the rollout completes, and for one without until its pods say what it is (web, worker or job:
  kubernetes_workloads), and after the live-release record until the controller observed it;
- reading the pods of one release of a service, and what they report when a rollout fails
  (image pull errors, crash loops, not ready).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.adapters.runtime import kubernetes_workloads as pod_verdicts
from chalicelib.adapters.runtime import manifests as m
from chalicelib.adapters.runtime.kubernetes_api import KubeApi
from chalicelib.domain.errors import RuntimeRefused, RuntimeUnavailable
from chalicelib.domain.ports import LogSink, Progress, ReleaseSpec
from chalicelib.domain.workloads import Workload

logger = logging.getLogger(__name__)

# The Deploy step's budget is 3600 s (its heartbeat is 120 s, and progress() keeps it alive): the
# rollout's backstop leaves room for a rollback within it.
MAX_ROLLOUT_SECONDS = 3300.0
# How long activate waits for the controller to observe the live-release record's generation
# (normally well under a second); added to MAX_ROLLOUT_SECONDS it stays within that budget.
MARK_LIVE_OBSERVE_SECONDS = 60.0


class RolloutFailed(Exception):
    """The new release did not become available; args[0] says why."""


@dataclass(frozen=True)
class RolloutState:
    done: bool
    failed: bool
    message: str


def rollout_state(deployment: Any, minimum_replicas: int = 0) -> RolloutState:
    """kubectl's `rollout status` rules: the controller observed the latest generation, every
    desired replica runs the new template and is available, and no old replica is left."""
    meta, spec, status = deployment.metadata, deployment.spec, deployment.status
    if not observed(deployment):
        return RolloutState(
            False, False, f"waiting for the controller to observe generation {meta.generation or 0}"
        )
    for condition in (status.conditions if status else None) or []:
        if condition.type == "Progressing" and condition.reason == "ProgressDeadlineExceeded":
            deadline = spec.progress_deadline_seconds
            return RolloutState(
                False,
                True,
                f"deployment {meta.namespace}/{meta.name} exceeded its progress deadline ({deadline}s): "
                f"{condition.message or 'ProgressDeadlineExceeded'}",
            )
    desired = max(spec.replicas if spec.replicas is not None else 1, minimum_replicas)
    updated = (status.updated_replicas if status else None) or 0
    total = (status.replicas if status else None) or 0
    available = (status.available_replicas if status else None) or 0
    if updated < desired:
        message = f"{updated}/{desired} replicas updated, {available} available"
        for condition in (status.conditions if status else None) or []:
            # Pods the API refuses to create (Pod Security, quota): the rollout stalls until the
            # progress deadline, and this says why.
            if condition.type == "ReplicaFailure" and condition.status == "True":
                message += f"; pods cannot be created: {condition.message or condition.reason}"
        return RolloutState(False, False, message)
    if total > updated:
        return RolloutState(False, False, f"{total - updated} old replicas still running")
    if available < updated:
        return RolloutState(False, False, f"{available}/{desired} new replicas available")
    return RolloutState(True, False, f"{available}/{desired} replicas available")


def rollout_backstop_seconds(settings: Any) -> float:
    """A backstop only: the controller's progress deadline is what normally ends a stalled rollout;
    it resets whenever a replica becomes available, so many replicas need longer (2 x deadline +
    60 s). Capped at MAX_ROLLOUT_SECONDS so the wait and a rollback fit in the Deploy step's
    3600 s."""
    return min(2.0 * m.progress_deadline_seconds(settings) + 60.0, MAX_ROLLOUT_SECONDS)


class RolloutWatch:
    """Waits on one cluster's Deployments (see the module docstring). `now` is the cluster's time
    as pods' start times are compared with it; `rollout_timeout` overrides the backstop."""

    def __init__(
        self,
        kube: KubeApi,
        settle_seconds: float,
        *,
        watch_seconds: int,
        rollout_timeout: float | None,
        monotonic: Callable[[], float],
        now: Callable[[], datetime],
    ) -> None:
        self.kube = kube
        self._settle_seconds = settle_seconds
        self._watch_seconds = max(1, watch_seconds)  # the API takes whole seconds
        self._rollout_timeout = rollout_timeout
        self._monotonic = monotonic
        self.now = now

    def wait_until_observed(self, deployment: Any, log: LogSink) -> None:
        """Until the controller reports the Deployment's current generation as observed, for at
        most MARK_LIVE_OBSERVE_SECONDS. Never a rollout failure: the release is live either way."""
        meta = deployment.metadata
        where = f"{meta.namespace}/{meta.name}"
        deadline = self._monotonic() + MARK_LIVE_OBSERVE_SECONDS
        try:
            while not observed(deployment):
                self.kube.beat()
                if self._monotonic() >= deadline:
                    log.write(
                        f"kubernetes: the controller has not observed generation "
                        f"{deployment.metadata.generation} of {where} in {MARK_LIVE_OBSERVE_SECONDS:g}s"
                    )
                    return
                deployment = self.next_version(deployment, deadline - self._monotonic())
        except (RuntimeRefused, RuntimeUnavailable, RolloutFailed) as error:
            log.write(f"kubernetes: could not see the controller observe {where}: {error}")

    def wait_for_rollout(self, spec: ReleaseSpec, deployment: Any, log: LogSink, progress: Progress) -> None:
        settings = spec.settings
        timeout = self._rollout_timeout
        if timeout is None:
            timeout = rollout_backstop_seconds(settings)
        deadline = self._monotonic() + timeout
        minimum = settings.autoscale_min_replicas if settings.autoscaling else 0
        meta = deployment.metadata
        log.write(
            f"rollout: waiting for the new replicas of {meta.namespace}/{meta.name} "
            f"(progress deadline {deployment.spec.progress_deadline_seconds}s)"
        )
        reported = ""
        while True:
            state = rollout_state(deployment, minimum)
            if state.failed:
                raise RolloutFailed(self.with_pod_problems(state.message, spec))
            if state.message != reported:
                reported = state.message
                log.write(f"rollout: {state.message}")
            if state.done:
                log.write(f"rollout: release {spec.release_id} is available")
                return
            progress()
            if self._monotonic() >= deadline:
                message = (
                    f"deployment {meta.namespace}/{meta.name} did not finish rolling out in {timeout:g}s"
                )
                raise RolloutFailed(self.with_pod_problems(f"{message} ({state.message})", spec))
            deployment = self.next_version(deployment, deadline - self._monotonic())

    def wait_for_workload(
        self, spec: ReleaseSpec, deployment: Any, log: LogSink, progress: Progress
    ) -> Workload:
        """The rollout of a release without a health-check path (kubernetes_workloads): WEB once it
        completes (its pods passed the port probe), WORKER or JOB as soon as its pods say so, and
        a failed rollout for a crash its restart policy gives up on or the progress deadline."""
        settle = self._settle_seconds
        timeout = self._rollout_timeout
        if timeout is None:
            timeout = rollout_backstop_seconds(spec.settings)
        started = self._monotonic()
        deadline = started + timeout
        meta = deployment.metadata
        log.write(
            f"readiness: no healthcheckPath: live once the pods of {meta.namespace}/{meta.name} accept "
            f"connections on $PORT (a web service) or stay up {settle:g}s without (a worker)"
        )
        reported = ""
        while True:
            state = rollout_state(deployment)
            if state.failed:
                raise RolloutFailed(self.with_pod_problems(state.message, spec))
            verdict = pod_verdicts.PodsVerdict(workload=Workload.WEB) if state.done else None
            if verdict is None:
                verdict = pod_verdicts.judge(self.release_pods(spec), spec.settings, self.now(), settle)
            if verdict.failure is not None:
                raise RolloutFailed(verdict.failure)
            if verdict.workload is not None:
                log.write(pod_verdicts.describe(verdict.workload, self._monotonic() - started, settle))
                return verdict.workload
            if state.message != reported:
                reported = state.message
                log.write(f"rollout: {state.message}")
            progress()
            if self._monotonic() >= deadline:
                message = f"deployment {meta.namespace}/{meta.name} did not go live in {timeout:g}s"
                raise RolloutFailed(self.with_pod_problems(f"{message} ({state.message})", spec))
            deployment = self.next_version(deployment, deadline - self._monotonic())

    def next_version(self, deployment: Any, remaining: float) -> Any:
        """The Deployment after its next change, or as it is after `watch_seconds` (or what remains
        of the rollout's time, if less) without one."""
        import urllib3
        from kubernetes import watch
        from kubernetes.client.exceptions import ApiException

        namespace, name = deployment.metadata.namespace, deployment.metadata.name
        api = self.kube.api("apps")

        def next_event() -> Any:
            stream = watch.Watch().stream(
                api.list_namespaced_deployment,
                namespace,
                field_selector=f"metadata.name={name}",
                resource_version=deployment.metadata.resource_version,
                timeout_seconds=self._watch_seconds,
                # The server ends the watch after timeout_seconds (whole seconds); our own read
                # timeout ends it sooner when the rollout's time runs out first.
                _request_timeout=(
                    self.kube.connect_timeout,
                    max(0.05, min(remaining, self._watch_seconds + 5.0)),
                ),
            )
            try:
                for event in stream:
                    if event["type"] in ("ADDED", "MODIFIED"):
                        return event["object"]
                    if event["type"] == "DELETED":
                        raise RolloutFailed(f"deployment {namespace}/{name} was deleted during the rollout")
            except urllib3.exceptions.ReadTimeoutError:
                return None  # no change in the time we had
            finally:
                stream.close()
            return None

        try:
            changed = self.kube.call("watch", "deployments.apps", namespace, next_event, with_timeout=False)
        except ApiException as error:
            if error.status != 410:  # our resourceVersion is too old to watch from: read afresh
                raise
            changed = None
        if changed is not None:
            return changed
        current = self.kube.read("Deployment", namespace, name)
        if current is None:
            raise RolloutFailed(f"deployment {namespace}/{name} was deleted during the rollout")
        return current

    def with_pod_problems(self, message: str, spec: ReleaseSpec) -> str:
        """Adds what the new release's pods report (image pull errors, crash loops, not ready)."""
        try:
            problems = self.pod_problems(spec)
        except Exception:  # diagnostics only; the failure is reported either way
            logger.warning("could not read the pods of %s", spec.release_id, exc_info=True)
            return message
        return f"{message}; {problems}" if problems else message

    def release_pods(self, spec: ReleaseSpec) -> list[Any]:
        """The pods of this release of the service (not those of the release it replaces)."""
        namespace = m.namespace_name(spec)
        selector = ",".join(f"{k}={v}" for k, v in m.selector_labels(spec).items())
        core = self.kube.api("core")
        pods = self.kube.call(
            "list", "pods", namespace, core.list_namespaced_pod, namespace, label_selector=selector
        )
        return [
            pod
            for pod in pods.items or []
            if (pod.metadata.annotations or {}).get(m.RELEASE_ID_ANNOTATION) == spec.release_id
            and pod.metadata.deletion_timestamp is None
        ]

    def pod_problems(self, spec: ReleaseSpec) -> str:
        found = []
        for pod in self.release_pods(spec):
            reasons = []
            for status in (pod.status.container_statuses if pod.status else None) or []:
                state = status.state
                if state is not None and state.waiting is not None and state.waiting.reason:
                    reasons.append(state.waiting.reason)
                elif state is not None and state.terminated is not None:
                    reasons.append(f"exited {state.terminated.exit_code}")
                elif not status.ready:
                    path = spec.settings.healthcheck_path
                    reasons.append(f"not ready (health check {path})" if path else "not ready")
                if status.restart_count:
                    reasons.append(f"{status.restart_count} restarts")
            if reasons:
                found.append(f"{pod.metadata.name}: {', '.join(reasons)}")
        return "pods of the new release: " + "; ".join(found[:5]) if found else ""


def observed(deployment: Any) -> bool:
    """The controller has seen the latest generation (its status speaks for the current spec)."""
    status = deployment.status
    seen = (status.observed_generation if status else None) or 0
    return bool(seen >= (deployment.metadata.generation or 0))
