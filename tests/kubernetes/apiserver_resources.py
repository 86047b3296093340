"""The resource catalogue of the test API server: types, defaulting, validation, discovery, tables.

Everything here is pure (dicts in, dicts out) so the HTTP layer and the controllers share one
notion of what a Deployment looks like once the "server" has accepted it. The defaults are the
ones kube-apiserver 1.37 applies (``SetDefaults_*`` in k8s.io/kubernetes/pkg/apis/*/v1), because
clients compare what they sent with what they read back: ``kubectl rollout undo`` compares pod
templates, and server-side apply must be a no-op when the same manifest is applied twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

JSON = dict[str, Any]

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
SUB_VERBS = ("get", "patch", "update")


@dataclass(frozen=True)
class ResourceType:
    """One REST resource (a group/version/plural) and what the server knows about it."""

    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    # Whether metadata.generation is maintained (set to 1 on create, bumped on spec change).
    has_generation: bool = False
    # The registries of pods and services return the deleted object instead of a Status.
    return_deleted_object: bool = False
    # Printer columns used when kubectl asks for a Table: (name, type, format, description, priority).
    columns: tuple[tuple[str, str, str, int], ...] = field(default=())

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """The name used in error messages: ``deployments.apps``, ``secrets``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def qualified_kind(self) -> str:
        """The name used in Invalid messages: ``Deployment.apps``, ``Service``."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    @property
    def key(self) -> str:
        return f"{self.group}/{self.plural}"

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def base_path(self) -> str:
        return f"/apis/{self.group}/{self.version}" if self.group else "/api/v1"


AGE = ("Age", "string", "", 0)
RESOURCES: tuple[ResourceType, ...] = (
    ResourceType(
        "",
        "v1",
        "namespaces",
        "namespace",
        "Namespace",
        namespaced=False,
        short_names=("ns",),
        subresources=("status", "finalize"),
        columns=(("Status", "string", "", 0), AGE),
    ),
    ResourceType("", "v1", "secrets", "secret", "Secret", columns=(("Type", "string", "", 0), AGE)),
    ResourceType("", "v1", "configmaps", "configmap", "ConfigMap", short_names=("cm",), columns=(AGE,)),
    ResourceType(
        "",
        "v1",
        "services",
        "service",
        "Service",
        short_names=("svc",),
        categories=("all",),
        subresources=("status",),
        return_deleted_object=True,
        columns=(
            ("Type", "string", "", 0),
            ("Cluster-IP", "string", "", 0),
            ("External-IP", "string", "", 0),
            ("Port(s)", "string", "", 0),
            AGE,
            ("Selector", "string", "", 1),
        ),
    ),
    ResourceType(
        "",
        "v1",
        "serviceaccounts",
        "serviceaccount",
        "ServiceAccount",
        short_names=("sa",),
        return_deleted_object=True,
        columns=(AGE,),
    ),
    ResourceType(
        "",
        "v1",
        "pods",
        "pod",
        "Pod",
        short_names=("po",),
        categories=("all",),
        subresources=("status",),
        has_generation=True,
        return_deleted_object=True,
        columns=(
            ("Ready", "string", "", 0),
            ("Status", "string", "", 0),
            ("Restarts", "string", "", 0),
            AGE,
            ("IP", "string", "", 1),
            ("Node", "string", "", 1),
        ),
    ),
    ResourceType(
        "apps",
        "v1",
        "deployments",
        "deployment",
        "Deployment",
        short_names=("deploy",),
        categories=("all",),
        subresources=("scale", "status"),
        has_generation=True,
        columns=(
            ("Ready", "string", "", 0),
            ("Up-to-date", "integer", "", 0),
            ("Available", "integer", "", 0),
            AGE,
            ("Containers", "string", "", 1),
            ("Images", "string", "", 1),
            ("Selector", "string", "", 1),
        ),
    ),
    ResourceType(
        "apps",
        "v1",
        "replicasets",
        "replicaset",
        "ReplicaSet",
        short_names=("rs",),
        categories=("all",),
        subresources=("scale", "status"),
        has_generation=True,
        columns=(
            ("Desired", "integer", "", 0),
            ("Current", "integer", "", 0),
            ("Ready", "integer", "", 0),
            AGE,
            ("Containers", "string", "", 1),
            ("Images", "string", "", 1),
            ("Selector", "string", "", 1),
        ),
    ),
    ResourceType(
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "horizontalpodautoscaler",
        "HorizontalPodAutoscaler",
        short_names=("hpa",),
        categories=("all",),
        subresources=("status",),
        has_generation=True,
        columns=(
            ("Reference", "string", "", 0),
            ("MinPods", "string", "", 0),
            ("MaxPods", "string", "", 0),
            ("Replicas", "string", "", 0),
            AGE,
        ),
    ),
    ResourceType(
        "networking.k8s.io",
        "v1",
        "ingresses",
        "ingress",
        "Ingress",
        short_names=("ing",),
        subresources=("status",),
        has_generation=True,
        columns=(("Class", "string", "", 0), ("Hosts", "string", "", 0), ("Address", "string", "", 0), AGE),
    ),
    ResourceType(
        "networking.k8s.io",
        "v1",
        "networkpolicies",
        "networkpolicy",
        "NetworkPolicy",
        short_names=("netpol",),
        has_generation=True,
        columns=(("Pod-Selector", "string", "", 0), AGE),
    ),
    ResourceType(
        "rbac.authorization.k8s.io",
        "v1",
        "rolebindings",
        "rolebinding",
        "RoleBinding",
        columns=(("Role", "string", "", 0), AGE),
    ),
    ResourceType(
        "policy",
        "v1",
        "poddisruptionbudgets",
        "poddisruptionbudget",
        "PodDisruptionBudget",
        short_names=("pdb",),
        subresources=("status",),
        has_generation=True,
        columns=(
            ("Min Available", "string", "", 0),
            ("Max Unavailable", "string", "", 0),
            ("Allowed Disruptions", "integer", "", 0),
            AGE,
        ),
    ),
)

BY_GROUP_PLURAL: dict[tuple[str, str], ResourceType] = {(r.group, r.plural): r for r in RESOURCES}
GROUP_VERSIONS: dict[str, list[ResourceType]] = {}
for _r in RESOURCES:
    GROUP_VERSIONS.setdefault(_r.group_version, []).append(_r)


def find_resource(plural_or_key: str) -> ResourceType:
    """Look a resource up by plural (``deployments``) or ``group/plural``; KeyError if unknown."""
    for r in RESOURCES:
        if plural_or_key in (r.plural, r.key, r.qualified):
            return r
    raise KeyError(plural_or_key)


# --------------------------------------------------------------------------- time formatting


def rfc3339(moment: datetime) -> str:
    """Kubernetes serialises metav1.Time with second precision in UTC."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def human_duration(seconds: float) -> str:
    """kubectl's ``duration.HumanDuration`` (the AGE column)."""
    s = int(seconds)
    if s < 0:
        return "<invalid>"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rest = s % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        rest = (s % 3600) // 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        rest = hours % 24
        return f"{days}d{rest}h" if rest else f"{days}d"
    if days < 365 * 2:
        return f"{days}d"
    return f"{days // 365}y"


