"""Helpers of the test API server's deployment controller, transcribed from kube-controller-manager's
pkg/controller/deployment/util: the resource types the controllers write, the annotations they keep,
owner references, fenceposts of a rolling update, the pod-template hash and Deployment conditions.
"""

from __future__ import annotations

import copy
import json
import math
from typing import TYPE_CHECKING, Any

from tests.kubernetes.apiserver_resources import (
    BY_GROUP_PLURAL,
    ResourceType,
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


# --------------------------------------------------------------------------- helpers


def meta_of(obj: JSON) -> JSON:
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


def controller_of(obj: JSON) -> JSON | None:
    return next((r for r in obj["metadata"].get("ownerReferences") or [] if r.get("controller")), None)


def created_key(obj: JSON) -> tuple[str, str]:
    return (obj["metadata"].get("creationTimestamp", ""), obj["metadata"]["name"])


def replicas_of(obj: JSON) -> int:
    value = (obj.get("spec") or {}).get("replicas")
    return 1 if value is None else int(value)


def status_int(obj: JSON | None, key: str) -> int:
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
    desired = replicas_of(d)
    surge = scaled_value(rolling.get("maxSurge", "25%"), desired, True)
    unavailable = scaled_value(rolling.get("maxUnavailable", "25%"), desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1  # the controller's fencepost: a rollout must be able to make progress
    return surge, unavailable


def is_rolling(d: JSON) -> bool:
    return (d["spec"].get("strategy") or {}).get("type", "RollingUpdate") == "RollingUpdate"


def max_surge(d: JSON) -> int:
    return resolve_fenceposts(d)[0] if is_rolling(d) else 0


def max_unavailable(d: JSON) -> int:
    if not is_rolling(d) or replicas_of(d) == 0:
        return 0
    return min(resolve_fenceposts(d)[1], replicas_of(d))


def without_hash(template: JSON) -> JSON:
    t = copy.deepcopy(template)
    labels = (t.get("metadata") or {}).get("labels")
    if labels is not None:
        labels.pop(HASH_LABEL, None)
        if not labels:  # Semantic.DeepEqual treats empty and nil maps alike
            del t["metadata"]["labels"]
    return t


def equal_ignore_hash(a: JSON, b: JSON) -> bool:
    return without_hash(a) == without_hash(b)


def compute_hash(template: JSON, collision_count: int | None) -> str:
    """controller.ComputeHash: fnv-32a of the template, then rand.SafeEncodeString of its decimal form."""
    data = json.dumps(without_hash(template), sort_keys=True, separators=(",", ":")).encode()
    if collision_count:
        data += str(collision_count).encode()
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    return "".join(alphabet[b % len(alphabet)] for b in str(h).encode())


def server_now(server: KubeApiServer) -> str:
    return server.clock.stamp()


def deployment_condition(server: KubeApiServer, type_: str, status: str, reason: str, message: str) -> JSON:
    now = server_now(server)
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


def omit_zero(status: JSON) -> JSON:
    """DeploymentStatus counters are ``omitempty``: zero values are absent on a real server."""
    return {k: v for k, v in status.items() if v not in (0, None, [])}


# --------------------------------------------------------------------------- deployment controller
