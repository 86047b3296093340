"""The simulated control plane of the test API server, advanced only by ``KubeApiServer.step()``.

One step runs, in order: the garbage collector (foreground/background/orphan propagation), the
namespace finalizer, the HPA controller, the deployment controller, the ReplicaSet controller
(pods are created and deleted), the scheduler + kubelet (pods start; at most
``pods_ready_per_step`` pods per ReplicaSet become Ready; never-ready images stay unready), the
ReplicaSet status update, the disruption controller and a load-balancer "cloud provider".

The deployment controller is a transcription of kube-controller-manager's
(pkg/controller/deployment: sync.go, rolling.go, recreate.go, progress.go and
deployment/util), because clients read its exact output: ``kubectl rollout status`` reads
``observedGeneration``, ``updatedReplicas``, ``availableReplicas`` and the ``Progressing``
condition reason; ``kubectl rollout history/undo`` read the ``deployment.kubernetes.io/revision``
annotation of the ReplicaSets owned by the Deployment. Writes go through the same paths as client
writes, so they bump resourceVersions, fill managedFields (``kube-controller-manager``) and emit
watch events. Every function here runs with the server lock held.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from typing import TYPE_CHECKING, Any

from tests.kubernetes import apiserver_kubelet as kubelet
from tests.kubernetes.apiserver_resources import (
    BY_GROUP_PLURAL,
    ResourceType,
    label_selector_matches,
    parse_time,
)

if TYPE_CHECKING:
    from tests.kubernetes.apiserver import KubeApiServer

JSON = dict[str, Any]

DEP = BY_GROUP_PLURAL[("apps", "deployments")]
RS = BY_GROUP_PLURAL[("apps", "replicasets")]
POD = BY_GROUP_PLURAL[("", "pods")]
NS = BY_GROUP_PLURAL[("", "namespaces")]
SVC = BY_GROUP_PLURAL[("", "services")]
HPA = BY_GROUP_PLURAL[("autoscaling", "horizontalpodautoscalers")]
ING = BY_GROUP_PLURAL[("networking.k8s.io", "ingresses")]
PDB = BY_GROUP_PLURAL[("policy", "poddisruptionbudgets")]

REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
HASH_LABEL = "pod-template-hash"
# Annotations the controller never copies from a Deployment to its ReplicaSets.
SKIP_ANNOTATIONS = {
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
}
MAX_INT32 = 2**31 - 1
NODE_NAME = "railyard-test-node"
NODE_IP = "10.0.0.10"


def step(server: KubeApiServer) -> None:
    _garbage_collect(server)
    _finalize_namespaces(server)
    for hpa in list(server.list_stored(HPA)):
        _sync_hpa(server, hpa)
    for d in list(server.list_stored(DEP)):
        DeploymentSync(server, d).run()
    for rs in list(server.list_stored(RS)):
        _manage_pods(server, rs)
    _kubelet(server)
    for rs in list(server.list_stored(RS)):
        _replicaset_status(server, rs)
    for pdb in list(server.list_stored(PDB)):
        _sync_pdb(server, pdb)
    _load_balancers(server)


# --------------------------------------------------------------------------- helpers


def _meta(obj: JSON) -> JSON:
    meta: JSON = obj.setdefault("metadata", {})
    return meta


def controller_ref(owner: JSON, rt: ResourceType) -> JSON:
    return {
        "apiVersion": rt.group_version,
        "kind": rt.kind,
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def is_controlled_by(obj: JSON, owner: JSON) -> bool:
    uid = owner["metadata"]["uid"]
    return any(
        r.get("uid") == uid and r.get("controller") for r in obj["metadata"].get("ownerReferences") or []
    )


def _controller_of(obj: JSON) -> JSON | None:
    return next((r for r in obj["metadata"].get("ownerReferences") or [] if r.get("controller")), None)


def _created(obj: JSON) -> tuple[str, str]:
    return (obj["metadata"].get("creationTimestamp", ""), obj["metadata"]["name"])


def _replicas(obj: JSON) -> int:
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def _status_int(obj: JSON | None, key: str) -> int:
    return int(((obj or {}).get("status") or {}).get(key) or 0)


def revision_of(rs: JSON) -> int:
    try:
        return int((rs["metadata"].get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def scaled_value(value: Any, total: int, round_up: bool) -> int:
    """intstr.GetScaledValueFromIntOrPercent."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = str(value)
    if text.endswith("%"):
        fraction = int(text[:-1]) * total / 100
        return math.ceil(fraction) if round_up else math.floor(fraction)
    return int(text)


def resolve_fenceposts(d: JSON) -> tuple[int, int]:
    rolling = ((d["spec"].get("strategy") or {}).get("rollingUpdate")) or {}
    desired = _replicas(d)
    surge = scaled_value(rolling.get("maxSurge", "25%"), desired, True)
    unavailable = scaled_value(rolling.get("maxUnavailable", "25%"), desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1  # the controller's fencepost: a rollout must be able to make progress
    return surge, unavailable


def _is_rolling(d: JSON) -> bool:
    return (d["spec"].get("strategy") or {}).get("type", "RollingUpdate") == "RollingUpdate"


def max_surge(d: JSON) -> int:
    return resolve_fenceposts(d)[0] if _is_rolling(d) else 0


def max_unavailable(d: JSON) -> int:
    if not _is_rolling(d) or _replicas(d) == 0:
        return 0
    return min(resolve_fenceposts(d)[1], _replicas(d))


def _without_hash(template: JSON) -> JSON:
    t = copy.deepcopy(template)
    labels = (t.get("metadata") or {}).get("labels")
    if labels is not None:
        labels.pop(HASH_LABEL, None)
        if not labels:  # Semantic.DeepEqual treats empty and nil maps alike
            del t["metadata"]["labels"]
    return t


def equal_ignore_hash(a: JSON, b: JSON) -> bool:
    return _without_hash(a) == _without_hash(b)


def compute_hash(template: JSON, collision_count: int | None) -> str:
    """controller.ComputeHash: fnv-32a of the template, then rand.SafeEncodeString of its decimal form."""
    data = json.dumps(_without_hash(template), sort_keys=True, separators=(",", ":")).encode()
    if collision_count:
        data += str(collision_count).encode()
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    return "".join(alphabet[b % len(alphabet)] for b in str(h).encode())


def _now(server: KubeApiServer) -> str:
    return server.clock.stamp()


def deployment_condition(server: KubeApiServer, type_: str, status: str, reason: str, message: str) -> JSON:
    now = _now(server)
    return {
        "type": type_,
        "status": status,
        "lastUpdateTime": now,
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    }


def get_condition(status: JSON, type_: str) -> JSON | None:
    return next((c for c in status.get("conditions") or [] if c.get("type") == type_), None)


def set_condition(status: JSON, condition: JSON) -> None:
    """deploymentutil.SetDeploymentCondition: no-op on same status+reason; keeps the transition time."""
    current = get_condition(status, condition["type"])
    if (
        current
        and current.get("status") == condition["status"]
        and current.get("reason") == condition["reason"]
    ):
        return
    if current and current.get("status") == condition["status"]:
        condition["lastTransitionTime"] = current.get("lastTransitionTime")
    others = [c for c in status.get("conditions") or [] if c.get("type") != condition["type"]]
    status["conditions"] = [*others, condition]


def remove_condition(status: JSON, type_: str) -> None:
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != type_]
    if conditions:
        status["conditions"] = conditions
    else:
        status.pop("conditions", None)