# --------------------------------------------------------------------------- selectors


class SelectorError(ValueError):
    """A label or field selector the real server would reject with 400 BadRequest."""


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside ``in (a,b)`` parentheses."""
    terms, depth, current = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append(current.strip())
            current = ""
        else:
            current += ch
    if current.strip():
        terms.append(current.strip())
    return terms


def parse_label_selector(text: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """Parse ``a=b,c!=d,e in (x,y),!f,g`` into (key, operator, values) requirements."""
    requirements: list[tuple[str, str, tuple[str, ...]]] = []
    for term in _split_terms(text or ""):
        m = re.fullmatch(r"([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)", term)
        if m:
            values = tuple(v.strip() for v in m.group(3).split(",") if v.strip())
            requirements.append((m.group(1), m.group(2), values))
            continue
        m = re.fullmatch(r"([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)", term)
        if m:
            op = "!=" if m.group(2) == "!=" else "="
            requirements.append((m.group(1), op, (m.group(3),)))
            continue
        m = re.fullmatch(r"(!?)([\w./-]+)", term)
        if m:
            requirements.append((m.group(2), "!" if m.group(1) else "exists", ()))
            continue
        raise SelectorError(f"unable to parse requirement: {term!r}")
    return requirements


def labels_match(requirements: list[tuple[str, str, tuple[str, ...]]], labels: dict[str, str]) -> bool:
    for key, op, values in requirements:
        present = key in labels
        value = labels.get(key)
        if op == "=" and value != values[0]:
            return False
        if op == "!=" and present and value == values[0]:
            return False
        if op == "in" and value not in values:
            return False
        if op == "notin" and present and value in values:
            return False
        if op == "exists" and not present:
            return False
        if op == "!" and present:
            return False
    return True


def label_selector_matches(selector: JSON | None, labels: dict[str, str]) -> bool:
    """Evaluate a metav1.LabelSelector (matchLabels + matchExpressions). An empty selector matches all."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def label_selector_string(selector: JSON | None) -> str:
    """``metav1.FormatLabelSelector``: what Scale.status.selector and the Selector column show."""
    if not selector:
        return "<none>"
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        op, values = expr.get("operator"), ",".join(sorted(expr.get("values") or []))
        parts.append(
            {
                "In": f"{expr['key']} in ({values})",
                "NotIn": f"{expr['key']} notin ({values})",
                "Exists": expr["key"],
                "DoesNotExist": f"!{expr['key']}",
            }.get(op, expr["key"])
        )
    return ",".join(parts)


