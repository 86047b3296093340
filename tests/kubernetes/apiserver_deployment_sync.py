"""The test API server's deployment controller: one ``syncDeployment`` of kube-controller-manager
(pkg/controller/deployment: sync.go, rolling.go, recreate.go, progress.go) for one Deployment, because
clients read its exact output (see ``apiserver_controllers``). Runs with the server lock held.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from tests.kubernetes.apiserver_resources import (
    label_selector_matches,
    parse_time,
)

if TYPE_CHECKING:
    from tests.kubernetes.apiserver import KubeApiServer
from tests.kubernetes.apiserver_deployment_util import (
    DEP,
    DESIRED_REPLICAS,
    HASH_LABEL,
    JSON,
    MAX_INT32,
    MAX_REPLICAS,
    POD,
    REVISION,
    REVISION_HISTORY,
    RS,
    SKIP_ANNOTATIONS,
    compute_hash,
    controller_of,
    controller_ref,
    created_key,
    deployment_condition,
    equal_ignore_hash,
    get_condition,
    is_controlled_by,
    is_rolling,
    max_surge,
    max_unavailable,
    meta_of,
    omit_zero,
    remove_condition,
    replicas_of,
    revision_of,
    set_condition,
    status_int,
)


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
        if replicas_of(rs) == new_scale and not self._replica_annotations_need_update(rs):
            return False, rs
        size_changed = replicas_of(rs) != new_scale
        rs_copy = copy.deepcopy(rs)
        rs_copy["spec"]["replicas"] = new_scale
        self._set_replica_annotations(rs_copy)
        stored = copy.deepcopy(self.server.controller_write(RS, rs_copy))
        return size_changed, stored

    def _replica_annotations_need_update(self, rs: JSON) -> bool:
        ann = rs["metadata"].get("annotations") or {}
        return ann.get(DESIRED_REPLICAS) != str(replicas_of(self.d)) or ann.get(MAX_REPLICAS) != str(
            replicas_of(self.d) + max_surge(self.d)
        )

    def _set_replica_annotations(self, rs: JSON) -> bool:
        ann = meta_of(rs).setdefault("annotations", {})
        desired, maximum = str(replicas_of(self.d)), str(replicas_of(self.d) + max_surge(self.d))
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
                controller_of(rs) is None
                and not rs["metadata"].get("deletionTimestamp")
                and label_selector_matches(selector, rs["metadata"].get("labels") or {})
            ):
                adopted = copy.deepcopy(rs)
                refs = adopted["metadata"].setdefault("ownerReferences", [])
                refs.append(controller_ref(self.d, DEP))
                out.append(copy.deepcopy(self.server.controller_write(RS, adopted)))
        return out

    def find_new(self, rs_list: list[JSON]) -> JSON | None:
        for rs in sorted(rs_list, key=created_key):
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
        ann = meta_of(rs).setdefault("annotations", {})
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
        ann = meta_of(self.d).setdefault("annotations", {})
        if ann.get(REVISION) == revision:
            return False
        ann[REVISION] = revision
        return True

    def new_rs_new_replicas(self, all_rss: list[JSON], new_rs: JSON) -> int:
        if not is_rolling(self.d):
            return replicas_of(self.d)
        current = sum(replicas_of(rs) for rs in all_rss)
        max_total = replicas_of(self.d) + max_surge(self.d)
        if current >= max_total:
            return replicas_of(new_rs)
        scale_up = min(max_total - current, replicas_of(self.d) - replicas_of(new_rs))
        return replicas_of(new_rs) + scale_up

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
        for rs in [r for r in [*old, new] if r is not None and replicas_of(r) > 0]:
            desired = (rs["metadata"].get("annotations") or {}).get(DESIRED_REPLICAS)
            if desired is not None and desired != str(replicas_of(self.d)):
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
        desired = replicas_of(self.d)
        candidates = [rs for rs in [*old, *([new] if new else [])] if replicas_of(rs) > 0]
        active_or_latest: JSON | None = None
        if len(candidates) == 1:
            active_or_latest = candidates[0]
        elif not candidates:
            active_or_latest = new or (sorted(old, key=created_key)[-1] if old else None)
        if active_or_latest is not None:
            if replicas_of(active_or_latest) != desired:
                self.scale_rs(active_or_latest, desired)
            return
        if new is not None and self._is_saturated(new):
            for rs in old:
                if replicas_of(rs) > 0:
                    self.scale_rs(rs, 0)
            return
        if is_rolling(self.d):
            # Proportional scaling: spread the difference over the active sets by size, largest first.
            all_rss = sorted(candidates, key=lambda rs: (-replicas_of(rs), created_key(rs)))
            allowed = desired + max_surge(self.d)
            current = sum(replicas_of(rs) for rs in all_rss)
            delta = allowed - current
            for rs in all_rss:
                if delta == 0:
                    break
                share = max(-replicas_of(rs), delta) if delta < 0 else delta
                self.scale_rs(rs, replicas_of(rs) + share)
                delta -= share

    def _is_saturated(self, rs: JSON) -> bool:
        desired = (rs["metadata"].get("annotations") or {}).get(DESIRED_REPLICAS)
        return (
            desired == str(replicas_of(self.d))
            and replicas_of(rs) == replicas_of(self.d)
            and status_int(rs, "availableReplicas") == replicas_of(self.d)
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
        scaled = self.reconcile_old([*old, new], [rs for rs in old if replicas_of(rs) > 0], new)
        if scaled:
            self.sync_rollout_status(self._refresh([*old, new]), new)
            return
        if self.deployment_complete(self.d.get("status") or {}):
            self.cleanup(old)
        self.sync_rollout_status(self._refresh([*old, new]), new)

    def reconcile_new(self, all_rss: list[JSON], new: JSON) -> tuple[bool, JSON]:
        desired = replicas_of(self.d)
        if replicas_of(new) == desired:
            return False, new
        if replicas_of(new) > desired:
            return self.scale_rs(new, desired)
        return self.scale_rs(new, self.new_rs_new_replicas(all_rss, new))

    def reconcile_old(self, all_rss: list[JSON], old_active: list[JSON], new: JSON) -> bool:
        old_count = sum(replicas_of(rs) for rs in old_active)
        if old_count == 0:
            return False
        all_count = sum(replicas_of(rs) for rs in all_rss)
        min_available = replicas_of(self.d) - max_unavailable(self.d)
        new_unavailable = replicas_of(new) - status_int(new, "availableReplicas")
        max_scaled_down = all_count - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        old_active, cleaned = self.cleanup_unhealthy(old_active, max_scaled_down)
        scaled_down = self.scale_down_old_for_rolling([*old_active, new], old_active)
        return cleaned + scaled_down > 0

    def cleanup_unhealthy(self, old: list[JSON], max_cleanup: int) -> tuple[list[JSON], int]:
        old = sorted(old, key=created_key)
        total = 0
        for i, rs in enumerate(old):
            if total >= max_cleanup:
                break
            if replicas_of(rs) == 0 or replicas_of(rs) == status_int(rs, "availableReplicas"):
                continue
            count = min(max_cleanup - total, replicas_of(rs) - status_int(rs, "availableReplicas"))
            _, old[i] = self.scale_rs(rs, replicas_of(rs) - count)
            total += count
        return old, total

    def scale_down_old_for_rolling(self, all_rss: list[JSON], old: list[JSON]) -> int:
        min_available = replicas_of(self.d) - max_unavailable(self.d)
        available = sum(status_int(rs, "availableReplicas") for rs in all_rss)
        if available <= min_available:
            return 0
        total, target = 0, available - min_available
        for rs in sorted(old, key=created_key):
            if total >= target:
                break
            if replicas_of(rs) == 0:
                continue
            count = min(replicas_of(rs), target - total)
            self.scale_rs(rs, replicas_of(rs) - count)
            total += count
        return total

    # -- recreate (recreate.go)

    def rollout_recreate(self, rs_list: list[JSON]) -> None:
        new, old = self.all_and_sync_revision(rs_list, create=False)
        scaled = False
        for rs in old:
            if replicas_of(rs) > 0:
                self.scale_rs(rs, 0)
                scaled = True
        if scaled:
            self.sync_rollout_status(self._refresh([*old, *([new] if new else [])]), new)
            return
        old = self._refresh(old)
        old_uids = {rs["metadata"]["uid"] for rs in old}
        running = any(
            (controller_of(p) or {}).get("uid") in old_uids
            for p in self.server.list_stored(POD, self.d["metadata"]["namespace"])
        )
        if running:
            self.sync_rollout_status(self._refresh([*old, *([new] if new else [])]), new)
            return
        if new is None:
            new, old = self.all_and_sync_revision(self._refresh(rs_list), create=True)
            if new is None:
                return
        if replicas_of(new) != replicas_of(self.d):
            _, new = self.scale_rs(new, replicas_of(self.d))
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
        for rs in sorted(alive, key=lambda r: (revision_of(r), created_key(r)))[:diff]:
            if (
                status_int(rs, "replicas") != 0
                or replicas_of(rs) != 0
                or rs["metadata"].get("generation", 0) > status_int(rs, "observedGeneration")
            ):
                continue
            self.server.delete(RS, rs["metadata"]["namespace"], rs["metadata"]["name"], {})

    def calculate_status(self, all_rss: list[JSON], new: JSON | None) -> JSON:
        available = sum(status_int(rs, "availableReplicas") for rs in all_rss)
        total = sum(replicas_of(rs) for rs in all_rss)
        previous = self.d.get("status") or {}
        status: JSON = omit_zero(
            {
                "observedGeneration": self.d["metadata"].get("generation", 0),
                "replicas": sum(status_int(rs, "replicas") for rs in all_rss),
                "updatedReplicas": status_int(new, "replicas") if new else 0,
                "readyReplicas": sum(status_int(rs, "readyReplicas") for rs in all_rss),
                "availableReplicas": available,
                "unavailableReplicas": max(0, total - available),
            }
        )
        if previous.get("conditions"):
            status["conditions"] = copy.deepcopy(previous["conditions"])
        if previous.get("collisionCount") is not None:
            status["collisionCount"] = previous["collisionCount"]
        if available >= replicas_of(self.d) - max_unavailable(self.d):
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
        desired = replicas_of(self.d)
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
