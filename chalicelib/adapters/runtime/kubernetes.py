"""KubernetesRuntime: the `Runtime` port on a Kubernetes cluster (EKS), through the official client.

Owns, for clusters Railyard deploys to (docs/decisions/0005), the order of an activation: refuse
what it cannot run (no image, a cron service, a pre-deploy command), check the promotion, apply
the release, wait until it is available (or found to be a worker or a job: ADR 0030), record it
live, commit, and settle what a worker or a job keeps; a failure after the first write rolls the
service back to the release that served before (the service removed when none ever did). Also
restart, scale, stop (remove) of a service, its public URL, and the live releases that stopped
for good since (`LiveReleaseWatch`: ended_releases, retire; ADR 0030's second amendment).

The parts, one module each:
- kubernetes_api: requests to the API server, retries, errors as domain errors, namespace access;
- kubernetes_rollout: rollout status, the watches that wait on it, the pods of a release;
- kubernetes_releases: applying a release, the Deployment's release records, rollbacks;
- kubernetes_workloads: what the pods of a release without a health-check path say it is.

The kubernetes package is imported inside methods only: this module is imported by the composition
root, and Lambda cold starts should not pay for a client they may never build.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chalicelib.adapters.runtime import kubernetes_workloads as pod_verdicts
from chalicelib.adapters.runtime import manifests as m
from chalicelib.adapters.runtime import manifests_workloads as workloads
from chalicelib.adapters.runtime.kubernetes_api import (
    MERGE,
    RESTART_MANAGER,
    SCALE_MANAGER,
    SERVICE_KINDS,
    STRATEGIC_MERGE,
    KubeApi,
)
from chalicelib.adapters.runtime.kubernetes_releases import ReleaseWriter
from chalicelib.adapters.runtime.kubernetes_rollout import RolloutFailed, RolloutWatch
from chalicelib.adapters.runtime.manifests import ManifestOptions
from chalicelib.domain.errors import (
    BadRequest,
    Conflict,
    DomainError,
    HealthCheckFailed,
    ImageMissing,
    ReleaseNotRunnable,
)
from chalicelib.domain.models import MAX_REPLICAS
from chalicelib.domain.ports import LogSink, Progress, Promotion, ReleaseEnd, ReleaseSpec
from chalicelib.domain.workloads import Workload

logger = logging.getLogger(__name__)

RETIRE_TRIES = 3  # reads of an ended release's Deployment whose scale-to-0 met a newer version


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
        self.options = options
        self.kube = KubeApi(
            api_client,
            api_client_factory=api_client_factory,
            attempts=attempts,
            backoff_seconds=backoff_seconds,
            connect_timeout=connect_timeout,
            request_timeout=request_timeout,
            sleep=sleep,
        )
        self.rollouts = RolloutWatch(
            self.kube,
            options.worker_settle_seconds,
            watch_seconds=watch_seconds,
            rollout_timeout=rollout_timeout,
            monotonic=monotonic,
            now=now,
        )
        self.releases = ReleaseWriter(self.kube, self.rollouts, options)
        self._lock = threading.Lock()
        self._service_locks: dict[str, threading.Lock] = {}

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
        try:
            with self.kube.beating(progress):
                if promotion is not None:
                    promotion.check()  # superseded or given up while waiting: apply nothing
                workload = self._activate(spec, log, progress)
                if promotion is not None:
                    try:
                        promotion.commit(workload)
                    except BaseException as refused:
                        lost = f"release {spec.release_id} lost at the commit point: {refused}"
                        log.write(f"kubernetes: {lost}")
                        live = self.kube.read("Deployment", m.namespace_name(spec), m.service_name(spec))
                        self.releases.restore(spec, self.releases.previous_record(live, spec), True, log)
                        raise
                self.releases.settle_workload(spec, workload, log)
        finally:
            lock.release()

    def rollback(self, spec: ReleaseSpec, log: LogSink, progress: Progress) -> None:
        """Re-activate an older release: the same as activating it (its ReplicaSet is reused)."""
        self.activate(spec, log, progress)

    def stop(self, service_id: str) -> None:
        """Remove the service's objects (not its namespace, which other services share)."""
        for namespace, name in self.kube.locate(service_id):
            self.kube.ensure_access(namespace)
            for kind in SERVICE_KINDS:
                self.kube.delete(kind, namespace, name)
            self.kube.delete_secrets(namespace, service_id, keep=())

    remove = stop

    def forget_release(self, release_id: str) -> None:
        """Nothing to do: the cluster keeps nothing per release that retention must remove. Old
        ReplicaSets are bounded by the Deployment's revisionHistoryLimit, variable secrets older
        than the previous release are deleted at each activation (`_collect_secrets`), and images
        in ECR are the repository's lifecycle policy's to expire."""

    def restart(self, service_id: str) -> None:
        """Replace every pod of the live release, as `kubectl rollout restart` does."""
        stamp = self.rollouts.now().astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        body = {"spec": {"template": {"metadata": {"annotations": {m.RESTARTED_AT_ANNOTATION: stamp}}}}}
        located = self.kube.locate(service_id)
        if not located:
            raise BadRequest(f"service {service_id} has nothing running to restart")
        for namespace, name in located:
            self.kube.ensure_access(namespace)
            api = self.kube.api("apps")
            self.kube.call(
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
        located = self.kube.locate(service_id)
        if not located:
            raise BadRequest(f"service {service_id} has nothing running to scale")
        for namespace, name in located:
            self.kube.ensure_access(namespace)
            if self.kube.read("HorizontalPodAutoscaler", namespace, name) is not None:
                raise Conflict(
                    f"autoscaling owns the replica count of {namespace}/{name}: change "
                    "autoscaleMinReplicas/autoscaleMaxReplicas (or turn autoscaling off) instead"
                )
            api = self.kube.api("apps")
            self.kube.call(
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
        apps = self.kube.api("apps")
        found = self.kube.call(
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
                self.kube.ensure_access(deployment.metadata.namespace)
                pods = self.rollouts.release_pods(spec)
                end = pod_verdicts.live_end(pods, spec.settings, self.rollouts.now())
            except DomainError as error:  # one namespace's trouble must not hide the others
                logger.warning("could not read the pods of %s: %s", spec.release_id, error)
                continue
            if end is not None:
                ids = (spec.service_id, spec.deployment_id, spec.release_id)
                ends.append(ReleaseEnd(*ids, reason=end.reason, completed=end.completed))
        return ends

    def retire(self, end: ReleaseEnd, log: LogSink) -> None:
        """Scale an ended release's Deployment to 0, so the kubelet stops restarting it and it is
        not found again; its Service and Ingress stay, so its host answers 503 until the next
        deploy, as on the local runtime (an autoscaler stays too: it does not act at 0 replicas,
        and the next deploy hands it the count again). The next deploy, or a rollback to this
        release, applies its replicas again. Nothing happens when the service has moved on to
        another release, or while one of its activations runs in this process; the scale is
        conditional on the Deployment read, so one that starts meanwhile elsewhere is left alone."""
        lock = self._service_lock(end.service_id)
        if not lock.acquire(blocking=False):
            return
        try:
            for namespace, name in self.kube.locate(end.service_id):
                self._retire(namespace, name, end, log)
        finally:
            lock.release()

    def _retire(self, namespace: str, name: str, end: ReleaseEnd, log: LogSink) -> None:
        from kubernetes.client.exceptions import ConflictException

        # A Deployment's version also moves with its status (a crash-looping pod changes it every
        # few seconds), so a conflict is read again and the release checked again, a few times.
        for _ in range(RETIRE_TRIES):
            live = self.kube.read("Deployment", namespace, name)
            record = pod_verdicts.running_live_record(live.metadata.annotations or {}) if live else None
            if record is None or m.spec_from_record(record, {}).release_id != end.release_id:
                return  # another release is (being) rolled out: it is not this end's to stop
            self.kube.ensure_access(namespace)
            api = self.kube.api("apps")
            read_version = {"resourceVersion": live.metadata.resource_version}
            try:
                self.kube.call(
                    "patch",
                    "deployments.apps/scale",
                    namespace,
                    api.patch_namespaced_deployment_scale,
                    name,
                    namespace,
                    body={"metadata": read_version, "spec": {"replicas": 0}},
                    field_manager=SCALE_MANAGER,
                    _content_type=MERGE,
                )
            except ConflictException:
                continue
            log.write(f"kubernetes: {namespace}/{name} scaled to 0 until the next deploy")
            return
        # Still changing after the tries: the next sweep finds the release again and decides then.

    # --- activation ----------------------------------------------------------------------------

    def _activate(self, spec: ReleaseSpec, log: LogSink, progress: Progress) -> Workload:
        """Roll the release out; returns what it turned out to be (always WEB with a health-check
        path). A worker is rolled out a second time in its own form (no port probe) before this
        returns; what a worker or a job must not keep goes after the commit (_settle_workload)."""
        namespace, name = m.namespace_name(spec), m.service_name(spec)
        where = f"{namespace}/{name}"
        self.kube.check_namespace(namespace)
        self.kube.ensure_access(namespace, m.namespace(spec, self.options))
        live = self.kube.read("Deployment", namespace, name)
        previous = self.releases.previous_record(live, spec)
        log.write(f"kubernetes: deploying release {spec.release_id} ({spec.image}) to {where}")
        written: list[str] = []
        try:
            deployment = self.releases.apply_release(spec, live, previous, log, written)
            progress()
            workload = Workload.WEB
            if workloads.detects(spec.settings):
                workload = self.rollouts.wait_for_workload(spec, deployment, log, progress)
            else:
                self.rollouts.wait_for_rollout(spec, deployment, log, progress)
            if workload is Workload.WORKER:
                log.write("kubernetes: rolling the worker out without the port probe")
                deployment = self.kube.apply(m.deployment(spec, self.options, previous, workload))
                written.append("Deployment")
                self.rollouts.wait_for_rollout(spec, deployment, log, progress)
            self.releases.mark_live(spec, deployment, log, workload)
        except Exception as failure:
            if not written:  # nothing changed in the cluster: nothing to undo
                raise
            reason = str(failure)
            log.write(
                f"{'rollout' if isinstance(failure, RolloutFailed) else 'kubernetes'}: failed: {reason}"
            )
            restored = self.releases.restore(spec, previous, "Deployment" in written, log)
            if isinstance(failure, RolloutFailed):
                raise HealthCheckFailed(f"{reason}; {restored}") from None
            if isinstance(failure, DomainError):  # the same error, saying what became of the release
                raise type(failure)(f"{reason}; {restored}") from None
            raise
        self.releases.collect_secrets(spec, previous, log)
        return workload

    def _service_lock(self, service_id: str) -> threading.Lock:
        with self._lock:
            return self._service_locks.setdefault(service_id, threading.Lock())