FIELD_SELECTORS: dict[str, tuple[str, ...]] = {
    "pods": (
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "status.phase",
        "status.podIP",
    ),
    "secrets": ("type",),
    "namespaces": ("status.phase",),
    "replicasets": ("status.replicas",),
}


def parse_field_selector(text: str, rt: ResourceType) -> list[tuple[str, str, str]]:
    supported = ("metadata.name", "metadata.namespace", *FIELD_SELECTORS.get(rt.plural, ()))
    out: list[tuple[str, str, str]] = []
    for term in _split_terms(text or ""):
        m = re.fullmatch(r"([\w.]+)\s*(==|=|!=)\s*(.*)", term)
        if not m:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{term}'")
        if m.group(1) not in supported:
            quoted = ", ".join(f'"{s}"' for s in supported)
            raise SelectorError(f'"{m.group(1)}" is not a known field selector: only {quoted}')
        out.append((m.group(1), "!=" if m.group(2) == "!=" else "=", m.group(3)))
    return out


def field_value(obj: JSON, dotted: str) -> str:
    cur: Any = obj
    for part in dotted.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    return "" if cur is None else str(cur)


def fields_match(requirements: list[tuple[str, str, str]], obj: JSON) -> bool:
    for name, op, value in requirements:
        actual = field_value(obj, name)
        if (op == "=" and actual != value) or (op == "!=" and actual == value):
            return False
    return True


# --------------------------------------------------------------------------- defaulting


def _default_probe(probe: JSON | None) -> None:
    if not isinstance(probe, dict):
        return
    probe.setdefault("timeoutSeconds", 1)
    probe.setdefault("periodSeconds", 10)
    probe.setdefault("successThreshold", 1)
    probe.setdefault("failureThreshold", 3)
    if isinstance(probe.get("httpGet"), dict):
        probe["httpGet"].setdefault("scheme", "HTTP")


def _image_pull_policy(image: str) -> str:
    # SetDefaults_Container: Always for ":latest" or an untagged image, IfNotPresent otherwise.
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def default_container(c: JSON) -> None:
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    if "image" in c and isinstance(c["image"], str):
        c.setdefault("imagePullPolicy", _image_pull_policy(c["image"]))
    # ResourceRequirements is a struct, so Go's encoder always writes it, even when empty.
    c.setdefault("resources", {})
    for port in c.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    for env in c.get("env") or []:
        ref = (env.get("valueFrom") or {}).get("fieldRef") if isinstance(env, dict) else None
        if isinstance(ref, dict):
            ref.setdefault("apiVersion", "v1")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        _default_probe(c.get(probe))


def default_pod_spec(spec: JSON) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for key in ("containers", "initContainers"):
        for c in spec.get(key) or []:
            if isinstance(c, dict):
                default_container(c)
    for vol in spec.get("volumes") or []:
        if not isinstance(vol, dict):
            continue
        for source in ("secret", "configMap"):
            if isinstance(vol.get(source), dict):
                vol[source].setdefault("defaultMode", 420)


def default_pod_template(template: JSON) -> None:
    template.setdefault("metadata", {})
    spec = template.setdefault("spec", {})
    if isinstance(spec, dict):
        default_pod_spec(spec)


def _default_deployment(obj: JSON) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.setdefault("rollingUpdate", {})
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    if isinstance(spec.get("template"), dict):
        default_pod_template(spec["template"])
    obj.setdefault("status", {})


def _default_replicaset(obj: JSON) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    if isinstance(spec.get("template"), dict):
        default_pod_template(spec["template"])
    status = obj.setdefault("status", {})
    status.setdefault("replicas", 0)  # ReplicaSetStatus.Replicas has no omitempty


def _default_pod(obj: JSON) -> None:
    spec = obj.setdefault("spec", {})
    default_pod_spec(spec)
    # Admission plugins and SetDefaults_Pod add these to every pod a real cluster stores.
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("priority", 0)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault(
        "tolerations",
        [
            {
                "key": "node.kubernetes.io/not-ready",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            },
            {
                "key": "node.kubernetes.io/unreachable",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            },
        ],
    )
    status = obj.setdefault("status", {})
    status.setdefault("phase", "Pending")
    status.setdefault("qosClass", "BestEffort")


def _default_service(obj: JSON) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if "port" in port:
                port.setdefault("targetPort", port["port"])
    if spec["type"] in ("ClusterIP", "NodePort", "LoadBalancer"):
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if spec["type"] == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    status = obj.setdefault("status", {})
    status.setdefault("loadBalancer", {})


def _default_secret(obj: JSON) -> None:
    obj.setdefault("type", "Opaque")


