"""Pod Security Admission for the test API server: the `enforce` mode of the PodSecurity plugin.

kube-apiserver's built-in PodSecurity admission (k8s.io/pod-security-admission) reads the labels
`pod-security.kubernetes.io/enforce` (privileged | baseline | restricted) and `enforce-version`
of a Pod's namespace and refuses a Pod that violates that level with 403 Forbidden:

    pods "web-7d9c-x2k4p" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation
    != false (container "app" must set securityContext.allowPrivilegeEscalation=false), ...

Faithful to the real plugin in what it refuses: enforce applies to Pods only. A Deployment or a
ReplicaSet whose template violates the level is stored (a real server would only add a warning
with the `warn` label); its pods are then refused when the ReplicaSet controller creates them, which
sets the ReplicaSet's (and the Deployment's) `ReplicaFailure` condition with reason FailedCreate
(``apiserver_controllers``). Pod updates are not checked (a pod's spec is immutable where it matters).

The checks are those of the policy package (policy/check_*.go), with its reason and detail texts,
in its order: the baseline ones (host namespaces, privileged, added capabilities, hostPath volumes,
host ports, Unconfined seccomp) and the restricted ones (volume types, allowPrivilegeEscalation,
runAsNonRoot, runAsUser=0, seccomp RuntimeDefault/Localhost, capabilities drop ALL). Not checked:
AppArmor, SELinux options, procMount, sysctls, Windows hostProcess (nothing here sets them).
"""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]

ENFORCE_LABEL = "pod-security.kubernetes.io/enforce"
ENFORCE_VERSION_LABEL = "pod-security.kubernetes.io/enforce-version"
LEVELS = ("privileged", "baseline", "restricted")
RESTRICTED_VOLUME_TYPES = (
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
)
BASELINE_CAPABILITIES = {
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
}


def _containers(spec: JSON) -> list[JSON]:
    out: list[JSON] = []
    for key in ("initContainers", "containers", "ephemeralContainers"):
        out += [c for c in spec.get(key) or [] if isinstance(c, dict)]
    return out


def _names(kind: str, names: list[str]) -> str:
    """`container "a"` or `containers "a", "b"`, as the policy package words them."""
    quoted = ", ".join(f'"{n}"' for n in names)
    return f"{kind}{'s' if len(names) > 1 else ''} {quoted}"


def _sc(obj: JSON) -> JSON:
    return obj.get("securityContext") or {}


def _baseline(spec: JSON) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    containers = _containers(spec)
    pod_sc = _sc(spec)
    host = [f"{k}=true" for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k)]
    if host:
        found.append(("host namespaces", ", ".join(host)))
    privileged = [c["name"] for c in containers if _sc(c).get("privileged")]
    if privileged:
        found.append(
            ("privileged", f"{_names('container', privileged)} must not set securityContext.privileged=true")
        )
    added = []
    for c in containers:
        extra = [
            cap
            for cap in (_sc(c).get("capabilities") or {}).get("add") or []
            if cap not in BASELINE_CAPABILITIES
        ]
        if extra:
            caps = ", ".join(f'"{cap}"' for cap in extra)
            added.append(
                f'container "{c["name"]}" must not include {caps} in securityContext.capabilities.add'
            )
    if added:
        found.append(("non-default capabilities", "; ".join(added)))
    host_paths = [v["name"] for v in spec.get("volumes") or [] if isinstance(v, dict) and "hostPath" in v]
    if host_paths:
        found.append(("hostPath volumes", _names("volume", host_paths)))
    ports = []
    for c in containers:
        used = [str(p["hostPort"]) for p in c.get("ports") or [] if p.get("hostPort")]
        if used:
            word = "hostPorts" if len(used) > 1 else "hostPort"
            ports.append(f"{_names('container', [c['name']])} uses {word} {', '.join(used)}")
    if ports:
        found.append(("hostPort", "; ".join(ports)))
    unconfined = ["pod"] if (pod_sc.get("seccompProfile") or {}).get("type") == "Unconfined" else []
    unconfined += [
        f'container "{c["name"]}"'
        for c in containers
        if (_sc(c).get("seccompProfile") or {}).get("type") == "Unconfined"
    ]
    if unconfined:
        found.append(
            (
                "seccompProfile",
                f'{", ".join(unconfined)} must not set securityContext.seccompProfile.type to "Unconfined"',
            )
        )
    return found


