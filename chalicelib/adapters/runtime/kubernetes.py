"""KubernetesRuntime: the `Runtime` port on a Kubernetes cluster (EKS), through the official client.

Owns, for clusters Railyard deploys to (docs/decisions/0005):
- server-side apply of a release's manifests (chalicelib/adapters/runtime/manifests.py) with the
  field manager "railyard", and deleting the objects a release no longer has (HPA, PDB);
- watching the Deployment's rollout until the new ReplicaSet is fully available and no old pod is
  left, or until the controller reports ProgressDeadlineExceeded (or our own backstop timeout);
- rolling back a failed or cancelled rollout by re-applying the last release whose rollout
  completed (its record is the Deployment's live-release annotation, written only after a
  successful rollout), so the old ReplicaSet keeps serving; with none, the service is removed;
- refusing to write into a namespace Railyard does not manage (no managed-by label), and, before
  anything else in a namespace, binding itself the tenant ClusterRole there (its only rights in
  namespaces, Secrets included: docs/kubernetes-rbac.yaml, docs/decisions/0020);
- finding out what a release without a health-check path is (web, worker or job: ADR 0030, with
  kubernetes_workloads and manifests_workloads) and committing it as that;
- restart, scale, stop (remove) of a service, and its public URL;
- translating the API's failures into domain errors: bounded retries for an unreachable or failing
  API then RuntimeUnavailable, RuntimeRefused for RBAC (naming the verb and resource) and rejects.

The kubernetes package is imported inside methods only: this module is imported by the composition
root, and Lambda cold starts should not pay for a client they may never build.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chalicelib.adapters.runtime import kubernetes_workloads as pod_verdicts
from chalicelib.adapters.runtime import manifests as m
from chalicelib.adapters.runtime import manifests_security as security
from chalicelib.adapters.runtime import manifests_workloads as workloads
from chalicelib.adapters.runtime.manifests import ManifestOptions
from chalicelib.domain.errors import (
    BadRequest,
    Conflict,
    DomainError,
    HealthCheckFailed,
    ImageMissing,
    ReleaseNotRunnable,
    RuntimeRefused,
    RuntimeUnavailable,
)
from chalicelib.domain.models import MAX_REPLICAS
from chalicelib.domain.ports import LogSink, Progress, Promotion, ReleaseEnd, ReleaseSpec
from chalicelib.domain.workloads import Workload

logger = logging.getLogger(__name__)

FIELD_MANAGER = "railyard"
# Co-owns spec.replicas while an HPA takes it over, so dropping it from our apply keeps the value
# instead of resetting it to 1 (Kubernetes docs, "Transferring ownership" to an HPA).
HANDOVER_MANAGER = "railyard-handover-to-hpa"
RESTART_MANAGER = "railyard-restart"
LIVE_MANAGER = "railyard-live"  # owns the live-release annotation (never part of an apply)
SCALE_MANAGER = "railyard-scale"
APPLY = "application/apply-patch+yaml"
STRATEGIC_MERGE = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"

# kind -> (API group attribute, method suffix, namespaced, resource name as RBAC and errors spell it)
_KINDS: dict[str, tuple[str, str, bool, str]] = {
    "Namespace": ("core", "namespace", False, "namespaces"),
    "RoleBinding": ("rbac", "namespaced_role_binding", True, "rolebindings.rbac.authorization.k8s.io"),
    "Secret": ("core", "namespaced_secret", True, "secrets"),
    "Service": ("core", "namespaced_service", True, "services"),
    "NetworkPolicy": ("networking", "namespaced_network_policy", True, "networkpolicies.networking.k8s.io"),
    "Ingress": ("networking", "namespaced_ingress", True, "ingresses.networking.k8s.io"),
    "Deployment": ("apps", "namespaced_deployment", True, "deployments.apps"),
    "HorizontalPodAutoscaler": (
        "autoscaling",
        "namespaced_horizontal_pod_autoscaler",
        True,
        "horizontalpodautoscalers.autoscaling",
    ),
    "PodDisruptionBudget": (
        "policy",
        "namespaced_pod_disruption_budget",
        True,
        "poddisruptionbudgets.policy",
    ),
}
_API_CLASSES = {
    "core": "CoreV1Api",
    "apps": "AppsV1Api",
    "networking": "NetworkingV1Api",
    "autoscaling": "AutoscalingV2Api",
    "policy": "PolicyV1Api",
    "rbac": "RbacAuthorizationV1Api",
}
# What `stop` removes, dependants first (the Secret is referenced by the Deployment's pods).
_SERVICE_KINDS = ("Ingress", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Service", "Deployment")
# The Deploy step's budget is 3600 s (its heartbeat is 120 s, and progress() keeps it alive): the
# rollout's backstop leaves room for a rollback within it.
MAX_ROLLOUT_SECONDS = 3300.0
# How long activate waits for the controller to observe the live-release record's generation
# (normally well under a second); added to MAX_ROLLOUT_SECONDS it stays within that budget.
MARK_LIVE_OBSERVE_SECONDS = 60.0


class _RolloutFailed(Exception):
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
    if not _observed(deployment):
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


class KubernetesRuntime:
    """Runs releases as Deployments on a Kubernetes cluster. See the module docstring.

    `api_client` is a `kubernetes.client.ApiClient`; `api_client_factory` builds one on first use
    instead (an EKS client describes the cluster, which should not happen at import or wiring time).
    """

    def __init__(
        self,
        options: ManifestOptions,
        api_client: Any = None,
        *,
        api_client_factory: Callable[[], Any] | None = None,
        attempts: int = 3,
        backoff_seconds: float = 0.5,
        connect_timeout: float = 5.0,
        request_timeout: float = 30.0,
        watch_seconds: int = 1,
        rollout_timeout: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if api_client is None and api_client_factory is None:
            raise ValueError("KubernetesRuntime needs an api_client or an api_client_factory")
        self.options = options
        self._api_client = api_client
        self._api_client_factory = api_client_factory
        self._attempts = max(1, attempts)
        self._backoff = backoff_seconds
        # (connect, read) per request: 3 attempts of at most 35 s each, with progress() between
        # them, stay well inside the Deploy step's 120 s heartbeat.
        self._connect_timeout = connect_timeout
        self._request_timeout = request_timeout
        self._progress = threading.local()  # the running activation's heartbeat, for retries
        self._watch_seconds = max(1, watch_seconds)  # the API takes whole seconds
        self._rollout_timeout = rollout_timeout
        self._sleep = sleep
        self._monotonic = monotonic
        self._now = now
        self._lock = threading.Lock()
        self._apis: dict[str, Any] = {}
        self._service_locks: dict[str, threading.Lock] = {}
        self._bound: set[str] = set()  # namespaces whose RoleBinding this process has seen work

    @classmethod
    def for_eks(
        cls, cluster_name: str, options: ManifestOptions, region: str | None = None, **kwargs: Any
    ) -> KubernetesRuntime:
        from chalicelib.adapters.runtime.eks_auth import eks_api_client

        return cls(options, api_client_factory=lambda: eks_api_client(cluster_name, region), **kwargs)

    @classmethod
    def for_kubeconfig(
        cls, path: str, options: ManifestOptions, context: str | None = None, **kwargs: Any
    ) -> KubernetesRuntime:
        from chalicelib.adapters.runtime.eks_auth import kubeconfig_api_client

        return cls(options, api_client_factory=lambda: kubeconfig_api_client(path, context), **kwargs)

    # --- the Runtime port ----------------------------------------------------------------------

    def url_for(self, hostname: str) -> str:
        return f"https://{m.public_host(hostname, self.options.base_domain)}"

    def activate(
        self, spec: ReleaseSpec, log: LogSink, progress: Progress, promotion: Promotion | None = None
    ) -> None:
        """Pods take traffic one by one during a rollout, so there is no single instant to commit
        the promotion at (docs/decisions/0010): it is checked before anything is applied and
        committed once the rollout completed; a refused commit rolls the service back to the
        release that served before. The service lock serializes this within one process; two
        processes deploying one service at once can still overlap in the cluster
        (docs/reliability.md)."""
        if not spec.image:
            raise ImageMissing(
                f"release {spec.release_id} has no container image: it was built by the local builder, "
                "and the Kubernetes runtime runs images (builds on AWS push one to ECR)"
            )
        # Refused rather than half-done: a cron command would crash-loop as a Deployment, and
        # skipping a pre-deploy command (migrations) would start code against an old schema.
        if spec.settings.cron_schedule is not None:
            raise ReleaseNotRunnable(
                f"release {spec.release_id} is a cron service ({spec.settings.cron_schedule}): "
                "the Kubernetes runtime does not run cron services yet"
            )
        if spec.settings.pre_deploy_command:
            raise ReleaseNotRunnable(
                f"release {spec.release_id} has a preDeployCommand: the Kubernetes runtime does not run "
                "pre-deploy commands yet"
            )
        lock = self._service_lock(spec.service_id)
        while not lock.acquire(timeout=1.0):
            progress()
        self._progress.fn = progress
        try:
            if promotion is not None:
                promotion.check()  # superseded or given up while waiting: apply nothing
            workload = self._activate(spec, log, progress)
            if promotion is not None:
                try:
                    promotion.commit(workload)
                except BaseException as refused:
                    log.write(f"kubernetes: release {spec.release_id} lost at the commit point: {refused}")
                    live = self._read("Deployment", m.namespace_name(spec), m.service_name(spec))
                    self._restore(spec, self._previous_record(live, spec), True, log)
                    raise
            self._settle_workload(spec, workload, log)
        finally:
            self._progress.fn = None
            lock.release()

    def rollback(self, spec: ReleaseSpec, log: LogSink, progress: Progress) -> None:
        """Re-activate an older release: the same as activating it (its ReplicaSet is reused)."""
        self.activate(spec, log, progress)

    def stop(self, service_id: str) -> None:
        """Remove the service's objects (not its namespace, which other services share)."""
        for namespace, name in self._locate(service_id):
            self._ensure_access(namespace)
            for kind in _SERVICE_KINDS:
                self._delete(kind, namespace, name)
            self._delete_secrets(namespace, service_id, keep=())

    remove = stop

    def forget_release(self, release_id: str) -> None:
        """Nothing to do: the cluster keeps nothing per release that retention must remove. Old
        ReplicaSets are bounded by the Deployment's revisionHistoryLimit, variable secrets older
        than the previous release are deleted at each activation (`_collect_secrets`), and images
        in ECR are the repository's lifecycle policy's to expire."""

    def restart(self, service_id: str) -> None:
        """Replace every pod of the live release, as `kubectl rollout restart` does."""
        stamp = self._now().astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        body = {"spec": {"template": {"metadata": {"annotations": {m.RESTARTED_AT_ANNOTATION: stamp}}}}}
        located = self._locate(service_id)
        if not located:
            raise BadRequest(f"service {service_id} has nothing running to restart")
        for namespace, name in located:
            self._ensure_access(namespace)
            api = self._api("apps")
            self._call(
                "patch",
                "deployments.apps",
                namespace,
                api.patch_namespaced_deployment,
                name,
                namespace,
                body=body,
                field_manager=RESTART_MANAGER,
                _content_type=STRATEGIC_MERGE,
            )

    def scale(self, service_id: str, replicas: int) -> None:
        """Set the replica count until the next release applies settings.numReplicas again.
        Refused while an autoscaler owns the count: its bounds are settings, changed by a deployment."""
        if not 0 <= replicas <= MAX_REPLICAS:
            raise BadRequest(f"replicas must be between 0 and {MAX_REPLICAS}")
        located = self._locate(service_id)
        if not located:
            raise BadRequest(f"service {service_id} has nothing running to scale")
        for namespace, name in located:
            self._ensure_access(namespace)
            if self._read("HorizontalPodAutoscaler", namespace, name) is not None:
                raise Conflict(
                    f"autoscaling owns the replica count of {namespace}/{name}: change "
                    "autoscaleMinReplicas/autoscaleMaxReplicas (or turn autoscaling off) instead"
                )
            api = self._api("apps")
            self._call(
                "patch",
                "deployments.apps/scale",
                namespace,
                api.patch_namespaced_deployment_scale,
                name,
                namespace,
                body={"spec": {"replicas": replicas}},
                field_manager=SCALE_MANAGER,
                _content_type=MERGE,
            )

    # --- live releases that stopped (LiveReleaseWatch) ------------------------------------------

    def ended_releases(self) -> list[ReleaseEnd]:
        """Live releases whose every pod's last exit is one the restart policy does not restart
        (kubernetes_workloads.live_end): the kubelet would restart them for ever, the service's
        policy says they are over. Deployments at 0 replicas (a job, a retired release, `scale 0`)
        and those rolling out another release are left out."""
        apps = self._api("apps")
        found = self._call(
            "list",
            "deployments.apps",
            None,
            apps.list_deployment_for_all_namespaces,
            label_selector=f"{m.MANAGED_BY_LABEL}={m.MANAGED_BY}",
        )
        ends = []
        for deployment in found.items or []:
            record = pod_verdicts.running_live_record(deployment.metadata.annotations or {})
            if record is None or deployment.spec.replicas == 0:
                continue
            spec = m.spec_from_record(record, {})
            try:
                self._ensure_access(deployment.metadata.namespace)
                end = pod_verdicts.live_end(self._release_pods(spec), spec.settings, self._now())
            except DomainError as error:  # one namespace's trouble must not hide the others
                logger.warning("could not read the pods of %s: %s", spec.release_id, error)
                continue
            if end is not None:
                ids = (spec.service_id, spec.deployment_id, spec.release_id)
                ends.append(ReleaseEnd(*ids, reason=end.reason, completed=end.completed))
        return ends

    def retire(self, end: ReleaseEnd, log: LogSink) -> None:
        """Scale an ended release's Deployment to 0 (and drop its autoscaler, which would not act
        at 0 anyway), so the kubelet stops restarting it and it is not found again; its Service
        and Ingress stay, so its host answers 503 until the next deploy, as on the local runtime.
        The next deploy (or a rollback to it) applies its replicas again. Nothing happens when the
        service has moved on to another release, or while one of its activations runs here."""
        lock = self._service_lock(end.service_id)
        if not lock.acquire(blocking=False):
            return
        try:
            for namespace, name in self._locate(end.service_id):
                self._retire(namespace, name, end, log)
        finally:
            lock.release()

    def _retire(self, namespace: str, name: str, end: ReleaseEnd, log: LogSink) -> None:
        live = self._read("Deployment", namespace, name)
        record = pod_verdicts.running_live_record(live.metadata.annotations or {}) if live else None
        if record is None or m.spec_from_record(record, {}).release_id != end.release_id:
            return
        self._ensure_access(namespace)
        self._delete("HorizontalPodAutoscaler", namespace, name, propagation="Background")
        api = self._api("apps")
        self._call(
            "patch",
            "deployments.apps/scale",
            namespace,
            api.patch_namespaced_deployment_scale,
            name,
            namespace,
            body={"spec": {"replicas": 0}},
            field_manager=SCALE_MANAGER,
            _content_type=MERGE,
        )
        log.write(f"kubernetes: {namespace}/{name} scaled to 0 until the next deploy")

    # --- activation ----------------------------------------------------------------------------

    def _activate(self, spec: ReleaseSpec, log: LogSink, progress: Progress) -> Workload:
        """Roll the release out; returns what it turned out to be (always WEB with a health-check
        path). A worker is rolled out a second time in its own form (no port probe) before this
        returns; what a worker or a job must not keep goes after the commit (_settle_workload)."""
        namespace, name = m.namespace_name(spec), m.service_name(spec)
        where = f"{namespace}/{name}"
        self._check_namespace(namespace)
        self._ensure_access(namespace, m.namespace(spec, self.options))
        live = self._read("Deployment", namespace, name)
        previous = self._previous_record(live, spec)
        log.write(f"kubernetes: deploying release {spec.release_id} ({spec.image}) to {where}")
        written: list[str] = []
        try:
            deployment = self._apply_release(spec, live, previous, log, written)
            progress()
            workload = Workload.WEB
            if workloads.detects(spec.settings):
                workload = self._wait_for_workload(spec, deployment, log, progress)
            else:
                self._wait_for_rollout(spec, deployment, log, progress)
            if workload is Workload.WORKER:
                log.write("kubernetes: rolling the worker out without the port probe")
                deployment = self._apply(m.deployment(spec, self.options, previous, workload))
                written.append("Deployment")
                self._wait_for_rollout(spec, deployment, log, progress)
            self._mark_live(spec, deployment, log, workload)
        except Exception as failure:
            if not written:  # nothing changed in the cluster: nothing to undo
                raise
            reason = str(failure)
            log.write(
                f"{'rollout' if isinstance(failure, _RolloutFailed) else 'kubernetes'}: failed: {reason}"
            )
            restored = self._restore(spec, previous, "Deployment" in written, log)
            if isinstance(failure, _RolloutFailed):
                raise HealthCheckFailed(f"{reason}; {restored}") from None
            if isinstance(failure, DomainError):  # the same error, saying what became of the release
                raise type(failure)(f"{reason}; {restored}") from None
            raise
        self._collect_secrets(spec, previous, log)
        return workload

    @staticmethod
    def _previous_record(live: Any, spec: ReleaseSpec) -> str | None:
        """The release to roll back to: the last one whose rollout completed (the live-release
        annotation), never merely the last one applied, which may never have become available (a
        worker that died mid-rollout). When that is this very release (a retried step), the one it
        replaced. None: nothing ever served (a failure removes the service)."""
        if live is None:
            return None
        annotations = live.metadata.annotations or {}
        current = annotations.get(m.LIVE_RELEASE_ANNOTATION)
        if current is None:
            # Deployments from before the annotation: the applied release counts only when its
            # rollout is complete.
            applied = annotations.get(m.RELEASE_ANNOTATION)
            if applied is None or not rollout_state(live).done:
                return None
            current = applied
        try:
            live_release = json.loads(current)["releaseId"]
        except (ValueError, KeyError, TypeError):
            return None
        if live_release == spec.release_id:
            previous: str | None = annotations.get(m.PREVIOUS_RELEASE_ANNOTATION)
            return previous
        return str(current)

    def _check_namespace(self, namespace: str) -> None:
        """Railyard only ever writes into namespaces it created: one that exists without its
        managed-by label belongs to someone else (a system namespace, another tool's)."""
        existing = self._read("Namespace", None, namespace)
        if existing is None:
            return
        labels = existing.metadata.labels or {}
        if labels.get(m.MANAGED_BY_LABEL) != m.MANAGED_BY:
            raise RuntimeRefused(
                f"namespace {namespace} exists and is not managed by Railyard (no label "
                f"{m.MANAGED_BY_LABEL}={m.MANAGED_BY}); refusing to deploy into it"
            )

    def _ensure_access(self, namespace: str, namespace_object: dict[str, Any] | None = None) -> None:
        """The runtime's rights inside a namespace come only from the RoleBinding it creates there
        (the ClusterRole grants `bind` of the tenant role, nothing namespaced). Applied before the
        first namespaced request of a process (with the Namespace itself, when activating), then
        awaited: RBAC answers from a cache that may lag the write by a moment. Namespaces without
        Railyard's prefix are left alone (_check_namespace refuses writing there anyway)."""
        if namespace in self._bound or not namespace.startswith(m.NAMESPACE_PREFIX):
            return
        if namespace_object is not None:
            self._apply(namespace_object)
        self._apply(security.role_binding(namespace))
        core = self._api("core")
        self._call(
            "list",
            "secrets",
            namespace,
            core.list_namespaced_secret,
            namespace,
            limit=1,
            label_selector=f"{m.ROLE_LABEL}=variables",
            transient_forbidden=True,
        )
        with self._lock:
            self._bound.add(namespace)

    def _mark_live(
        self, spec: ReleaseSpec, deployment: Any, log: LogSink, workload: Workload = Workload.WEB
    ) -> None:
        """Record the release whose rollout just completed, under its own field manager so the
        next apply leaves it in place, and return once the controller has observed the write.

        The record is an annotation on the Deployment (one place, read back by `_previous_record`
        with the Deployment itself). An API server bumps a Deployment's metadata.generation on any
        annotation change, not only on a spec change (the deployment strategy's PrepareForUpdate:
        annotations are copied to the ReplicaSets), so this patch makes a new generation. Its
        template is unchanged, so it rolls nothing out, but until the controller observes it the
        Deployment reports an unfinished rollout (observedGeneration < generation), as `kubectl
        rollout status` would show. Hence the wait: once activate returns, the Deployment reads
        as complete. A label would make no generation, but cannot hold the record (63 characters).
        """
        meta = deployment.metadata
        annotations = {
            m.LIVE_RELEASE_ANNOTATION: m.release_record(spec),
            **pod_verdicts.live_workload_annotations(meta.annotations or {}, spec.release_id, workload),
        }
        body = {"metadata": {"annotations": annotations}}
        api = self._api("apps")
        try:
            marked = self._call(
                "patch",
                "deployments.apps",
                meta.namespace,
                api.patch_namespaced_deployment,
                meta.name,
                meta.namespace,
                body=body,
                field_manager=LIVE_MANAGER,
                _content_type=MERGE,
            )
        except (RuntimeRefused, RuntimeUnavailable) as error:  # the release is live either way
            log.write(f"kubernetes: could not record release {spec.release_id} as live: {error}")
            return
        self._wait_until_observed(marked, log)

    def _wait_until_observed(self, deployment: Any, log: LogSink) -> None:
        """Until the controller reports the Deployment's current generation as observed, for at
        most MARK_LIVE_OBSERVE_SECONDS. Never a rollout failure: the release is live either way."""
        meta = deployment.metadata
        where = f"{meta.namespace}/{meta.name}"
        deadline = self._monotonic() + MARK_LIVE_OBSERVE_SECONDS
        try:
            while not _observed(deployment):
                self._beat()
                if self._monotonic() >= deadline:
                    log.write(
                        f"kubernetes: the controller has not observed generation "
                        f"{deployment.metadata.generation} of {where} in {MARK_LIVE_OBSERVE_SECONDS:g}s"
                    )
                    return
                deployment = self._next_version(deployment, deadline - self._monotonic())
        except (RuntimeRefused, RuntimeUnavailable, _RolloutFailed) as error:
            log.write(f"kubernetes: could not see the controller observe {where}: {error}")

    def _apply_release(
        self,
        spec: ReleaseSpec,
        live: Any,
        previous: str | None,
        log: LogSink,
        written: list[str] | None = None,
        with_deployment: bool = True,
        workload: Workload | None = None,
    ) -> Any:
        """Apply every object of the release in the order rendered (the Deployment last); returns
        the Deployment as the server stored it (None without it). `written` collects what was
        changed, for the caller's rollback decision. `workload`: the form of a release without a
        health-check path (manifests_workloads), None while it is being found out."""
        written = [] if written is None else written
        objects = m.render(spec, self.options, previous_record=previous, workload=workload)
        namespace = m.namespace_name(spec)
        # Before the Deployment: an autoscaler being turned off must not scale it back meanwhile.
        # Background: neither an HPA nor a PDB has dependants to wait for.
        for ref in m.absent_objects(spec, workload):
            if self._delete(ref.kind, namespace, ref.name, propagation="Background"):
                written.append(ref.kind)
                log.write(f"deleted {ref.kind} {namespace}/{ref.name} (not in this release's settings)")
        if spec.settings.autoscaling and live is not None and workloads.keeps_running(workload):
            minimum = spec.settings.autoscale_min_replicas
            if _applier_owns_replicas(live) or (live.spec.replicas or 0) < minimum:
                self._hand_replicas_to_autoscaler(live, minimum)
        deployment = None
        for obj in objects:
            if obj["kind"] == "Deployment" and not with_deployment:
                continue
            if obj["kind"] == "RoleBinding":  # _ensure_access applied it before anything was read
                continue
            stored = self._apply(obj)
            written.append(obj["kind"])
            meta = obj["metadata"]
            if obj["kind"] == "Deployment":
                deployment = stored
                generation = stored.metadata.generation
                log.write(f"applied Deployment {meta['namespace']}/{meta['name']} (generation {generation})")
            else:
                where = f"{meta['namespace']}/{meta['name']}" if "namespace" in meta else meta["name"]
                log.write(f"applied {obj['kind']} {where}")
        return deployment

    def _hand_replicas_to_autoscaler(self, live: Any, minimum: int) -> None:
        meta = live.metadata
        # At least the autoscaler's minimum: an HPA does not scale a Deployment up from 0 (scaled
        # to 0 before autoscaling was turned on), it leaves it there. Below the minimum the value
        # is taken over whoever set it (`scale`); otherwise only handed over.
        current = live.spec.replicas or 0
        body = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": meta.name, "namespace": meta.namespace},
            "spec": {"replicas": max(current, minimum)},
        }
        from kubernetes.client.exceptions import ConflictException

        # A conflict means someone else (the HPA controller) already owns the field: nothing to hand over.
        with contextlib.suppress(ConflictException):
            self._apply(body, manager=HANDOVER_MANAGER, force=current < minimum)
        # (Not counted as a change: the value stays what it was; only its owner list grows.)

    def _wait_for_rollout(self, spec: ReleaseSpec, deployment: Any, log: LogSink, progress: Progress) -> None:
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
                raise _RolloutFailed(self._with_pod_problems(state.message, spec))
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
                raise _RolloutFailed(self._with_pod_problems(f"{message} ({state.message})", spec))
            deployment = self._next_version(deployment, deadline - self._monotonic())

    def _wait_for_workload(
        self, spec: ReleaseSpec, deployment: Any, log: LogSink, progress: Progress
    ) -> Workload:
        """The rollout of a release without a health-check path (kubernetes_workloads): WEB once it
        completes (its pods passed the port probe), WORKER or JOB as soon as its pods say so, and
        a failed rollout for a crash its restart policy gives up on or the progress deadline."""
        settle = self.options.worker_settle_seconds
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
                raise _RolloutFailed(self._with_pod_problems(state.message, spec))
            verdict = pod_verdicts.PodsVerdict(workload=Workload.WEB) if state.done else None
            if verdict is None:
                verdict = pod_verdicts.judge(self._release_pods(spec), spec.settings, self._now(), settle)
            if verdict.failure is not None:
                raise _RolloutFailed(verdict.failure)
            if verdict.workload is not None:
                log.write(pod_verdicts.describe(verdict.workload, self._monotonic() - started, settle))
                return verdict.workload
            if state.message != reported:
                reported = state.message
                log.write(f"rollout: {state.message}")
            progress()
            if self._monotonic() >= deadline:
                message = f"deployment {meta.namespace}/{meta.name} did not go live in {timeout:g}s"
                raise _RolloutFailed(self._with_pod_problems(f"{message} ({state.message})", spec))
            deployment = self._next_version(deployment, deadline - self._monotonic())

    def _settle_workload(self, spec: ReleaseSpec, workload: Workload, log: LogSink) -> None:
        """After the commit: a worker or a job keeps no Service and no Ingress (the previous web
        release served through them until now), and a job's Deployment goes to 0 replicas, since
        it would restart its finished pods for ever. The release is live either way: a failure
        here is logged, and the next deploy or `stop` removes what is left."""
        if workload is Workload.WEB:
            return
        namespace, name = m.namespace_name(spec), m.service_name(spec)
        try:
            live = self._read("Deployment", namespace, name)
            previous = (live.metadata.annotations or {}).get(m.PREVIOUS_RELEASE_ANNOTATION) if live else None
            self._apply_release(spec, live, previous, log, workload=workload)
        except (RuntimeRefused, RuntimeUnavailable) as error:
            log.write(f"kubernetes: could not remove what a {workload} does not keep: {error}")
            return
        if workload is Workload.JOB:
            log.write(f"kubernetes: {namespace}/{name} scaled to 0: the job ran to completion")

    def _next_version(self, deployment: Any, remaining: float) -> Any:
        """The Deployment after its next change, or as it is after `watch_seconds` (or what remains
        of the rollout's time, if less) without one."""
        import urllib3
        from kubernetes import watch
        from kubernetes.client.exceptions import ApiException

        namespace, name = deployment.metadata.namespace, deployment.metadata.name
        api = self._api("apps")

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
                    self._connect_timeout,
                    max(0.05, min(remaining, self._watch_seconds + 5.0)),
                ),
            )
            try:
                for event in stream:
                    if event["type"] in ("ADDED", "MODIFIED"):
                        return event["object"]
                    if event["type"] == "DELETED":
                        raise _RolloutFailed(f"deployment {namespace}/{name} was deleted during the rollout")
            except urllib3.exceptions.ReadTimeoutError:
                return None  # no change in the time we had
            finally:
                stream.close()
            return None

        try:
            changed = self._call("watch", "deployments.apps", namespace, next_event, with_timeout=False)
        except ApiException as error:
            if error.status != 410:  # our resourceVersion is too old to watch from: read afresh
                raise
            changed = None
        if changed is not None:
            return changed
        current = self._read("Deployment", namespace, name)
        if current is None:
            raise _RolloutFailed(f"deployment {namespace}/{name} was deleted during the rollout")
        return current

    def _with_pod_problems(self, message: str, spec: ReleaseSpec) -> str:
        """Adds what the new release's pods report (image pull errors, crash loops, not ready)."""
        try:
            problems = self._pod_problems(spec)
        except Exception:  # diagnostics only; the failure is reported either way
            logger.warning("could not read the pods of %s", spec.release_id, exc_info=True)
            return message
        return f"{message}; {problems}" if problems else message

    def _release_pods(self, spec: ReleaseSpec) -> list[Any]:
        """The pods of this release of the service (not those of the release it replaces)."""
        namespace = m.namespace_name(spec)
        selector = ",".join(f"{k}={v}" for k, v in m.selector_labels(spec).items())
        core = self._api("core")
        pods = self._call(
            "list", "pods", namespace, core.list_namespaced_pod, namespace, label_selector=selector
        )
        return [
            pod
            for pod in pods.items or []
            if (pod.metadata.annotations or {}).get(m.RELEASE_ID_ANNOTATION) == spec.release_id
            and pod.metadata.deletion_timestamp is None
        ]

    def _pod_problems(self, spec: ReleaseSpec) -> str:
        found = []
        for pod in self._release_pods(spec):
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

    def _restore(
        self, spec: ReleaseSpec, previous: str | None, deployment_changed: bool, log: LogSink
    ) -> str:
        """Put back what served before; returns a sentence for the failure message. With no
        release that ever completed its rollout (a failed first release, or only failed ones
        before it) the service is removed: nothing served, and its pods would stay broken. When
        the Deployment itself was never changed, only the objects around it are put back."""
        namespace, name = m.namespace_name(spec), m.service_name(spec)
        try:
            if previous is None:
                for kind in _SERVICE_KINDS:
                    self._delete(kind, namespace, name)
                self._delete_secrets(namespace, spec.service_id, keep=())
                log.write(f"rollback: no previous release; removed {namespace}/{name}")
                return "no previous release to roll back to; the failed release was removed"
            variables = self._read_variables(namespace, m.record_secret_name(previous))
            restored = m.spec_from_record(previous, variables)
            live = self._read("Deployment", namespace, name)
            workload = pod_verdicts.workload_of(live.metadata.annotations or {} if live else {}, previous)
            self._apply_release(
                restored, live, None, log, with_deployment=deployment_changed, workload=workload
            )
        except Exception as error:  # the original failure matters more; say the rollback failed too
            log.write(f"rollback: failed: {error}")
            logger.warning("rollback of %s/%s failed", namespace, name, exc_info=True)
            return f"rolling back also failed: {error}"
        if deployment_changed:
            log.write(f"rollback: re-applied release {restored.release_id}; its ReplicaSet scales back up")
        else:
            log.write(
                f"rollback: re-applied release {restored.release_id} (its Deployment was never changed)"
            )
        return f"rolled back to release {restored.release_id}"

    def _read_variables(self, namespace: str, secret_name: str) -> dict[str, str]:
        import base64

        core = self._api("core")
        secret = self._call_optional(
            "get", "secrets", namespace, core.read_namespaced_secret, secret_name, namespace
        )
        if secret is None:
            raise RuntimeRefused(
                f"the previous release's variables (secret {namespace}/{secret_name}) are gone"
            )
        return {key: base64.b64decode(value).decode() for key, value in (secret.data or {}).items()}

    def _collect_secrets(self, spec: ReleaseSpec, previous: str | None, log: LogSink) -> None:
        """Variables of releases older than the previous one are not needed for a rollback."""
        keep = {m.variables_secret_name(spec)}
        if previous is not None:
            keep.add(m.record_secret_name(previous))
        try:
            self._delete_secrets(m.namespace_name(spec), spec.service_id, keep=keep, propagation="Background")
        except (RuntimeRefused, RuntimeUnavailable) as error:  # housekeeping; the release is live
            log.write(f"kubernetes: could not delete old variable secrets: {error}")

    def _delete_secrets(
        self, namespace: str, service_id: str, keep: Any, propagation: str = "Foreground"
    ) -> None:
        core = self._api("core")
        selector = f"{m.SERVICE_ID_LABEL}={m.label_value(service_id)},{m.ROLE_LABEL}=variables"
        secrets = self._call(
            "list", "secrets", namespace, core.list_namespaced_secret, namespace, label_selector=selector
        )
        for secret in secrets.items or []:
            if secret.metadata.name not in keep:
                self._delete("Secret", namespace, secret.metadata.name, propagation)

    # --- API access ----------------------------------------------------------------------------

    def _client(self) -> Any:
        with self._lock:
            if self._api_client is None:
                assert self._api_client_factory is not None
                self._api_client = self._api_client_factory()
            return self._api_client

    def _api(self, group: str) -> Any:
        with self._lock:
            api = self._apis.get(group)
        if api is not None:
            return api
        from kubernetes import client as k8s

        # One API module at a time: each costs hundreds of milliseconds of pydantic model classes.
        factory = getattr(k8s, _API_CLASSES[group])
        api = factory(self._client())
        with self._lock:
            self._apis[group] = api
        return api

    def _beat(self) -> None:
        """Keep the running activation's heartbeat going while a request is retried."""
        progress = getattr(self._progress, "fn", None)
        if progress is not None:
            progress()

    def _service_lock(self, service_id: str) -> threading.Lock:
        with self._lock:
            return self._service_locks.setdefault(service_id, threading.Lock())

    def _apply(self, obj: dict[str, Any], manager: str = FIELD_MANAGER, force: bool = True) -> Any:
        group, suffix, namespaced, resource = _KINDS[obj["kind"]]
        meta = obj["metadata"]
        namespace = meta.get("namespace") if namespaced else None
        method = getattr(self._api(group), f"patch_{suffix}")
        args = (meta["name"], namespace) if namespaced else (meta["name"],)
        return self._call(
            "patch",
            resource,
            namespace,
            method,
            *args,
            body=obj,
            field_manager=manager,
            force=force,
            _content_type=APPLY,
        )

    def _read(self, kind: str, namespace: str | None, name: str) -> Any:
        group, suffix, namespaced, resource = _KINDS[kind]
        method = getattr(self._api(group), f"read_{suffix}")
        args = (name, namespace) if namespaced else (name,)
        return self._call_optional("get", resource, namespace, method, *args)

    def _delete(self, kind: str, namespace: str, name: str, propagation: str = "Foreground") -> bool:
        """Delete one object; False when it did not exist. Foreground: the call's effects (pods of a
        Deployment gone) are complete once the object itself disappears."""
        from kubernetes.client.exceptions import NotFoundException

        group, suffix, _, resource = _KINDS[kind]
        method = getattr(self._api(group), f"delete_{suffix}")
        try:
            self._call("delete", resource, namespace, method, name, namespace, propagation_policy=propagation)
        except NotFoundException:
            return False
        return True

    def _locate(self, service_id: str) -> list[tuple[str, str]]:
        """(namespace, name) of the service's Deployments, found by label in every namespace."""
        apps = self._api("apps")
        found = self._call(
            "list",
            "deployments.apps",
            None,
            apps.list_deployment_for_all_namespaces,
            label_selector=f"{m.SERVICE_ID_LABEL}={m.label_value(service_id)}",
        )
        return [(d.metadata.namespace, d.metadata.name) for d in found.items or []]

    def _call_optional(self, verb: str, resource: str, namespace: str | None, fn: Any, *args: Any) -> Any:
        from kubernetes.client.exceptions import NotFoundException

        try:
            return self._call(verb, resource, namespace, fn, *args)
        except NotFoundException:
            return None

    def _call(
        self,
        verb: str,
        resource: str,
        namespace: str | None,
        fn: Any,
        *args: Any,
        with_timeout: bool = True,
        transient_forbidden: bool = False,
        **kwargs: Any,
    ) -> Any:
        """One API request with bounded retries of what may pass (no connection, 5xx, 429); RBAC
        and validation failures become domain errors naming the request. 404/409/410 are raised
        as the client's exceptions for callers that expect them. Every request Railyard makes is
        idempotent (apply, get, list, delete), so a retry cannot do anything twice.
        `transient_forbidden`: a 403 is retried too (rights just granted and not yet in effect)."""
        import urllib3
        from kubernetes.client.exceptions import ApiException

        where = f" in namespace {namespace}" if namespace else ""
        if with_timeout:
            kwargs.setdefault("_request_timeout", (self._connect_timeout, self._request_timeout))
        reason = ""
        for attempt in range(1, self._attempts + 1):
            try:
                return fn(*args, **kwargs)
            except ApiException as error:
                status = error.status or 0
                message = _status_message(error)
                retry_forbidden = transient_forbidden and status == 403 and attempt < self._attempts
                if status in (401, 403) and not retry_forbidden:
                    why = "forbidden" if status == 403 else "unauthorized"
                    raise RuntimeRefused(
                        f"kubernetes refused: cannot {verb} {resource}{where} ({why}: {message})"
                    ) from None
                if status in (404, 409, 410):
                    raise
                if status not in (0, 403, 429) and status < 500:  # invalid, unsupported: not for retrying
                    raise RuntimeRefused(
                        f"kubernetes rejected {verb} {resource}{where} (HTTP {status}): {message}"
                    ) from None
                reason = f"HTTP {status}: {message}" if status else message
            except urllib3.exceptions.HTTPError as error:
                reason = _connection_reason(error)
            except OSError as error:
                reason = f"{type(error).__name__}: {error}"
            logger.warning(
                "kubernetes %s %s%s failed (attempt %d): %s", verb, resource, where, attempt, reason
            )
            if attempt < self._attempts:
                self._beat()
                self._sleep(self._backoff * 2 ** (attempt - 1))
        raise RuntimeUnavailable(
            f"kubernetes API unavailable: {verb} {resource}{where} failed {self._attempts} times: {reason}"
        )


def _observed(deployment: Any) -> bool:
    """The controller has seen the latest generation (its status speaks for the current spec)."""
    status = deployment.status
    observed = (status.observed_generation if status else None) or 0
    return bool(observed >= (deployment.metadata.generation or 0))


def _applier_owns_replicas(deployment: Any) -> bool:
    for entry in deployment.metadata.managed_fields or []:
        if entry.manager == FIELD_MANAGER and entry.operation == "Apply":
            fields = entry.fields_v1 or {}
            if "f:replicas" in (fields.get("f:spec") or {}):
                return True
    return False


def _status_message(error: Any) -> str:
    """The `message` of the Status the API answered with, else the HTTP reason."""
    body = getattr(error, "body", None)
    if body:
        try:
            message = json.loads(body).get("message")
        except (ValueError, AttributeError):
            message = None
        if message:
            return str(message)
    return str(error.reason or "no answer")


def _connection_reason(error: Exception) -> str:
    # MaxRetryError wraps the interesting part (connection refused, timed out, reset).
    inner = getattr(error, "reason", None)
    if inner is not None:
        return f"{type(inner).__name__}: {inner}"
    return f"{type(error).__name__}: {error}"