def _default_namespace(obj: JSON) -> None:
    name = (obj.get("metadata") or {}).get("name")
    if name:
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = name
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj.setdefault("status", {}).setdefault("phase", "Active")


def _default_hpa(obj: JSON) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("minReplicas", 1)
    if not spec.get("metrics"):
        spec["metrics"] = [
            {
                "type": "Resource",
                "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
            }
        ]
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        up = behavior.setdefault("scaleUp", {})
        up.setdefault("stabilizationWindowSeconds", 0)
        up.setdefault("selectPolicy", "Max")
        up.setdefault(
            "policies",
            [
                {"type": "Pods", "value": 4, "periodSeconds": 15},
                {"type": "Percent", "value": 100, "periodSeconds": 15},
            ],
        )
        down = behavior.setdefault("scaleDown", {})
        down.setdefault("selectPolicy", "Max")
        down.setdefault("policies", [{"type": "Percent", "value": 100, "periodSeconds": 15}])
    status = obj.setdefault("status", {})
    status.setdefault("desiredReplicas", 0)  # no omitempty in HorizontalPodAutoscalerStatus


def _default_ingress(obj: JSON) -> None:
    obj.setdefault("status", {}).setdefault("loadBalancer", {})


def _default_network_policy(obj: JSON) -> None:
    spec = obj.setdefault("spec", {})
    if not spec.get("policyTypes"):
        spec["policyTypes"] = ["Ingress"] + (["Egress"] if spec.get("egress") else [])
    for direction in ("ingress", "egress"):
        for rule in spec.get(direction) or []:
            for port in (rule or {}).get("ports") or []:
                if isinstance(port, dict):
                    port.setdefault("protocol", "TCP")


def _default_pdb(obj: JSON) -> None:
    status = obj.setdefault("status", {})
    for key in ("currentHealthy", "desiredHealthy", "disruptionsAllowed", "expectedPods"):
        status.setdefault(key, 0)  # PodDisruptionBudgetStatus ints have no omitempty


DEFAULTERS = {
    "apps/deployments": _default_deployment,
    "apps/replicasets": _default_replicaset,
    "/pods": _default_pod,
    "/services": _default_service,
    "/secrets": _default_secret,
    "/namespaces": _default_namespace,
    "autoscaling/horizontalpodautoscalers": _default_hpa,
    "networking.k8s.io/ingresses": _default_ingress,
    "networking.k8s.io/networkpolicies": _default_network_policy,
    "policy/poddisruptionbudgets": _default_pdb,
}


def apply_defaults(rt: ResourceType, obj: JSON) -> None:
    """Mutate ``obj`` the way decoding + defaulting in kube-apiserver does. Idempotent."""
    defaulter = DEFAULTERS.get(rt.key)
    if defaulter:
        defaulter(obj)


# --------------------------------------------------------------------------- validation

DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")


@dataclass
class FieldError:
    """One ``field.Error``: becomes a StatusCause and a fragment of the Invalid message."""

    field: str
    type: str  # FieldValueRequired, FieldValueInvalid, FieldValueNotSupported, FieldValueForbidden
    detail: str
    value: Any = None

    def message(self) -> str:
        if self.type == "FieldValueRequired":
            return f"{self.field}: Required value" + (f": {self.detail}" if self.detail else "")
        if self.type == "FieldValueNotSupported":
            return f"{self.field}: Unsupported value: {_go_value(self.value)}: {self.detail}"
        if self.type == "FieldValueForbidden":
            return f"{self.field}: Forbidden: {self.detail}"
        return f"{self.field}: Invalid value: {_go_value(self.value)}: {self.detail}"

    def cause(self) -> JSON:
        text = self.message()[len(self.field) + 2 :]
        return {"reason": self.type, "message": text, "field": self.field}


def _go_value(value: Any) -> str:
    import json

    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _validate_name(rt: ResourceType, name: str, errors: list[FieldError]) -> None:
    if rt.plural in ("namespaces",):
        pattern, what, example, regex = (
            DNS1123_LABEL,
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
            "and must start and end with an alphanumeric character",
            "'my-name',  or '123-abc'",
            "[a-z0-9]([-a-z0-9]*[a-z0-9])?",
        )
    elif rt.plural == "services":
        pattern, what, example, regex = (
            DNS1035_LABEL,
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with "
            "an alphabetic character, and end with an alphanumeric character",
            "'my-name',  or 'abc-123'",
            "[a-z]([-a-z0-9]*[a-z0-9])?",
        )
    else:
        pattern, what, example, regex = (
            DNS1123_SUBDOMAIN,
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
            "'.', and must start and end with an alphanumeric character",
            "'example.com'",
            r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*",
        )
    if not pattern.fullmatch(name) or len(name) > 253:
        errors.append(
            FieldError(
                "metadata.name",
                "FieldValueInvalid",
                f"{what} (e.g. {example}, regex used for validation is '{regex}')",
                name,
            )
        )


