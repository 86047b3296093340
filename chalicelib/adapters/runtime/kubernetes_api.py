"""KubeApi: the Kubernetes runtime's requests to the API server (docs/decisions/0005).

Owns:
- the client, built on first use (an EKS client describes the cluster, which should not happen at
  import or wiring time), and one API object per group, each imported when first needed (their
  pydantic models cost hundreds of milliseconds each);
- the kinds Railyard writes: how each is applied (server-side apply, field manager "railyard",
  force), read and deleted, and how RBAC and errors name its resource;
- one request with bounded retries of what may pass (no connection, 5xx, 429), the activation's
  heartbeat kept going between attempts, and the API's failures as domain errors: RuntimeRefused
  for RBAC (naming the verb and resource) and rejects, RuntimeUnavailable once the retries are spent;
- access to a namespace: refusing one Railyard does not manage (no managed-by label), and binding
  the tenant ClusterRole there before anything else (docs/kubernetes-rbac.yaml, docs/decisions/0020);
- the variables Secrets of a service (read for a rollback, deleted when no longer needed).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from chalicelib.adapters.runtime import manifests as m
from chalicelib.adapters.runtime import manifests_security as security
from chalicelib.domain.errors import RuntimeRefused, RuntimeUnavailable
from chalicelib.domain.ports import Progress

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
SERVICE_KINDS = ("Ingress", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Service", "Deployment")


class KubeApi:
    """Requests to one cluster. `api_client` is a `kubernetes.client.ApiClient`; `api_client_factory`
    builds one on first use instead."""

    def __init__(
        self,
        api_client: Any = None,
        *,
        api_client_factory: Callable[[], Any] | None = None,
        attempts: int = 3,
        backoff_seconds: float = 0.5,
        connect_timeout: float = 5.0,
        request_timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if api_client is None and api_client_factory is None:
            raise ValueError("KubernetesRuntime needs an api_client or an api_client_factory")
        self._api_client = api_client
        self._api_client_factory = api_client_factory
        self._attempts = max(1, attempts)
        self._backoff = backoff_seconds
        # (connect, read) per request: 3 attempts of at most 35 s each, with progress() between
        # them, stay well inside the Deploy step's 120 s heartbeat.
        self.connect_timeout = connect_timeout
        self._request_timeout = request_timeout
        self._progress = threading.local()  # the running activation's heartbeat, for retries
        self._sleep = sleep
        self._lock = threading.Lock()
        self._apis: dict[str, Any] = {}
        self._bound: set[str] = set()  # namespaces whose RoleBinding this process has seen work

    @property
    def connected(self) -> bool:
        """Whether the client was built (for EKS: the cluster described, a token made)."""
        return self._api_client is not None

    @contextmanager
    def beating(self, progress: Progress) -> Iterator[None]:
        """Requests of this thread call `progress` between their retries meanwhile."""
        self._progress.fn = progress
        try:
            yield
        finally:
            self._progress.fn = None

    def client(self) -> Any:
        with self._lock:
            if self._api_client is None:
                assert self._api_client_factory is not None
                self._api_client = self._api_client_factory()
            return self._api_client

    def api(self, group: str) -> Any:
        with self._lock:
            api = self._apis.get(group)
        if api is not None:
            return api
        from kubernetes import client as k8s

        # One API module at a time: each costs hundreds of milliseconds of pydantic model classes.
        factory = getattr(k8s, _API_CLASSES[group])
        api = factory(self.client())
        with self._lock:
            self._apis[group] = api
        return api

    def beat(self) -> None:
        """Keep the running activation's heartbeat going while a request is retried."""
        progress = getattr(self._progress, "fn", None)
        if progress is not None:
            progress()

    def apply(self, obj: dict[str, Any], manager: str = FIELD_MANAGER, force: bool = True) -> Any:
        group, suffix, namespaced, resource = _KINDS[obj["kind"]]
        meta = obj["metadata"]
        namespace = meta.get("namespace") if namespaced else None
        method = getattr(self.api(group), f"patch_{suffix}")
        args = (meta["name"], namespace) if namespaced else (meta["name"],)
        return self.call(
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

    def read(self, kind: str, namespace: str | None, name: str) -> Any:
        group, suffix, namespaced, resource = _KINDS[kind]
        method = getattr(self.api(group), f"read_{suffix}")
        args = (name, namespace) if namespaced else (name,)
        return self.call_optional("get", resource, namespace, method, *args)

    def delete(self, kind: str, namespace: str, name: str, propagation: str = "Foreground") -> bool:
        """Delete one object; False when it did not exist. Foreground: the call's effects (pods of a
        Deployment gone) are complete once the object itself disappears."""
        from kubernetes.client.exceptions import NotFoundException

        group, suffix, _, resource = _KINDS[kind]
        method = getattr(self.api(group), f"delete_{suffix}")
        try:
            self.call("delete", resource, namespace, method, name, namespace, propagation_policy=propagation)
        except NotFoundException:
            return False
        return True

    def locate(self, service_id: str) -> list[tuple[str, str]]:
        """(namespace, name) of the service's Deployments, found by label in every namespace."""
        apps = self.api("apps")
        found = self.call(
            "list",
            "deployments.apps",
            None,
            apps.list_deployment_for_all_namespaces,
            label_selector=f"{m.SERVICE_ID_LABEL}={m.label_value(service_id)}",
        )
        return [(d.metadata.namespace, d.metadata.name) for d in found.items or []]

    def call_optional(self, verb: str, resource: str, namespace: str | None, fn: Any, *args: Any) -> Any:
        from kubernetes.client.exceptions import NotFoundException

        try:
            return self.call(verb, resource, namespace, fn, *args)
        except NotFoundException:
            return None

    def call(
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
            kwargs.setdefault("_request_timeout", (self.connect_timeout, self._request_timeout))
        reason = ""
        for attempt in range(1, self._attempts + 1):
            try:
                return fn(*args, **kwargs)
            except ApiException as error:
                status = error.status or 0
                message = status_message(error)
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
                reason = connection_reason(error)
            except OSError as error:
                reason = f"{type(error).__name__}: {error}"
            logger.warning(
                "kubernetes %s %s%s failed (attempt %d): %s", verb, resource, where, attempt, reason
            )
            if attempt < self._attempts:
                self.beat()
                self._sleep(self._backoff * 2 ** (attempt - 1))
        raise RuntimeUnavailable(
            f"kubernetes API unavailable: {verb} {resource}{where} failed {self._attempts} times: {reason}"
        )

    def check_namespace(self, namespace: str) -> None:
        """Railyard only ever writes into namespaces it created: one that exists without its
        managed-by label belongs to someone else (a system namespace, another tool's)."""
        existing = self.read("Namespace", None, namespace)
        if existing is None:
            return
        labels = existing.metadata.labels or {}
        if labels.get(m.MANAGED_BY_LABEL) != m.MANAGED_BY:
            raise RuntimeRefused(
                f"namespace {namespace} exists and is not managed by Railyard (no label "
                f"{m.MANAGED_BY_LABEL}={m.MANAGED_BY}); refusing to deploy into it"
            )

    def ensure_access(self, namespace: str, namespace_object: dict[str, Any] | None = None) -> None:
        """The runtime's rights inside a namespace come only from the RoleBinding it creates there
        (the ClusterRole grants `bind` of the tenant role, nothing namespaced). Applied before the
        first namespaced request of a process (with the Namespace itself, when activating), then
        awaited: RBAC answers from a cache that may lag the write by a moment. Namespaces without
        Railyard's prefix are left alone (_check_namespace refuses writing there anyway)."""
        if namespace in self._bound or not namespace.startswith(m.NAMESPACE_PREFIX):
            return
        if namespace_object is not None:
            self.apply(namespace_object)
        self.apply(security.role_binding(namespace))
        core = self.api("core")
        self.call(
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

    def read_variables(self, namespace: str, secret_name: str) -> dict[str, str]:
        import base64

        core = self.api("core")
        secret = self.call_optional(
            "get", "secrets", namespace, core.read_namespaced_secret, secret_name, namespace
        )
        if secret is None:
            raise RuntimeRefused(
                f"the previous release's variables (secret {namespace}/{secret_name}) are gone"
            )
        return {key: base64.b64decode(value).decode() for key, value in (secret.data or {}).items()}

    def delete_secrets(
        self, namespace: str, service_id: str, keep: Any, propagation: str = "Foreground"
    ) -> None:
        core = self.api("core")
        selector = f"{m.SERVICE_ID_LABEL}={m.label_value(service_id)},{m.ROLE_LABEL}=variables"
        secrets = self.call(
            "list", "secrets", namespace, core.list_namespaced_secret, namespace, label_selector=selector
        )
        for secret in secrets.items or []:
            if secret.metadata.name not in keep:
                self.delete("Secret", namespace, secret.metadata.name, propagation)


def status_message(error: Any) -> str:
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


def connection_reason(error: Exception) -> str:
    # MaxRetryError wraps the interesting part (connection refused, timed out, reset).
    inner = getattr(error, "reason", None)
    if inner is not None:
        return f"{type(inner).__name__}: {inner}"
    return f"{type(error).__name__}: {error}"
