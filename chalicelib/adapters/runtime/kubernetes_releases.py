"""Writing a release's objects on Kubernetes, and the records that make a rollback possible
(docs/decisions/0005, 0030).

Owns:
- applying a release's manifests (chalicelib/adapters/runtime/manifests.py) in the order rendered,
  the Deployment last, after deleting the objects this form of the release no longer has (HPA, PDB,
  a worker's Service and Ingress), and handing the replica count over to an autoscaler;
- the Deployment's records: the release to roll back to (`previous_record`: the last one whose
  rollout completed, never merely the last applied), and, once a rollout completed, the
  live-release record and what that release turned out to be (`mark_live`);
- putting back what served before (`restore`), or removing the service when nothing ever did;
- what a worker or a job keeps after the commit (`settle_workload`), and the variables Secrets of
  releases older than the previous one (`collect_secrets`).
"""

from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

from chalicelib.adapters.runtime import kubernetes_workloads as pod_verdicts
from chalicelib.adapters.runtime import manifests as m
from chalicelib.adapters.runtime import manifests_workloads as workloads
from chalicelib.adapters.runtime.kubernetes_api import (
    FIELD_MANAGER,
    HANDOVER_MANAGER,
    LIVE_MANAGER,
    MERGE,
    SERVICE_KINDS,
    KubeApi,
)
from chalicelib.adapters.runtime.kubernetes_rollout import RolloutWatch, rollout_state
from chalicelib.adapters.runtime.manifests import ManifestOptions
from chalicelib.domain.errors import RuntimeRefused, RuntimeUnavailable
from chalicelib.domain.ports import LogSink, ReleaseSpec
from chalicelib.domain.workloads import Workload

logger = logging.getLogger(__name__)


class ReleaseWriter:
    """Writes releases into one cluster (see the module docstring)."""

    def __init__(self, kube: KubeApi, rollouts: RolloutWatch, options: ManifestOptions) -> None:
        self.kube = kube
        self.rollouts = rollouts
        self.options = options

    @staticmethod
    def previous_record(live: Any, spec: ReleaseSpec) -> str | None:
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

    def mark_live(
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
        api = self.kube.api("apps")
        try:
            marked = self.kube.call(
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
        self.rollouts.wait_until_observed(marked, log)

    def apply_release(
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
            if self.kube.delete(ref.kind, namespace, ref.name, propagation="Background"):
                written.append(ref.kind)
                log.write(f"deleted {ref.kind} {namespace}/{ref.name} (not in this release's settings)")
        if spec.settings.autoscaling and live is not None and workloads.keeps_running(workload):
            minimum = spec.settings.autoscale_min_replicas
            if _applier_owns_replicas(live) or (live.spec.replicas or 0) < minimum:
                self.hand_replicas_to_autoscaler(live, minimum)
        deployment = None
        for obj in objects:
            if obj["kind"] == "Deployment" and not with_deployment:
                continue
            if obj["kind"] == "RoleBinding":  # _ensure_access applied it before anything was read
                continue
            stored = self.kube.apply(obj)
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

    def hand_replicas_to_autoscaler(self, live: Any, minimum: int) -> None:
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
            self.kube.apply(body, manager=HANDOVER_MANAGER, force=current < minimum)
        # (Not counted as a change: the value stays what it was; only its owner list grows.)

    def settle_workload(self, spec: ReleaseSpec, workload: Workload, log: LogSink) -> None:
        """After the commit: a worker or a job keeps no Service and no Ingress (the previous web
        release served through them until now), and a job's Deployment goes to 0 replicas, since
        it would restart its finished pods for ever. The release is live either way: a failure
        here is logged, and the next deploy or `stop` removes what is left."""
        if workload is Workload.WEB:
            return
        namespace, name = m.namespace_name(spec), m.service_name(spec)
        try:
            live = self.kube.read("Deployment", namespace, name)
            previous = (live.metadata.annotations or {}).get(m.PREVIOUS_RELEASE_ANNOTATION) if live else None
            self.apply_release(spec, live, previous, log, workload=workload)
        except (RuntimeRefused, RuntimeUnavailable) as error:
            log.write(f"kubernetes: could not remove what a {workload} does not keep: {error}")
            return
        if workload is Workload.JOB:
            log.write(f"kubernetes: {namespace}/{name} scaled to 0: the job ran to completion")

    def restore(self, spec: ReleaseSpec, previous: str | None, deployment_changed: bool, log: LogSink) -> str:
        """Put back what served before; returns a sentence for the failure message. With no
        release that ever completed its rollout (a failed first release, or only failed ones
        before it) the service is removed: nothing served, and its pods would stay broken. When
        the Deployment itself was never changed, only the objects around it are put back."""
        namespace, name = m.namespace_name(spec), m.service_name(spec)
        try:
            if previous is None:
                for kind in SERVICE_KINDS:
                    self.kube.delete(kind, namespace, name)
                self.kube.delete_secrets(namespace, spec.service_id, keep=())
                log.write(f"rollback: no previous release; removed {namespace}/{name}")
                return "no previous release to roll back to; the failed release was removed"
            variables = self.kube.read_variables(namespace, m.record_secret_name(previous))
            restored = m.spec_from_record(previous, variables)
            live = self.kube.read("Deployment", namespace, name)
            workload = pod_verdicts.workload_of(live.metadata.annotations or {} if live else {}, previous)
            self.apply_release(
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

    def collect_secrets(self, spec: ReleaseSpec, previous: str | None, log: LogSink) -> None:
        """Variables of releases older than the previous one are not needed for a rollback."""
        keep = {m.variables_secret_name(spec)}
        if previous is not None:
            keep.add(m.record_secret_name(previous))
        try:
            self.kube.delete_secrets(
                m.namespace_name(spec), spec.service_id, keep=keep, propagation="Background"
            )
        except (RuntimeRefused, RuntimeUnavailable) as error:  # housekeeping; the release is live
            log.write(f"kubernetes: could not delete old variable secrets: {error}")


def _applier_owns_replicas(deployment: Any) -> bool:
    for entry in deployment.metadata.managed_fields or []:
        if entry.manager == FIELD_MANAGER and entry.operation == "Apply":
            fields = entry.fields_v1 or {}
            if "f:replicas" in (fields.get("f:spec") or {}):
                return True
    return False