def _validate_pod_spec(spec: Any, path: str, errors: list[FieldError]) -> None:
    if not isinstance(spec, dict):
        errors.append(FieldError(path, "FieldValueRequired", ""))
        return
    containers = spec.get("containers")
    if not containers:
        errors.append(FieldError(f"{path}.containers", "FieldValueRequired", ""))
        return
    seen: set[str] = set()
    for i, c in enumerate(containers):
        cpath = f"{path}.containers[{i}]"
        if not isinstance(c, dict):
            errors.append(FieldError(cpath, "FieldValueInvalid", "must be an object", c))
            continue
        name = c.get("name")
        if not name:
            errors.append(FieldError(f"{cpath}.name", "FieldValueRequired", ""))
        elif name in seen:
            errors.append(FieldError(f"{cpath}.name", "FieldValueDuplicate", "", name))
        else:
            seen.add(name)
        if not c.get("image"):
            errors.append(FieldError(f"{cpath}.image", "FieldValueRequired", ""))
        for j, port in enumerate(c.get("ports") or []):
            cp = port.get("containerPort") if isinstance(port, dict) else None
            if not isinstance(cp, int) or not 0 < cp < 65536:
                errors.append(
                    FieldError(
                        f"{cpath}.ports[{j}].containerPort",
                        "FieldValueInvalid" if cp is not None else "FieldValueRequired",
                        "must be between 1 and 65535, inclusive" if cp is not None else "",
                        cp,
                    )
                )
        for j, env in enumerate(c.get("env") or []):
            if not isinstance(env, dict) or not env.get("name"):
                errors.append(FieldError(f"{cpath}.env[{j}].name", "FieldValueRequired", ""))


def _validate_workload(obj: JSON, errors: list[FieldError], deployment: bool) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        errors.append(FieldError("spec", "FieldValueRequired", ""))
        return
    replicas = spec.get("replicas")
    if isinstance(replicas, int) and replicas < 0:
        errors.append(
            FieldError("spec.replicas", "FieldValueInvalid", "must be greater than or equal to 0", replicas)
        )
    selector = spec.get("selector")
    if not selector:
        errors.append(FieldError("spec.selector", "FieldValueRequired", ""))
    elif not (selector.get("matchLabels") or selector.get("matchExpressions")):
        errors.append(
            FieldError(
                "spec.selector", "FieldValueInvalid", "empty selector is invalid for deployment", selector
            )
        )
    template = spec.get("template")
    if not isinstance(template, dict):
        errors.append(FieldError("spec.template", "FieldValueRequired", ""))
        return
    labels = (template.get("metadata") or {}).get("labels") or {}
    if selector and not label_selector_matches(selector, labels):
        errors.append(
            FieldError(
                "spec.template.metadata.labels",
                "FieldValueInvalid",
                "`selector` does not match template `labels`",
                labels,
            )
        )
    _validate_pod_spec(template.get("spec"), "spec.template.spec", errors)
    restart = (template.get("spec") or {}).get("restartPolicy")
    if restart not in (None, "Always"):
        errors.append(
            FieldError(
                "spec.template.spec.restartPolicy",
                "FieldValueNotSupported",
                'supported values: "Always"',
                restart,
            )
        )
    if deployment:
        strategy = spec.get("strategy") or {}
        if strategy.get("type") not in (None, "RollingUpdate", "Recreate"):
            errors.append(
                FieldError(
                    "spec.strategy.type",
                    "FieldValueNotSupported",
                    'supported values: "Recreate", "RollingUpdate"',
                    strategy.get("type"),
                )
            )
        if strategy.get("type") == "Recreate" and strategy.get("rollingUpdate"):
            errors.append(
                FieldError(
                    "spec.strategy.rollingUpdate",
                    "FieldValueForbidden",
                    "may not be specified when strategy `type` is 'Recreate'",
                )
            )
        rolling = strategy.get("rollingUpdate") or {}
        if (
            rolling
            and _intstr_is_zero(rolling.get("maxSurge"))
            and _intstr_is_zero(rolling.get("maxUnavailable"))
        ):
            errors.append(
                FieldError(
                    "spec.strategy.rollingUpdate.maxUnavailable",
                    "FieldValueInvalid",
                    "may not be 0 when `maxSurge` is 0",
                    rolling.get("maxUnavailable"),
                )
            )


def _intstr_is_zero(value: Any) -> bool:
    return value in (0, "0", "0%")


