"""The simulated control plane of the test API server, advanced only by ``KubeApiServer.step()``.

One step runs, in order: the garbage collector (foreground/background/orphan propagation), the
namespace finalizer, the HPA controller, the deployment controller, the ReplicaSet controller
(pods are created and deleted), the scheduler + kubelet (pods start; at most
``pods_ready_per_step`` pods per ReplicaSet become Ready; never-ready images stay unready), the
ReplicaSet status update, the disruption controller and a load-balancer "cloud provider".

The deployment controller (``apiserver_deployment_sync``, with ``apiserver_deployment_util``) is a
transcription of kube-controller-manager's (pkg/controller/deployment: sync.go, rolling.go,
recreate.go, progress.go and deployment/util), because clients read its exact output: ``kubectl
rollout status`` reads ``observedGeneration``, ``updatedReplicas``, ``availableReplicas`` and the
``Progressing`` condition reason; ``kubectl rollout history/undo`` read the
``deployment.kubernetes.io/revision`` annotation of the ReplicaSets owned by the Deployment. Writes
go through the same paths as client writes, so they bump resourceVersions, fill managedFields
(``kube-controller-manager``) and emit watch events. Every function here runs with the server lock
held.
"""

from __future__ import annotations

import copy
import hashlib
from typing import TYPE_CHECKING

from tests.kubernetes import apiserver_kubelet as kubelet
from tests.kubernetes.apiserver_resources import (
    ResourceType,
    label_selector_matches,
    parse_time,
)

if TYPE_CHECKING:
    from tests.kubernetes.apiserver import KubeApiServer
from tests.kubernetes.apiserver_deployment_sync import DeploymentSync
from tests.kubernetes.apiserver_deployment_util import (
    DEP,
    HPA,
    ING,
    JSON,
    NODE_IP,
    NODE_NAME,
    NS,
    PDB,
    POD,
    RS,
    SVC,
    controller_of,
    controller_ref,
    get_condition,
    is_controlled_by,
    omit_zero,
    replicas_of,
    scaled_value,
    server_now,
    status_int,
)


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
    diff = len(pods) - replicas_of(rs)
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
    now = server_now(server)
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
        owner = (controller_of(p) or {}).get("uid") or p["metadata"]["uid"]
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
        omit_zero(
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
        since = previous["lastTransitionTime"] if previous else server_now(server)
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
    ns, name, now = new["metadata"]["namespace"], new["metadata"]["name"], server_now(server)
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
        current = replicas_of(target)
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
        if status_int(target, "replicas"):
            status["currentReplicas"] = status_int(target, "replicas")
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
    now = server_now(server)
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