def _omit_zero(status: JSON) -> JSON:
    """DeploymentStatus counters are ``omitempty``: zero values are absent on a real server."""
    return {k: v for k, v in status.items() if v not in (0, None, [])}


# --------------------------------------------------------------------------- deployment controller


class DeploymentSync:
    """One ``syncDeployment`` call for one Deployment."""

    def __init__(self, server: KubeApiServer, d: JSON) -> None:
        self.server = server
        self.d = copy.deepcopy(d)

    # -- writes

    def write_status(self) -> None:
        self.d = copy.deepcopy(self.server.controller_write(DEP, self.d, "status"))

    def scale_rs(self, rs: JSON, new_scale: int) -> tuple[bool, JSON]:
        """scaleReplicaSetAndRecordEvent + scaleReplicaSet; returns (scaled, the stored RS)."""
        if _replicas(rs) == new_scale and not self._replica_annotations_need_update(rs):
            return False, rs
        size_changed = _replicas(rs) != new_scale
        rs_copy = copy.deepcopy(rs)
        rs_copy["spec"]["replicas"] = new_scale
        self._set_replica_annotations(rs_copy)
        stored = copy.deepcopy(self.server.controller_write(RS, rs_copy))
        return size_changed, stored

    def _replica_annotations_need_update(self, rs: JSON) -> bool:
        ann = rs["metadata"].get("annotations") or {}
        return ann.get(DESIRED_REPLICAS) != str(_replicas(self.d)) or ann.get(MAX_REPLICAS) != str(
            _replicas(self.d) + max_surge(self.d)
        )

    def _set_replica_annotations(self, rs: JSON) -> bool:
        ann = _meta(rs).setdefault("annotations", {})
        desired, maximum = str(_replicas(self.d)), str(_replicas(self.d) + max_surge(self.d))
        changed = ann.get(DESIRED_REPLICAS) != desired or ann.get(MAX_REPLICAS) != maximum
        ann[DESIRED_REPLICAS], ann[MAX_REPLICAS] = desired, maximum
        return changed

    # -- reads

    def replica_sets(self) -> list[JSON]:
        """getReplicaSetsForDeployment: owned ReplicaSets, adopting orphans that match the selector."""
        out = []
        selector = self.d["spec"].get("selector")
        for rs in self.server.list_stored(RS, self.d["metadata"]["namespace"]):
            if is_controlled_by(rs, self.d):
                out.append(copy.deepcopy(rs))
            elif (
                _controller_of(rs) is None
                and not rs["metadata"].get("deletionTimestamp")
                and label_selector_matches(selector, rs["metadata"].get("labels") or {})
            ):
                adopted = copy.deepcopy(rs)
                refs = adopted["metadata"].setdefault("ownerReferences", [])
                refs.append(controller_ref(self.d, DEP))
                out.append(copy.deepcopy(self.server.controller_write(RS, adopted)))
        return out

    def find_new(self, rs_list: list[JSON]) -> JSON | None:
        for rs in sorted(rs_list, key=_created):
            if equal_ignore_hash(rs["spec"]["template"], self.d["spec"]["template"]):
                return rs
        return None

    # -- getNewReplicaSet / getAllReplicaSetsAndSyncRevision

    def all_and_sync_revision(self, rs_list: list[JSON], create: bool) -> tuple[JSON | None, list[JSON]]:
        new = self.find_new(rs_list)
        old = [rs for rs in rs_list if new is None or rs["metadata"]["uid"] != new["metadata"]["uid"]]
        return self.get_new(rs_list, old, create), old

    def get_new(self, rs_list: list[JSON], old: list[JSON], create: bool) -> JSON | None:
        existing = self.find_new(rs_list)
        new_revision = str(max((revision_of(rs) for rs in old), default=0) + 1)
        has_deadline = self.has_progress_deadline()
        if existing is not None:
            rs_copy = copy.deepcopy(existing)
            changed = self._set_new_rs_annotations(rs_copy, new_revision, exists=True)
            min_ready = self.d["spec"].get("minReadySeconds")
            if rs_copy["spec"].get("minReadySeconds") != min_ready:
                if min_ready is None:
                    rs_copy["spec"].pop("minReadySeconds", None)
                else:
                    rs_copy["spec"]["minReadySeconds"] = min_ready
                changed = True
            if changed:
                existing = copy.deepcopy(self.server.controller_write(RS, rs_copy))
            revision = (existing["metadata"].get("annotations") or {}).get(REVISION, new_revision)
            needs_update = self._set_deployment_revision(revision)
            status = self.d.setdefault("status", {})
            if has_deadline and get_condition(status, "Progressing") is None:
                msg = f'Found new replica set "{existing["metadata"]["name"]}"'
                set_condition(
                    status,
                    deployment_condition(self.server, "Progressing", "True", "FoundNewReplicaSet", msg),
                )
                needs_update = True
            if needs_update:
                self.write_status()
            return existing
        if not create:
            return None
        template = copy.deepcopy(self.d["spec"]["template"])
        pod_hash = compute_hash(template, (self.d.get("status") or {}).get("collisionCount"))
        template.setdefault("metadata", {}).setdefault("labels", {})[HASH_LABEL] = pod_hash
        selector = copy.deepcopy(self.d["spec"]["selector"])
        selector.setdefault("matchLabels", {})[HASH_LABEL] = pod_hash
        meta = self.d["metadata"]
        new_rs: JSON = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{meta['name']}-{pod_hash}",
                "namespace": meta["namespace"],
                "labels": copy.deepcopy(template["metadata"]["labels"]),
                "ownerReferences": [controller_ref(self.d, DEP)],
            },
            "spec": {"replicas": 0, "selector": selector, "template": template},
        }
        if self.d["spec"].get("minReadySeconds") is not None:
            new_rs["spec"]["minReadySeconds"] = self.d["spec"]["minReadySeconds"]
        new_rs["spec"]["replicas"] = self.new_rs_new_replicas([*old, new_rs], new_rs)
        self._set_new_rs_annotations(new_rs, new_revision, exists=False)
        clash = self.server.stored(RS, meta["namespace"], new_rs["metadata"]["name"])
        if clash is not None:
            if is_controlled_by(clash, self.d) and equal_ignore_hash(clash["spec"]["template"], template):
                return copy.deepcopy(clash)
            # A hash collision: the real controller bumps collisionCount and retries next sync.
            self.d.setdefault("status", {})["collisionCount"] = (
                self.d["status"].get("collisionCount") or 0
            ) + 1
            self.write_status()
            return None
        created = copy.deepcopy(self.server.controller_create(RS, new_rs))
        self._set_deployment_revision(new_revision)
        if has_deadline:
            msg = f'Created new replica set "{created["metadata"]["name"]}"'
            set_condition(
                self.d.setdefault("status", {}),
                deployment_condition(self.server, "Progressing", "True", "NewReplicaSetCreated", msg),
            )
        self.write_status()
        return created

    def _set_new_rs_annotations(self, rs: JSON, new_revision: str, exists: bool) -> bool:
        ann = _meta(rs).setdefault("annotations", {})
        changed = False
        for k, v in (self.d["metadata"].get("annotations") or {}).items():
            if k in SKIP_ANNOTATIONS or ann.get(k) == v:
                continue
            ann[k] = v
            changed = True
        old_revision = ann.get(REVISION)
        try:
            old_int = int(old_revision) if old_revision else 0
        except ValueError:
            return False
        if old_int < int(new_revision):
            ann[REVISION] = new_revision
            changed = True
            if old_revision is not None:
                # A rollback reuses this ReplicaSet: remember the revisions it had before.
                history = ann.get(REVISION_HISTORY, "")
                ann[REVISION_HISTORY] = f"{history},{old_revision}" if history else old_revision
        if not exists and self._set_replica_annotations(rs):
            changed = True
        return changed

    def _set_deployment_revision(self, revision: str) -> bool:
        ann = _meta(self.d).setdefault("annotations", {})
        if ann.get(REVISION) == revision:
            return False
        ann[REVISION] = revision
        return True

    def new_rs_new_replicas(self, all_rss: list[JSON], new_rs: JSON) -> int:
        if not _is_rolling(self.d):
            return _replicas(self.d)
        current = sum(_replicas(rs) for rs in all_rss)
        max_total = _replicas(self.d) + max_surge(self.d)
        if current >= max_total:
            return _replicas(new_rs)
        scale_up = min(max_total - current, _replicas(self.d) - _replicas(new_rs))
        return _replicas(new_rs) + scale_up

    def has_progress_deadline(self) -> bool:
        deadline = self.d["spec"].get("progressDeadlineSeconds")
        return deadline is not None and deadline != MAX_INT32

    # -- syncDeployment

    def run(self) -> None:
        d = self.d
        if d["metadata"].get("deletionTimestamp"):
            return
        if not d["spec"].get("selector"):
            return
        rs_list = self.replica_sets()
        self.check_paused_conditions()
        if d["spec"].get("paused"):
            self.sync(rs_list)
            return
        if self.is_scaling_event(rs_list):
            self.sync(self._refresh(rs_list))
            return
        rs_list = self._refresh(rs_list)  # is_scaling_event may have synced revision annotations
        if (d["spec"].get("strategy") or {}).get("type") == "Recreate":
            self.rollout_recreate(rs_list)
        else:
            self.rollout_rolling(rs_list)

    def check_paused_conditions(self) -> None:
        if not self.has_progress_deadline():
            return
        status = self.d.setdefault("status", {})
        cond = get_condition(status, "Progressing")
        if cond and cond.get("reason") == "ProgressDeadlineExceeded":
            return
        paused_cond = cond is not None and cond.get("reason") == "DeploymentPaused"
        paused = bool(self.d["spec"].get("paused"))
        if paused and not paused_cond:
            set_condition(
                status,
                deployment_condition(
                    self.server, "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused"
                ),
            )
        elif not paused and paused_cond:
            set_condition(
                status,
                deployment_condition(
                    self.server, "Progressing", "Unknown", "DeploymentResumed", "Deployment is resumed"
                ),
            )
        else:
            return
        self.write_status()

    def is_scaling_event(self, rs_list: list[JSON]) -> bool:
        new, old = self.all_and_sync_revision(rs_list, create=False)
        for rs in [r for r in [*old, new] if r is not None and _replicas(r) > 0]:
            desired = (rs["metadata"].get("annotations") or {}).get(DESIRED_REPLICAS)
            if desired is not None and desired != str(_replicas(self.d)):
                return True
        return False

    def sync(self, rs_list: list[JSON]) -> None:
        new, old = self.all_and_sync_revision(rs_list, create=False)
        self.scale(new, old)
        if self.d["spec"].get("paused"):
            self.cleanup(self._refresh(old))
        all_rss = self._refresh([*old, *([new] if new else [])])
        new = self._refresh([new])[0] if new else None
        self.d["status"] = self.calculate_status(all_rss, new)
        self.write_status()

    def _refresh(self, rss: list[JSON]) -> list[JSON]:
        out = []
        for rs in rss:
            stored = self.server.stored(RS, rs["metadata"]["namespace"], rs["metadata"]["name"])
            if stored is not None:
                out.append(copy.deepcopy(stored))
        return out

    def scale(self, new: JSON | None, old: list[JSON]) -> None:
        """The scaling part of ``sync``: whole-count scaling of the only active set, else proportional-ish."""
        desired = _replicas(self.d)
        candidates = [rs for rs in [*old, *([new] if new else [])] if _replicas(rs) > 0]
        active_or_latest: JSON | None = None
        if len(candidates) == 1:
            active_or_latest = candidates[0]
        elif not candidates:
            active_or_latest = new or (sorted(old, key=_created)[-1] if old else None)
        if active_or_latest is not None:
            if _replicas(active_or_latest) != desired:
                self.scale_rs(active_or_latest, desired)
            return
        if new is not None and self._is_saturated(new):
            for rs in old:
                if _replicas(rs) > 0:
                    self.scale_rs(rs, 0)
            return
        if _is_rolling(self.d):
            # Proportional scaling: spread the difference over the active sets by size, largest first.
            all_rss = sorted(candidates, key=lambda rs: (-_replicas(rs), _created(rs)))
            allowed = desired + max_surge(self.d)
            current = sum(_replicas(rs) for rs in all_rss)
            delta = allowed - current
            for rs in all_rss:
                if delta == 0:
                    break
                share = max(-_replicas(rs), delta) if delta < 0 else delta
                self.scale_rs(rs, _replicas(rs) + share)
                delta -= share

    def _is_saturated(self, rs: JSON) -> bool:
        desired = (rs["metadata"].get("annotations") or {}).get(DESIRED_REPLICAS)
        return (
            desired == str(_replicas(self.d))
            and _replicas(rs) == _replicas(self.d)
            and _status_int(rs, "availableReplicas") == _replicas(self.d)
        )

    # -- rolling update (rolling.go)

    def rollout_rolling(self, rs_list: list[JSON]) -> None:
        new, old = self.all_and_sync_revision(rs_list, create=True)
        if new is None:
            return  # hash collision recorded; the next step retries
        all_rss = [*old, new]
        scaled, new = self.reconcile_new(all_rss, new)
        if scaled:
            self.sync_rollout_status(self._refresh([*old, new]), new)
            return
        scaled = self.reconcile_old([*old, new], [rs for rs in old if _replicas(rs) > 0], new)
        if scaled:
            self.sync_rollout_status(self._refresh([*old, new]), new)
            return
        if self.deployment_complete(self.d.get("status") or {}):
            self.cleanup(old)
        self.sync_rollout_status(self._refresh([*old, new]), new)

    def reconcile_new(self, all_rss: list[JSON], new: JSON) -> tuple[bool, JSON]:
        desired = _replicas(self.d)
        if _replicas(new) == desired:
            return False, new
        if _replicas(new) > desired:
            return self.scale_rs(new, desired)
        return self.scale_rs(new, self.new_rs_new_replicas(all_rss, new))

    def reconcile_old(self, all_rss: list[JSON], old_active: list[JSON], new: JSON) -> bool:
        old_count = sum(_replicas(rs) for rs in old_active)
        if old_count == 0:
            return False
        all_count = sum(_replicas(rs) for rs in all_rss)
        min_available = _replicas(self.d) - max_unavailable(self.d)
        new_unavailable = _replicas(new) - _status_int(new, "availableReplicas")
        max_scaled_down = all_count - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        old_active, cleaned = self.cleanup_unhealthy(old_active, max_scaled_down)
        scaled_down = self.scale_down_old_for_rolling([*old_active, new], old_active)
        return cleaned + scaled_down > 0

    def cleanup_unhealthy(self, old: list[JSON], max_cleanup: int) -> tuple[list[JSON], int]:
        old = sorted(old, key=_created)
        total = 0
        for i, rs in enumerate(old):
            if total >= max_cleanup:
                break
            if _replicas(rs) == 0 or _replicas(rs) == _status_int(rs, "availableReplicas"):
                continue
            count = min(max_cleanup - total, _replicas(rs) - _status_int(rs, "availableReplicas"))
            _, old[i] = self.scale_rs(rs, _replicas(rs) - count)
            total += count
        return old, total

    def scale_down_old_for_rolling(self, all_rss: list[JSON], old: list[JSON]) -> int:
        min_available = _replicas(self.d) - max_unavailable(self.d)
        available = sum(_status_int(rs, "availableReplicas") for rs in all_rss)
        if available <= min_available:
            return 0
        total, target = 0, available - min_available
        for rs in sorted(old, key=_created):
            if total >= target:
                break
            if _replicas(rs) == 0:
                continue
            count = min(_replicas(rs), target - total)
            self.scale_rs(rs, _replicas(rs) - count)
            total += count
        return total

    # -- recreate (recreate.go)

    def rollout_recreate(self, rs_list: list[JSON]) -> None:
        new, old = self.all_and_sync_revision(rs_list, create=False)
        scaled = False
        for rs in old:
            if _replicas(rs) > 0:
                self.scale_rs(rs, 0)
                scaled = True
        if scaled:
            self.sync_rollout_status(self._refresh([*old, *([new] if new else [])]), new)
            return
        old = self._refresh(old)
        old_uids = {rs["metadata"]["uid"] for rs in old}
        running = any(
            (_controller_of(p) or {}).get("uid") in old_uids
            for p in self.server.list_stored(POD, self.d["metadata"]["namespace"])
        )
        if running:
            self.sync_rollout_status(self._refresh([*old, *([new] if new else [])]), new)
            return
        if new is None:
            new, old = self.all_and_sync_revision(self._refresh(rs_list), create=True)
            if new is None:
                return
        if _replicas(new) != _replicas(self.d):
            _, new = self.scale_rs(new, _replicas(self.d))
        if self.deployment_complete(self.d.get("status") or {}):
            self.cleanup(old)
        self.sync_rollout_status(self._refresh([*old, new]), new)

    # -- cleanup and status (sync.go, progress.go)

    def cleanup(self, old: list[JSON]) -> None:
        limit = self.d["spec"].get("revisionHistoryLimit")
        if limit is None:
            return
        alive = [rs for rs in old if not rs["metadata"].get("deletionTimestamp")]
        diff = len(alive) - int(limit)
        if diff <= 0:
            return
        for rs in sorted(alive, key=lambda r: (revision_of(r), _created(r)))[:diff]:
            if (
                _status_int(rs, "replicas") != 0
                or _replicas(rs) != 0
                or rs["metadata"].get("generation", 0) > _status_int(rs, "observedGeneration")
            ):
                continue
            self.server.delete(RS, rs["metadata"]["namespace"], rs["metadata"]["name"], {})

    def calculate_status(self, all_rss: list[JSON], new: JSON | None) -> JSON:
        available = sum(_status_int(rs, "availableReplicas") for rs in all_rss)
        total = sum(_replicas(rs) for rs in all_rss)
        previous = self.d.get("status") or {}
        status: JSON = _omit_zero(
            {
                "observedGeneration": self.d["metadata"].get("generation", 0),
                "replicas": sum(_status_int(rs, "replicas") for rs in all_rss),
                "updatedReplicas": _status_int(new, "replicas") if new else 0,
                "readyReplicas": sum(_status_int(rs, "readyReplicas") for rs in all_rss),
                "availableReplicas": available,
                "unavailableReplicas": max(0, total - available),
            }
        )
        if previous.get("conditions"):
            status["conditions"] = copy.deepcopy(previous["conditions"])
        if previous.get("collisionCount") is not None:
            status["collisionCount"] = previous["collisionCount"]
        if available >= _replicas(self.d) - max_unavailable(self.d):
            cond = deployment_condition(
                self.server,
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
            )
        else:
            cond = deployment_condition(
                self.server,
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        set_condition(status, cond)
        return status

    def deployment_complete(self, status: JSON) -> bool:
        desired = _replicas(self.d)
        return (
            int(status.get("updatedReplicas") or 0) == desired
            and int(status.get("replicas") or 0) == desired
            and int(status.get("availableReplicas") or 0) == desired
            and int(status.get("observedGeneration") or 0) >= self.d["metadata"].get("generation", 0)
        )

    def deployment_progressing(self, new_status: JSON) -> bool:
        old = self.d.get("status") or {}

        def get(s: JSON, k: str) -> int:
            return int(s.get(k) or 0)

        old_old = get(old, "replicas") - get(old, "updatedReplicas")
        new_old = get(new_status, "replicas") - get(new_status, "updatedReplicas")
        return (
            get(new_status, "updatedReplicas") > get(old, "updatedReplicas")
            or new_old < old_old
            or get(new_status, "readyReplicas") > get(old, "readyReplicas")
            or get(new_status, "availableReplicas") > get(old, "availableReplicas")
        )

    def deployment_timed_out(self, new_status: JSON) -> bool:
        if not self.has_progress_deadline():
            return False
        cond = get_condition(new_status, "Progressing")
        if cond is None or cond.get("reason") == "NewReplicaSetAvailable":
            return False
        if cond.get("reason") == "ProgressDeadlineExceeded":
            return True
        since = parse_time(cond["lastUpdateTime"])
        deadline = since.timestamp() + int(self.d["spec"]["progressDeadlineSeconds"])
        return deadline < self.server.clock.now().timestamp()

    def sync_rollout_status(self, all_rss: list[JSON], new: JSON | None) -> None:
        new_status = self.calculate_status(all_rss, new)
        if not self.has_progress_deadline():
            remove_condition(new_status, "Progressing")
        current = get_condition(new_status, "Progressing")
        complete = (
            int(new_status.get("replicas") or 0) == int(new_status.get("updatedReplicas") or 0)
            and current is not None
            and current.get("reason") == "NewReplicaSetAvailable"
        )
        rs_name = new["metadata"]["name"] if new else None
        name = self.d["metadata"]["name"]
        if self.has_progress_deadline() and not complete:
            if self.deployment_complete(new_status):
                msg = (
                    f'ReplicaSet "{rs_name}" has successfully progressed.'
                    if rs_name
                    else f'Deployment "{name}" has successfully progressed.'
                )
                set_condition(
                    new_status,
                    deployment_condition(self.server, "Progressing", "True", "NewReplicaSetAvailable", msg),
                )
            elif self.deployment_progressing(new_status):
                msg = (
                    f'ReplicaSet "{rs_name}" is progressing.'
                    if rs_name
                    else f'Deployment "{name}" is progressing.'
                )
                cond = deployment_condition(self.server, "Progressing", "True", "ReplicaSetUpdated", msg)
                if current is not None:
                    if current.get("status") == "True":
                        cond["lastTransitionTime"] = current.get("lastTransitionTime")
                    remove_condition(new_status, "Progressing")
                set_condition(new_status, cond)
            elif self.deployment_timed_out(new_status):
                msg = (
                    f'ReplicaSet "{rs_name}" has timed out progressing.'
                    if rs_name
                    else f'Deployment "{name}" has timed out progressing.'
                )
                set_condition(
                    new_status,
                    deployment_condition(
                        self.server, "Progressing", "False", "ProgressDeadlineExceeded", msg
                    ),
                )
        # getReplicaFailures: a ReplicaSet's ReplicaFailure becomes the Deployment's (the new one's first).
        failures = [
            cond
            for rs in ([new] if new else []) + [r for r in all_rss if r is not new]
            if (cond := get_condition(rs.get("status") or {}, "ReplicaFailure")) is not None
        ]
        if failures:
            failure = dict(failures[0], lastUpdateTime=failures[0]["lastTransitionTime"])
            set_condition(new_status, failure)
        else:
            remove_condition(new_status, "ReplicaFailure")
        if new_status == self.d.get("status"):
            return
        self.d["status"] = new_status
        self.write_status()


# --------------------------------------------------------------------------- replica sets and pods


def _pods_of(server: KubeApiServer, rs: JSON) -> list[JSON]:
    return [
        p
        for p in server.list_stored(POD, rs["metadata"]["namespace"])
        if is_controlled_by(p, rs) and not p["metadata"].get("deletionTimestamp")
    ]


def _pod_ready(pod: JSON) -> bool:
    cond = get_condition(pod.get("status") or {}, "Ready")
    return bool(cond and cond.get("status") == "True")


def _pod_available(server: KubeApiServer, pod: JSON, min_ready: int) -> bool:
    cond = get_condition(pod.get("status") or {}, "Ready")
    if not cond or cond.get("status") != "True":
        return False
    if min_ready <= 0:
        return True
    since = parse_time(cond["lastTransitionTime"])
    return since.timestamp() + min_ready <= server.clock.now().timestamp()


def _manage_pods(server: KubeApiServer, rs: JSON) -> None:
    """The ReplicaSet controller's manageReplicas: create or delete pods to match spec.replicas."""
    if rs["metadata"].get("deletionTimestamp"):
        return
    pods = _pods_of(server, rs)
    diff = len(pods) - _replicas(rs)
    template = rs["spec"].get("template") or {}
    for _ in range(-diff):
        tmeta = template.get("metadata") or {}
        pod: JSON = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "generateName": rs["metadata"]["name"] + "-",
                "namespace": rs["metadata"]["namespace"],
                "labels": copy.deepcopy(tmeta.get("labels") or {}),
                "ownerReferences": [controller_ref(rs, RS)],
            },
            "spec": copy.deepcopy(template.get("spec") or {}),
        }
        if tmeta.get("annotations"):
            pod["metadata"]["annotations"] = copy.deepcopy(tmeta["annotations"])
        from tests.kubernetes.apiserver import ApiError  # (apiserver imports this module)

        try:
            server.controller_create(POD, pod)
        except ApiError as refused:  # admission (Pod Security): the same for every pod of this template
            server.replica_failures[rs["metadata"]["uid"]] = refused.message
            return
        server.replica_failures.pop(rs["metadata"]["uid"], None)
    if diff > 0:
        # getPodsToDelete: unready pods go first, then the newest.
        ranked = sorted(
            pods,
            key=lambda p: (p["metadata"].get("creationTimestamp", ""), int(p["metadata"]["resourceVersion"])),
            reverse=True,
        )
        ranked.sort(key=_pod_ready)  # stable: unready first, newest first within each group
        for pod in ranked[:diff]:
            server.delete(POD, pod["metadata"]["namespace"], pod["metadata"]["name"], {})