def validate(rt: ResourceType, obj: JSON, old: JSON | None) -> list[FieldError]:
    """The subset of kube-apiserver validation that clients of this project can trip over."""
    errors: list[FieldError] = []
    meta = obj.get("metadata") or {}
    name = meta.get("name") or ""
    if name:
        _validate_name(rt, name, errors)
    if rt.key in ("apps/deployments", "apps/replicasets"):
        _validate_workload(obj, errors, deployment=rt.plural == "deployments")
        if old is not None and (old.get("spec") or {}).get("selector") != (obj.get("spec") or {}).get(
            "selector"
        ):
            errors.append(
                FieldError(
                    "spec.selector",
                    "FieldValueInvalid",
                    "field is immutable",
                    (obj.get("spec") or {}).get("selector"),
                )
            )
    elif rt.key == "/pods":
        _validate_pod_spec(obj.get("spec"), "spec", errors)
    elif rt.key == "/services":
        spec = obj.get("spec") or {}
        if spec.get("type") not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
            errors.append(
                FieldError(
                    "spec.type",
                    "FieldValueNotSupported",
                    'supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"',
                    spec.get("type"),
                )
            )
        if spec.get("type") != "ExternalName" and spec.get("clusterIP") != "None" and not spec.get("ports"):
            errors.append(FieldError("spec.ports", "FieldValueRequired", ""))
        for i, port in enumerate(spec.get("ports") or []):
            p = port.get("port") if isinstance(port, dict) else None
            if not isinstance(p, int) or not 0 < p < 65536:
                errors.append(
                    FieldError(
                        f"spec.ports[{i}].port",
                        "FieldValueInvalid",
                        "must be between 1 and 65535, inclusive",
                        p,
                    )
                )
        if old is not None:
            old_ip = (old.get("spec") or {}).get("clusterIP")
            if spec.get("clusterIP") not in (None, "", old_ip):
                errors.append(
                    FieldError(
                        "spec.clusterIPs[0]",
                        "FieldValueInvalid",
                        "may not change once set",
                        spec.get("clusterIP"),
                    )
                )
    elif rt.key == "autoscaling/horizontalpodautoscalers":
        spec = obj.get("spec") or {}
        ref = spec.get("scaleTargetRef") or {}
        if not ref.get("kind"):
            errors.append(FieldError("spec.scaleTargetRef.kind", "FieldValueRequired", ""))
        if not ref.get("name"):
            errors.append(FieldError("spec.scaleTargetRef.name", "FieldValueRequired", ""))
        max_r, min_r = spec.get("maxReplicas"), spec.get("minReplicas", 1)
        if not isinstance(max_r, int) or max_r < 1:
            errors.append(
                FieldError("spec.maxReplicas", "FieldValueInvalid", "must be greater than 0", max_r)
            )
        elif isinstance(min_r, int) and min_r > max_r:
            errors.append(
                FieldError(
                    "spec.minReplicas",
                    "FieldValueInvalid",
                    "must be less than or equal to maxReplicas",
                    min_r,
                )
            )
    elif rt.key == "networking.k8s.io/ingresses":
        for i, rule in enumerate((obj.get("spec") or {}).get("rules") or []):
            for j, path in enumerate(((rule or {}).get("http") or {}).get("paths") or []):
                fpath = f"spec.rules[{i}].http.paths[{j}].pathType"
                if not (path or {}).get("pathType"):
                    errors.append(FieldError(fpath, "FieldValueRequired", "pathType must be specified"))
    elif rt.key == "policy/poddisruptionbudgets":
        spec = obj.get("spec") or {}
        if "minAvailable" in spec and "maxUnavailable" in spec:
            errors.append(
                FieldError(
                    "spec", "FieldValueInvalid", "minAvailable and maxUnavailable cannot be both set", spec
                )
            )
    elif rt.key == "/secrets":
        import base64
        import binascii

        for key, value in (obj.get("data") or {}).items():
            try:
                base64.b64decode(str(value), validate=True)
            except (binascii.Error, ValueError):
                errors.append(FieldError(f"data[{key}]", "FieldValueInvalid", "illegal base64 data", value))
    return errors


# --------------------------------------------------------------------------- discovery


def _api_resource(rt: ResourceType) -> list[JSON]:
    main: JSON = {
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": list(ALL_VERBS),
    }
    if rt.short_names:
        main["shortNames"] = list(rt.short_names)
    if rt.categories:
        main["categories"] = list(rt.categories)
    out = [main]
    for sub in rt.subresources:
        if sub == "scale":
            out.append(
                {
                    "name": f"{rt.plural}/scale",
                    "singularName": "",
                    "namespaced": rt.namespaced,
                    "group": "autoscaling",
                    "version": "v1",
                    "kind": "Scale",
                    "verbs": list(SUB_VERBS),
                }
            )
        elif sub == "finalize":
            out.append(
                {
                    "name": f"{rt.plural}/finalize",
                    "singularName": "",
                    "namespaced": rt.namespaced,
                    "kind": rt.kind,
                    "verbs": ["update"],
                }
            )
        else:
            out.append(
                {
                    "name": f"{rt.plural}/{sub}",
                    "singularName": "",
                    "namespaced": rt.namespaced,
                    "kind": rt.kind,
                    "verbs": list(SUB_VERBS),
                }
            )
    return out