def _restricted(spec: JSON) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    containers = _containers(spec)
    pod_sc = _sc(spec)
    restricted_volumes = []
    for v in spec.get("volumes") or []:
        kind = next((k for k in v if k != "name"), None) if isinstance(v, dict) else None
        if kind is not None and kind not in RESTRICTED_VOLUME_TYPES:
            restricted_volumes.append(f'volume "{v["name"]}" uses restricted volume type "{kind}"')
    if restricted_volumes:
        found.append(("restricted volume types", ", ".join(restricted_volumes)))
    escalating = [c["name"] for c in containers if _sc(c).get("allowPrivilegeEscalation") is not False]
    if escalating:
        found.append(
            (
                "allowPrivilegeEscalation != false",
                f"{_names('container', escalating)} must set securityContext.allowPrivilegeEscalation=false",
            )
        )
    found += _run_as(spec, containers, pod_sc)
    seccomp_ok = (pod_sc.get("seccompProfile") or {}).get("type") in ("RuntimeDefault", "Localhost")
    unset = [
        c["name"]
        for c in containers
        if (_sc(c).get("seccompProfile") or {}).get("type") not in ("RuntimeDefault", "Localhost")
        and not (seccomp_ok and "seccompProfile" not in _sc(c))
    ]
    if unset:
        found.append(
            (
                "seccompProfile",
                f"pod or {_names('container', unset)} must set securityContext.seccompProfile.type to "
                '"RuntimeDefault" or "Localhost"',
            )
        )
    capabilities = []
    for c in containers:
        caps = _sc(c).get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            capabilities.append(f'container "{c["name"]}" must set securityContext.capabilities.drop=["ALL"]')
        extra = [cap for cap in caps.get("add") or [] if cap != "NET_BIND_SERVICE"]
        if extra:
            listed = ", ".join(f'"{cap}"' for cap in extra)
            capabilities.append(
                f'container "{c["name"]}" must not include {listed} in securityContext.capabilities.add'
            )
    if capabilities:
        found.append(("unrestricted capabilities", "; ".join(capabilities)))
    return found


def _run_as(spec: JSON, containers: list[JSON], pod_sc: JSON) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    pod_non_root = pod_sc.get("runAsNonRoot")
    explicit_false = ["pod"] if pod_non_root is False else []
    explicit_false += [f'container "{c["name"]}"' for c in containers if _sc(c).get("runAsNonRoot") is False]
    unset = [c["name"] for c in containers if _sc(c).get("runAsNonRoot") is None and pod_non_root is not True]
    if explicit_false:
        found.append(
            (
                "runAsNonRoot != true",
                f"{', '.join(explicit_false)} must not set securityContext.runAsNonRoot=false",
            )
        )
    elif unset:
        found.append(
            (
                "runAsNonRoot != true",
                f"pod or {_names('container', unset)} must set securityContext.runAsNonRoot=true",
            )
        )
    root = ["pod"] if pod_sc.get("runAsUser") == 0 else []
    root += [f'container "{c["name"]}"' for c in containers if _sc(c).get("runAsUser") == 0]
    if root:
        found.append(("runAsUser=0", f"{', '.join(root)} must not set runAsUser=0"))
    return found


def violations(level: str, spec: JSON) -> list[tuple[str, str]]:
    """(reason, detail) of every check `spec` (a pod spec) fails at `level`, in the plugin's order."""
    if level == "privileged":
        return []
    found = _baseline(spec)
    if level == "restricted":
        # The restricted seccomp check replaces the baseline one (it says the same and more).
        found = [f for f in found if f[0] != "seccompProfile"] + _restricted(spec)
        order = (  # the policy package sorts its checks by id (allowPrivilegeEscalation, ...)
            "allowPrivilegeEscalation != false",
            "non-default capabilities",
            "unrestricted capabilities",
            "host namespaces",
            "hostPath volumes",
            "hostPort",
            "privileged",
            "restricted volume types",
            "runAsNonRoot != true",
            "runAsUser=0",
            "seccompProfile",
        )
        found.sort(key=lambda f: order.index(f[0]))
    return found


def enforced_level(namespace: JSON | None) -> tuple[str, str] | None:
    """(level, version) the namespace enforces, or None (no label, or privileged)."""
    labels = ((namespace or {}).get("metadata") or {}).get("labels") or {}
    level = labels.get(ENFORCE_LABEL)
    if level not in LEVELS or level == "privileged":
        return None
    return level, labels.get(ENFORCE_VERSION_LABEL) or "latest"


def pod_refusal(namespace: JSON | None, pod: JSON) -> str | None:
    """The message a Pod is refused with in `namespace`, or None when it is admitted."""
    enforced = enforced_level(namespace)
    if enforced is None:
        return None
    level, version = enforced
    found = violations(level, pod.get("spec") or {})
    if not found:
        return None
    details = ", ".join(f"{reason} ({detail})" for reason, detail in found)
    return f'violates PodSecurity "{level}:{version}": {details}'
