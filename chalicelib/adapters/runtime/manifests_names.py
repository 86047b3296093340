"""The names and labels of a release's Kubernetes objects: the namespace (`ry-<environment id>`),
the service's objects, the content-addressed Secret of its variables, the public host, and the
label and annotation keys the runtime finds them by (docs/decisions/0005).

Pure and deterministic, like every manifests module: the same spec always gets the same names.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from chalicelib.adapters.runtime import manifests_security as security
from chalicelib.domain.ports import ReleaseSpec

MANAGED_BY = security.MANAGED_BY
MANAGED_BY_LABEL = security.MANAGED_BY_LABEL
NETWORK_POLICY_NAME = security.NETWORK_POLICY_NAME
CONTAINER_NAME = "app"
PORT_NAME = "http"
SERVICE_PORT = 80

# Label and annotation keys.
NAME_LABEL = "app.kubernetes.io/name"
PROJECT_LABEL = "railyard.dev/project"
ENVIRONMENT_LABEL = "railyard.dev/environment"
ENVIRONMENT_ID_LABEL = "railyard.dev/environment-id"
PROJECT_ANNOTATION = "railyard.dev/project-name"  # the names in full (label values are cut at 63)
ENVIRONMENT_ANNOTATION = "railyard.dev/environment-name"
NAMESPACE_PREFIX = "ry-"
SERVICE_ID_LABEL = "railyard.dev/service-id"
ROLE_LABEL = "railyard.dev/role"
RELEASE_ID_ANNOTATION = "railyard.dev/release-id"
DEPLOYMENT_ID_ANNOTATION = "railyard.dev/deployment-id"
RELEASE_ANNOTATION = "railyard.dev/release"  # the release this Deployment runs, see release_record
PREVIOUS_RELEASE_ANNOTATION = "railyard.dev/previous-release"
# The last release whose rollout completed (same record format), written by the runtime with a
# metadata-only patch after a successful rollout: what a later failure rolls back to.
LIVE_RELEASE_ANNOTATION = "railyard.dev/live-release"
RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt"

_NOT_LABEL_CHARS = re.compile(r"[^a-z0-9-]+")
_NOT_VALUE_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")


def dns_label(text: str, fallback: str = "railyard", max_length: int = 63, letter_first: bool = True) -> str:
    """A DNS-1035 label (lowercase alphanumerics and '-', starting with a letter, at most 63):
    valid as a Namespace, Service, Deployment or Ingress name; with `letter_first=False` a DNS-1123
    label (a host name's label may start with a digit). Names too long keep a hash suffix so two
    long names stay distinct."""
    label = _NOT_LABEL_CHARS.sub("-", text.lower()).strip("-")
    label = re.sub(r"-{2,}", "-", label)
    if not label:
        label = fallback
    if letter_first and not label[0].isalpha():
        label = "x-" + label
    if len(label) > max_length:
        digest = hashlib.sha256(text.encode()).hexdigest()[:8]
        label = label[: max_length - 9].rstrip("-") + "-" + digest
    return label


def label_value(text: str) -> str:
    """A valid label value (at most 63 characters, alphanumeric at both ends)."""
    value = _NOT_VALUE_CHARS.sub("-", text)[:63]
    return value.strip("-_.")


def namespace_name(spec: ReleaseSpec) -> str:
    """`ry-<environment id>`: ids are globally unique and never chosen by users, so no two
    environments share a namespace and none lands in a system namespace (kube-system). The prefix
    keeps Railyard's namespaces apart from everything else in the cluster."""
    if spec.environment_id:
        return environment_namespace(spec.environment_id)
    # Without an id (older callers): the names, with a hash of the pair, so "a-b"/"c" and "a"/"b-c"
    # still differ.
    pair = json.dumps([spec.project, spec.environment])
    return _prefixed_label(f"{spec.project}-{spec.environment}"[:40] + "-" + _short_hash(pair), pair)


def environment_namespace(environment_id: str) -> str:
    """The namespace of an environment's releases (namespace_name of a spec carrying its id)."""
    return _prefixed_label(environment_id.lower().replace("_", "-"), environment_id)


def private_domain(service: str, environment_id: str) -> str:
    """The cluster DNS name of a service's Service object: what other pods reach it at."""
    return (
        f"{dns_label(service, fallback='service')}.{environment_namespace(environment_id)}.svc.cluster.local"
    )


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _prefixed_label(text: str, original: str) -> str:
    budget = 63 - len(NAMESPACE_PREFIX)
    label = dns_label(text, letter_first=False, max_length=budget)
    if label != text:  # cleaned up or cut: keep it unique to the original
        label = dns_label(label[: budget - 9], letter_first=False) + "-" + _short_hash(original)
    return NAMESPACE_PREFIX + label


def service_name(spec: ReleaseSpec) -> str:
    return dns_label(spec.service or spec.service_id, fallback="service")


def public_host(hostname: str, base_domain: str) -> str:
    """The generated public host name of a service: `<hostname>.<base domain>`, unchanged for every
    hostname that is already a DNS label; a longer one is shortened (labels stop at 63 characters)."""
    return f"{dns_label(hostname, fallback='service', letter_first=False)}.{base_domain.strip('.').lower()}"


def variables_digest(variables: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for key in sorted(variables):
        for part in (key, variables[key]):
            digest.update(len(part).to_bytes(8, "big") + part.encode())
    return digest.hexdigest()


def variables_secret_name(spec: ReleaseSpec) -> str:
    """Content-addressed: new variables are a new Secret, so the pod template changes and the
    pods roll, and pods of the previous ReplicaSet keep the variables they started with."""
    return f"{service_name(spec)[:40].rstrip('-')}-vars-{variables_digest(spec.variables)[:12]}"


def service_labels(spec: ReleaseSpec) -> dict[str, str]:
    labels = {
        NAME_LABEL: service_name(spec),
        MANAGED_BY_LABEL: MANAGED_BY,
        SERVICE_ID_LABEL: label_value(spec.service_id),
    }
    if spec.project:
        labels[PROJECT_LABEL] = label_value(spec.project)
    if spec.environment:
        labels[ENVIRONMENT_LABEL] = label_value(spec.environment)
    return labels


def selector_labels(spec: ReleaseSpec) -> dict[str, str]:
    """Immutable once the Deployment exists: only what never changes for a service."""
    return {NAME_LABEL: service_name(spec), SERVICE_ID_LABEL: label_value(spec.service_id)}


def object_metadata(spec: ReleaseSpec, name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": namespace_name(spec), "labels": service_labels(spec), **extra}