def api_resource_list(group_version: str) -> JSON:
    resources: list[JSON] = []
    for rt in GROUP_VERSIONS[group_version]:
        resources.extend(_api_resource(rt))
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": resources,
    }


def api_versions(server_address: str) -> JSON:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def api_group(group: str) -> JSON:
    versions = sorted({r.version for r in RESOURCES if r.group == group})
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": entries,
        "preferredVersion": entries[0],
    }


def api_group_list() -> JSON:
    groups = sorted({r.group for r in RESOURCES if r.group})
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [
            {k: v for k, v in api_group(g).items() if k not in ("kind", "apiVersion")} for g in groups
        ],
    }


def aggregated_discovery(core: bool) -> JSON:
    """The apidiscovery.k8s.io/v2 document kubectl asks for first (one request instead of one per group)."""
    groups = [""] if core else sorted({r.group for r in RESOURCES if r.group})
    items = []
    for group in groups:
        versions = []
        for version in sorted({r.version for r in RESOURCES if r.group == group}):
            resources = []
            for rt in RESOURCES:
                if rt.group != group or rt.version != version:
                    continue
                entry: JSON = {
                    "resource": rt.plural,
                    "responseKind": {"group": group, "version": version, "kind": rt.kind},
                    "scope": "Namespaced" if rt.namespaced else "Cluster",
                    "singularResource": rt.singular,
                    "verbs": list(ALL_VERBS),
                }
                if rt.short_names:
                    entry["shortNames"] = list(rt.short_names)
                if rt.categories:
                    entry["categories"] = list(rt.categories)
                subs = []
                for sub in rt.subresources:
                    kind = (
                        {"group": "autoscaling", "version": "v1", "kind": "Scale"}
                        if sub == "scale"
                        else {"group": group, "version": version, "kind": rt.kind}
                    )
                    subs.append(
                        {
                            "subresource": sub,
                            "responseKind": kind,
                            "verbs": ["update"] if sub == "finalize" else list(SUB_VERBS),
                        }
                    )
                if subs:
                    entry["subresources"] = subs
                resources.append(entry)
            versions.append({"version": version, "resources": resources, "freshness": "Current"})
        meta: JSON = {"creationTimestamp": None}
        if group:
            meta["name"] = group
        items.append({"metadata": meta, "versions": versions})
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": items,
    }


def _openapi_param(name: str, type_: str = "string") -> JSON:
    return {"name": name, "in": "query", "schema": {"type": type_, "uniqueItems": True}}


def openapi_v3_root() -> JSON:
    paths = {}
    for gv in GROUP_VERSIONS:
        rel = f"api/{gv}" if "/" not in gv else f"apis/{gv}"
        paths[rel] = {"serverRelativeURL": f"/openapi/v3/{rel}?hash={abs(hash(gv)) % 10**12:012d}"}
    return {"paths": paths}


def openapi_v3_group_version(gv: str) -> JSON:
    """A minimal OpenAPI v3 document per group-version.

    kubectl only needs it to learn that PATCH supports the ``fieldValidation`` query parameter (so
    it delegates validation to the server instead of downloading schemas); the operations carry
    ``x-kubernetes-group-version-kind`` exactly like the real document. Component schemas are not
    published, so ``kubectl explain`` will not work.
    """
    paths: JSON = {}
    for rt in GROUP_VERSIONS[gv]:
        gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
        prefix = f"{rt.base_path}/namespaces/{{namespace}}" if rt.namespaced else rt.base_path
        write_params = [
            _openapi_param("dryRun"),
            _openapi_param("fieldManager"),
            _openapi_param("fieldValidation"),
        ]
        ok = {"200": {"description": "OK"}}
        paths[f"{prefix}/{rt.plural}"] = {
            "get": {"x-kubernetes-action": "list", "x-kubernetes-group-version-kind": gvk, "responses": ok},
            "post": {
                "x-kubernetes-action": "post",
                "x-kubernetes-group-version-kind": gvk,
                "parameters": write_params,
                "responses": ok,
            },
        }
        item = {
            "get": {"x-kubernetes-action": "get", "x-kubernetes-group-version-kind": gvk, "responses": ok},
            "put": {
                "x-kubernetes-action": "put",
                "x-kubernetes-group-version-kind": gvk,
                "parameters": write_params,
                "responses": ok,
            },
            "patch": {
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": gvk,
                "parameters": [*write_params, _openapi_param("force", "boolean")],
                "responses": ok,
            },
            "delete": {
                "x-kubernetes-action": "delete",
                "x-kubernetes-group-version-kind": gvk,
                "responses": ok,
            },
        }
        paths[f"{prefix}/{rt.plural}/{{name}}"] = item
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.37.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }


# --------------------------------------------------------------------------- tables (kubectl get)


def _images(template_spec: JSON) -> tuple[str, str]:
    containers = (template_spec or {}).get("containers") or []
    return ",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers)


def table_cells(rt: ResourceType, obj: JSON, now: datetime) -> list[Any]:
    """The printer columns kube-apiserver's TableConvertor returns for ``kubectl get``."""
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    created = meta.get("creationTimestamp")
    age = human_duration((now - parse_time(created)).total_seconds()) if created else "<unknown>"
    name = meta.get("name", "")
    if rt.plural == "deployments":
        containers, images = _images((spec.get("template") or {}).get("spec") or {})
        return [
            name,
            f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 0)}",
            status.get("updatedReplicas", 0),
            status.get("availableReplicas", 0),
            age,
            containers,
            images,
            label_selector_string(spec.get("selector")),
        ]
    if rt.plural == "replicasets":
        containers, images = _images((spec.get("template") or {}).get("spec") or {})
        return [
            name,
            spec.get("replicas", 0),
            status.get("replicas", 0),
            status.get("readyReplicas", 0),
            age,
            containers,
            images,
            label_selector_string(spec.get("selector")),
        ]
    if rt.plural == "pods":
        statuses = status.get("containerStatuses") or []
        ready = sum(1 for s in statuses if s.get("ready"))
        restarts = sum(s.get("restartCount", 0) for s in statuses)
        reason = status.get("phase", "Pending")
        for s in statuses:
            waiting = (s.get("state") or {}).get("waiting")
            if waiting and waiting.get("reason"):
                reason = waiting["reason"]
        if meta.get("deletionTimestamp"):
            reason = "Terminating"
        return [
            name,
            f"{ready}/{len(spec.get('containers') or [])}",
            reason,
            str(restarts),
            age,
            status.get("podIP", "<none>"),
            spec.get("nodeName", "<none>"),
        ]
    if rt.plural == "services":
        ingress = ((status.get("loadBalancer") or {}).get("ingress")) or []
        external = ",".join(i.get("hostname") or i.get("ip", "") for i in ingress) or (
            "<pending>" if spec.get("type") == "LoadBalancer" else "<none>"
        )
        ports = ",".join(
            f"{p.get('port')}{':' + str(p['nodePort']) if p.get('nodePort') else ''}"
            f"/{p.get('protocol', 'TCP')}"
            for p in spec.get("ports") or []
        )
        selector = ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items())) or "<none>"
        return [
            name,
            spec.get("type", ""),
            spec.get("clusterIP", "<none>"),
            external,
            ports or "<none>",
            age,
            selector,
        ]
    if rt.plural == "namespaces":
        return [name, status.get("phase", ""), age]
    if rt.plural == "secrets":
        return [name, obj.get("type", ""), age]
    if rt.plural == "horizontalpodautoscalers":
        ref = spec.get("scaleTargetRef") or {}
        return [
            name,
            f"{ref.get('kind')}/{ref.get('name')}",
            str(spec.get("minReplicas", 1)),
            str(spec.get("maxReplicas", "")),
            str(status.get("currentReplicas", 0)),
            age,
        ]
    if rt.plural == "ingresses":
        hosts = ",".join(r.get("host", "*") for r in spec.get("rules") or []) or "*"
        ingress = ((status.get("loadBalancer") or {}).get("ingress")) or []
        address = ",".join(i.get("hostname") or i.get("ip", "") for i in ingress)
        return [name, spec.get("ingressClassName", "<none>"), hosts, address, age]
    if rt.plural == "networkpolicies":
        return [
            name,
            label_selector_string(spec.get("podSelector")) if spec.get("podSelector") else "<none>",
            age,
        ]
    if rt.plural == "rolebindings":
        ref = obj.get("roleRef") or {}
        return [name, f"{ref.get('kind')}/{ref.get('name')}", age]
    if rt.plural == "poddisruptionbudgets":
        return [
            name,
            str(spec["minAvailable"]) if "minAvailable" in spec else "N/A",
            str(spec["maxUnavailable"]) if "maxUnavailable" in spec else "N/A",
            status.get("disruptionsAllowed", 0),
            age,
        ]
    return [name, age]


def table_columns(rt: ResourceType) -> list[JSON]:
    name_col = {
        "name": "Name",
        "type": "string",
        "format": "name",
        "description": "Name must be unique within a namespace.",
        "priority": 0,
    }
    cols = [name_col]
    for title, type_, fmt, priority in rt.columns:
        cols.append({"name": title, "type": type_, "format": fmt, "description": title, "priority": priority})
    return cols