def _container_status(server: KubeApiServer, c: JSON, ready: bool, started_at: str) -> JSON:
    image = c.get("image", "")
    digest = hashlib.sha256(image.encode()).hexdigest()
    cid = hashlib.sha256((image + started_at + c.get("name", "")).encode()).hexdigest()
    return {
        "name": c.get("name", ""),
        "state": {"running": {"startedAt": started_at}},
        "lastState": {},
        "ready": ready,
        "restartCount": 0,
        "image": image,
        "imageID": f"{image.split(':')[0]}@sha256:{digest}",
        "containerID": f"containerd://{cid}",
        "started": True,
    }


def _pod_condition(
    type_: str, status: str, at: str, reason: str | None = None, message: str | None = None
) -> JSON:
    cond: JSON = {"type": type_, "status": status, "lastTransitionTime": at}
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


def _kubelet(server: KubeApiServer) -> None:
    """Scheduler + kubelet: bind pending pods, start them, and make up to N per owner Ready per step."""
    budget: dict[str, int] = {}
    now = _now(server)
    for pod in list(server.list_stored(POD)):
        if pod["metadata"].get("deletionTimestamp"):
            continue
        p = copy.deepcopy(pod)
        spec, status = p["spec"], p.setdefault("status", {})
        if not spec.get("nodeName"):
            spec["nodeName"] = NODE_NAME  # the scheduler's binding
            bound = server.update(
                POD, p["metadata"]["namespace"], p["metadata"]["name"], p, "kube-scheduler", "binding"
            )
            p = copy.deepcopy(bound)
            spec, status = p["spec"], p.setdefault("status", {})
        containers = spec.get("containers") or []
        exiting = [c for c in containers if kubelet.exit_code(server, c.get("image", "")) is not None]
        previous = {c.get("name"): c for c in status.get("containerStatuses") or []}
        exits = {
            c.get("name"): kubelet.exiting_status(server, c, previous.get(c.get("name")), server.clock.now())
            for c in exiting
        }
        # A process that exited (or waits for its restart) makes its pod unready at once.
        running = all(kubelet.is_running(s) for s in exits.values())
        healthy = running and all(kubelet.passes_readiness(server, c) for c in containers)
        owner = (_controller_of(p) or {}).get("uid") or p["metadata"]["uid"]
        already_ready = _pod_ready(p)
        becomes_ready = already_ready and running
        if not becomes_ready and healthy and budget.get(owner, server.pods_ready_per_step) > 0:
            budget[owner] = budget.get(owner, server.pods_ready_per_step) - 1
            becomes_ready = True
        started = status.get("startTime") or now
        statuses = [
            {**exits[c.get("name")], "ready": becomes_ready and kubelet.is_running(exits[c.get("name")])}
            if c in exiting
            else _container_status(server, c, becomes_ready, started)
            for c in containers
        ]
        unchanged = not exiting or statuses == status.get("containerStatuses")
        if status.get("phase") == "Running" and already_ready == becomes_ready and unchanged:
            continue
        ready_cond = get_condition(status, "Ready")
        ready_since = (
            ready_cond["lastTransitionTime"]
            if ready_cond and (ready_cond.get("status") == "True") == becomes_ready
            else now
        )
        unready = ", ".join(c.get("name", "") for c in containers)
        flag = "True" if becomes_ready else "False"
        reason = None if becomes_ready else "ContainersNotReady"
        message = None if becomes_ready else f"containers with unready status: [{unready}]"
        new_status: JSON = {
            "phase": "Running",
            "conditions": [
                _pod_condition("PodReadyToStartContainers", "True", started),
                _pod_condition("Initialized", "True", started),
                _pod_condition("Ready", flag, ready_since, reason, message),
                _pod_condition("ContainersReady", flag, ready_since, reason, message),
                _pod_condition("PodScheduled", "True", started),
            ],
            "hostIP": NODE_IP,
            "hostIPs": [{"ip": NODE_IP}],
            "podIP": status.get("podIP") or server.next_ip("10.244"),
            "startTime": started,
            "containerStatuses": statuses,
            "qosClass": status.get("qosClass", "BestEffort"),
        }
        new_status["podIPs"] = [{"ip": new_status["podIP"]}]
        if "observedGeneration" in status or p["metadata"].get("generation"):
            new_status["observedGeneration"] = p["metadata"].get("generation", 1)
        p["status"] = new_status
        server.controller_write(POD, p, "status")


def _replicaset_status(server: KubeApiServer, rs: JSON) -> None:
    if server.stored(RS, rs["metadata"]["namespace"], rs["metadata"]["name"]) is not rs:
        return
    pods = _pods_of(server, rs)
    labels = ((rs["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
    min_ready = int(rs["spec"].get("minReadySeconds") or 0)
    status: JSON = {"replicas": len(pods)}
    status.update(
        _omit_zero(
            {
                "fullyLabeledReplicas": sum(
                    1
                    for p in pods
                    if all((p["metadata"].get("labels") or {}).get(k) == v for k, v in labels.items())
                ),
                "readyReplicas": sum(1 for p in pods if _pod_ready(p)),
                "availableReplicas": sum(1 for p in pods if _pod_available(server, p, min_ready)),
                "observedGeneration": rs["metadata"].get("generation", 0),
            }
        )
    )
    failure = server.replica_failures.get(rs["metadata"]["uid"])
    if failure is not None:  # the ReplicaSet controller's FailedCreate condition
        previous = get_condition(rs.get("status") or {}, "ReplicaFailure")
        since = previous["lastTransitionTime"] if previous else _now(server)
        status["conditions"] = [
            {
                "type": "ReplicaFailure",
                "status": "True",
                "lastTransitionTime": since,
                "reason": "FailedCreate",
                "message": failure,
            }
        ]
    if status != rs.get("status"):
        new = copy.deepcopy(rs)
        new["status"] = status
        server.controller_write(RS, new, "status")


# --------------------------------------------------------------------------- garbage collector, namespaces


def _garbage_collect(server: KubeApiServer) -> None:
    """Propagate deletions through ownerReferences until nothing changes (bounded)."""
    for _ in range(20):
        changed = False
        objects = list(server.iter_all())
        uids = {obj["metadata"]["uid"] for _, obj in objects}
        dependents: dict[str, list[tuple[ResourceType, JSON]]] = {}
        for rt, obj in objects:
            for ref in obj["metadata"].get("ownerReferences") or []:
                dependents.setdefault(ref.get("uid", ""), []).append((rt, obj))
        for rt, obj in objects:
            meta = obj["metadata"]
            if server.stored(rt, meta.get("namespace", ""), meta["name"]) is not obj:
                continue  # changed earlier in this pass
            refs = meta.get("ownerReferences") or []
            if refs and not meta.get("deletionTimestamp") and all(r.get("uid") not in uids for r in refs):
                server.delete(
                    rt, meta.get("namespace", ""), meta["name"], {"propagationPolicy": "Background"}
                )
                changed = True
                continue
            if not meta.get("deletionTimestamp"):
                continue
            finalizers = list(meta.get("finalizers") or [])
            deps = [
                (drt, dep)
                for drt, dep in dependents.get(meta["uid"], [])
                if server.stored(drt, dep["metadata"].get("namespace", ""), dep["metadata"]["name"]) is dep
            ]
            if "orphan" in finalizers:
                for drt, dep in deps:
                    new_dep = copy.deepcopy(dep)
                    new_dep["metadata"]["ownerReferences"] = [
                        r for r in dep["metadata"].get("ownerReferences") or [] if r.get("uid") != meta["uid"]
                    ]
                    if not new_dep["metadata"]["ownerReferences"]:
                        del new_dep["metadata"]["ownerReferences"]
                    server.update(
                        drt,
                        dep["metadata"].get("namespace", ""),
                        dep["metadata"]["name"],
                        new_dep,
                        "garbage-collector",
                    )
                _remove_finalizer(server, rt, obj, "orphan")
                changed = True
            elif "foregroundDeletion" in finalizers:
                pending = [(drt, dep) for drt, dep in deps if not dep["metadata"].get("deletionTimestamp")]
                for drt, dep in pending:
                    server.delete(
                        drt,
                        dep["metadata"].get("namespace", ""),
                        dep["metadata"]["name"],
                        {"propagationPolicy": "Foreground"},
                    )
                if not deps:
                    _remove_finalizer(server, rt, obj, "foregroundDeletion")
                changed = changed or bool(pending) or not deps
        if not changed:
            return


def _remove_finalizer(server: KubeApiServer, rt: ResourceType, obj: JSON, finalizer: str) -> None:
    new = copy.deepcopy(obj)
    remaining = [f for f in new["metadata"].get("finalizers") or [] if f != finalizer]
    if remaining:
        new["metadata"]["finalizers"] = remaining
    else:
        new["metadata"].pop("finalizers", None)
    server.update(rt, obj["metadata"].get("namespace", ""), obj["metadata"]["name"], new, "garbage-collector")


def _finalize_namespaces(server: KubeApiServer) -> None:
    for ns in list(server.list_stored(NS)):
        if not ns["metadata"].get("deletionTimestamp"):
            continue
        name = ns["metadata"]["name"]
        remaining = [
            (rt, obj)
            for rt, obj in server.iter_all()
            if rt.namespaced and obj["metadata"].get("namespace") == name
        ]
        for rt, obj in remaining:
            if not obj["metadata"].get("deletionTimestamp"):
                server.delete(rt, name, obj["metadata"]["name"], {"propagationPolicy": "Background"})
        if not any(
            obj["metadata"].get("namespace") == name for rt, obj in server.iter_all() if rt.namespaced
        ):
            server.delete_now(NS, ns)


# --------------------------------------------------------------------------- HPA, PDB, load balancers


def _hpa_condition(status: JSON, type_: str, flag: str, reason: str, message: str, now: str) -> None:
    conditions = status.setdefault("conditions", [])
    current = next((c for c in conditions if c["type"] == type_), None)
    cond = {"type": type_, "status": flag, "lastTransitionTime": now, "reason": reason, "message": message}
    if current is not None:
        if current["status"] == flag:
            cond["lastTransitionTime"] = current["lastTransitionTime"]
        conditions[conditions.index(current)] = cond
    else:
        conditions.append(cond)


def _sync_hpa(server: KubeApiServer, hpa: JSON) -> None:
    new = copy.deepcopy(hpa)
    spec, status = new["spec"], new.setdefault("status", {})
    ns, name, now = new["metadata"]["namespace"], new["metadata"]["name"], _now(server)
    ref = spec.get("scaleTargetRef") or {}
    target_rt = {"Deployment": DEP, "ReplicaSet": RS}.get(ref.get("kind", ""))
    target = server.stored(target_rt, ns, ref.get("name", "")) if target_rt else None
    if target is None or target_rt is None:
        _hpa_condition(
            status,
            "AbleToScale",
            "False",
            "FailedGetScale",
            f"the HPA controller was unable to get the target's current scale: "
            f'{target_rt.qualified if target_rt else ref.get("kind", "")} "{ref.get("name", "")}" '
            "not found",
            now,
        )
    else:
        current = _replicas(target)
        min_r, max_r = int(spec.get("minReplicas", 1)), int(spec.get("maxReplicas", 1))
        recommendation = server.hpa_recommendations.get((ns, name))
        limited: tuple[str, str, str] = (
            "False",
            "DesiredWithinRange",
            "the desired count is within the acceptable range",
        )
        if current == 0 and min_r != 0:
            desired = 0
            _hpa_condition(
                status,
                "ScalingActive",
                "False",
                "ScalingDisabled",
                "scaling is disabled since the replica count of the target is zero",
                now,
            )
        else:
            wanted = current if recommendation is None else recommendation
            desired = min(max(wanted, min_r), max_r)
            if wanted < min_r:
                limited = (
                    "True",
                    "TooFewReplicas",
                    "the desired replica count is less than the minimum replica count",
                )
            elif wanted > max_r:
                limited = (
                    "True",
                    "TooManyReplicas",
                    "the desired replica count is more than the maximum replica count",
                )
            if recommendation is None:
                _hpa_condition(
                    status,
                    "ScalingActive",
                    "False",
                    "FailedGetResourceMetric",
                    "the HPA was unable to compute the replica count: failed to get cpu utilization: "
                    "unable to get "
                    "metrics for resource cpu: no metrics returned from resource metrics API",
                    now,
                )
            else:
                _hpa_condition(
                    status,
                    "ScalingActive",
                    "True",
                    "ValidMetricFound",
                    "the HPA was able to successfully calculate a replica count from cpu resource "
                    "utilization "
                    "(percentage of request)",
                    now,
                )
        _hpa_condition(status, "ScalingLimited", *limited, now)
        if desired != current:
            scaled = copy.deepcopy(target)
            scaled["spec"]["replicas"] = desired
            meta = scaled["metadata"]
            server.update(target_rt, ns, meta["name"], scaled, "kube-controller-manager", "scale")
            status["lastScaleTime"] = now
            _hpa_condition(
                status,
                "AbleToScale",
                "True",
                "SucceededRescale",
                f"the HPA controller was able to update the target scale to {desired}",
                now,
            )
        else:
            _hpa_condition(
                status,
                "AbleToScale",
                "True",
                "ReadyForNewScale",
                "recommended size matches current size",
                now,
            )
        order = {"AbleToScale": 0, "ScalingActive": 1, "ScalingLimited": 2}
        status["conditions"].sort(key=lambda c: order.get(c["type"], 3))
        if _status_int(target, "replicas"):
            status["currentReplicas"] = _status_int(target, "replicas")
        else:
            status.pop("currentReplicas", None)
        status["desiredReplicas"] = desired
    status["observedGeneration"] = new["metadata"].get("generation", 1)
    if new != hpa:
        server.controller_write(HPA, new, "status")


def _sync_pdb(server: KubeApiServer, pdb: JSON) -> None:
    new = copy.deepcopy(pdb)
    spec = new.get("spec") or {}
    pods = [
        p
        for p in server.list_stored(POD, new["metadata"]["namespace"])
        if not p["metadata"].get("deletionTimestamp")
        and label_selector_matches(spec.get("selector") or {}, p["metadata"].get("labels") or {})
    ]
    expected = len(pods)
    healthy = sum(1 for p in pods if _pod_ready(p))
    if "minAvailable" in spec:
        desired = scaled_value(spec["minAvailable"], expected, True)
    elif "maxUnavailable" in spec:
        desired = max(0, expected - scaled_value(spec["maxUnavailable"], expected, True))
    else:
        desired = expected
    allowed = max(0, healthy - desired)
    now = _now(server)
    old_cond = next((c for c in (pdb.get("status") or {}).get("conditions") or []), None)
    flag = "True" if allowed > 0 else "False"
    cond = {
        "type": "DisruptionAllowed",
        "status": flag,
        "observedGeneration": new["metadata"].get("generation", 1),
        "lastTransitionTime": old_cond["lastTransitionTime"]
        if old_cond and old_cond["status"] == flag
        else now,
        "reason": "SufficientPods" if allowed > 0 else "InsufficientPods",
        "message": "",
    }
    new["status"] = {
        "observedGeneration": new["metadata"].get("generation", 1),
        "disruptionsAllowed": allowed,
        "currentHealthy": healthy,
        "desiredHealthy": desired,
        "expectedPods": expected,
        "conditions": [cond],
    }
    if new != pdb:
        server.controller_write(PDB, new, "status")


def _load_balancers(server: KubeApiServer) -> None:
    hostname = server.load_balancer_hostname
    if not hostname:
        return
    for rt in (SVC, ING):
        for obj in list(server.list_stored(rt)):
            if rt is SVC and (obj.get("spec") or {}).get("type") != "LoadBalancer":
                continue
            lb = (obj.get("status") or {}).get("loadBalancer") or {}
            if lb.get("ingress"):
                continue
            new = copy.deepcopy(obj)
            new.setdefault("status", {})["loadBalancer"] = {"ingress": [{"hostname": hostname}]}
            server.controller_write(rt, new, "status")


# --------------------------------------------------------------------------- allocation (registry side)


def allocate(server: KubeApiServer, rt: ResourceType, obj: JSON, old: JSON | None) -> None:
    """What the Service registry allocates on write: cluster IPs and node ports, kept across updates."""
    if rt is not SVC:
        return
    spec = obj.setdefault("spec", {})
    old_spec = (old or {}).get("spec") or {}
    if spec.get("type") == "ExternalName":
        return
    if not spec.get("clusterIP"):
        spec["clusterIP"] = old_spec.get("clusterIP") or server.next_ip("10.96")
    spec.setdefault("clusterIPs", old_spec.get("clusterIPs") or [spec["clusterIP"]])
    if spec["clusterIP"] != "None":
        spec.setdefault("ipFamilies", ["IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
    if spec.get("type") in ("NodePort", "LoadBalancer"):
        old_ports = {(p.get("port"), p.get("protocol")): p for p in old_spec.get("ports") or []}
        for port in spec.get("ports") or []:
            if port.get("nodePort"):
                continue
            previous = old_ports.get((port.get("port"), port.get("protocol")))
            if previous and previous.get("nodePort"):
                port["nodePort"] = previous["nodePort"]
            else:
                server._node_port += 1
                port["nodePort"] = server._node_port
