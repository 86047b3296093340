"""An in-process Kubernetes API server for tests: real REST, real Status errors, a stepped controller.

No kube-apiserver can run on this machine, so this module serves the parts of the Kubernetes API
that Railyard's runtime adapter, the official ``kubernetes`` Python client (37, which validates
every response with pydantic) and the real ``kubectl`` binary use, over plain HTTP/1.1 on
127.0.0.1. It is test infrastructure: stdlib + PyYAML only, one object store behind one lock.

Fixture contract (``tests/kubernetes/conftest.py``)
---------------------------------------------------
``kube_server`` (function scope) yields a started :class:`KubeApiServer`, stopped on teardown:

* ``.url``: ``"http://127.0.0.1:PORT"``; ``.token``: the bearer token it accepts (a wrong token gets
  401). Requests without credentials are user ``system:anonymous`` and allowed, because kubectl
  never sends a token over plain HTTP; ``.require_auth = True`` rejects them with 401 too.
  ``.username`` (``"test-user"``) is the user of token-authenticated requests.
* ``.step(n=1)``: run the controllers ``n`` rounds. Nothing reconciles on its own, so right after a
  write ``metadata.generation > status.observedGeneration`` is visible until the next step.
* ``.autostep(interval=0.02)``: step from a background thread until ``.stop_autostep()``, the end
  of a ``with server.autostep():`` block, or server teardown. For callers that just wait
  (``kubectl rollout status``, a runtime polling or watching until a rollout completes).
* ``.clock``: the server's time; ``.clock.now()``, ``.clock.advance(seconds)``. Timestamps,
  ``progressDeadlineSeconds`` and ``minReadySeconds`` use it; it never moves by itself.
* ``.never_ready_images``: a set; pods whose image is in it, or contains ``"never-ready"``, run
  but never become Ready (so a rollout stalls and hits ProgressDeadlineExceeded after
  ``clock.advance(deadline + 1)`` and a step). ``.pods_ready_per_step`` (default 1) limits how
  many pods of each ReplicaSet become Ready per step.
* ``.portless_images`` / ``no-port`` in an image: the process never listens, so a ``tcpSocket``
  readiness probe never passes (without a probe the pod is Ready once it runs).
  ``.container_exit_codes`` / ``exits-<code>`` in an image: the process exits at once with that
  code and crash-loops (``apiserver_kubelet``: terminated, then ``CrashLoopBackOff`` with
  ``lastState.terminated``, restarted after 10 s, 20 s, ... of ``clock``).
  ``.container_run_seconds`` / ``exits-<code>-after-<n>s``: the process first runs (and may be
  Ready) for ``n`` seconds of ``clock``, then exits with that code, and so after each restart.
* ``.forbid(verb, resource, namespace=None)``: later requests get a real 403 Forbidden Status, e.g.
  ``deployments.apps "web" is forbidden: User "test-user" cannot patch resource "deployments" in
  API group "apps" in the namespace "ns"``. ``resource`` may be ``"deployments/scale"``; ``verb``
  may be ``"*"``. ``.allow(verb, resource)`` undoes it. ``.inject_error(verb, resource, code=500,
  times=1)`` fails the next matching requests with any Status. ``.unreachable = True`` makes the
  server drop every connection without answering; ``.stop()`` refuses connections outright.
* ``.get_object(group_version, plural, namespace, name) -> dict | None`` and
  ``.objects(plural, namespace=None) -> list[dict]``: deep copies of stored objects, for assertions.
* ``.create_object(obj)``: store an object as a client POST would (defaults, validation, events).
* ``.set_hpa_recommendation(namespace, hpa_name, replicas)``: what the metrics would recommend;
  without one the HPA only enforces min/maxReplicas (what a real HPA does without metrics-server).
* ``.load_balancer_hostname``: when set, LoadBalancer Services and Ingresses get it in
  ``status.loadBalancer.ingress`` on the next step.
* ``.requests``: recent ``(method, path?query, status)`` tuples, recorded before the response is
  sent. ``.controller_errors``: exceptions raised by the simulated controllers in autostep mode
  (the fixture fails the test if any). Tunables: ``.bookmark_interval`` (seconds between watch
  BOOKMARK events, default 1.0), ``.watch_history_limit`` (events kept for watch resumption;
  older resourceVersions get 410 Expired), ``.pods_ready_per_step``.

``kube_api_client`` yields a ``kubernetes.client.ApiClient`` for the server (host + bearer token).
``kubeconfig`` is a kubeconfig file path (cluster ``railyard-test``, no TLS) usable by kubectl and
``kubernetes.config.load_kube_config``.

What is simulated
-----------------
Namespaces, Secrets, ConfigMaps, Services, ServiceAccounts, Pods (v1); Deployments (+status,
+scale) and ReplicaSets (apps/v1); HorizontalPodAutoscalers (autoscaling/v2); Ingresses and
NetworkPolicies (networking.k8s.io/v1); PodDisruptionBudgets (policy/v1); RoleBindings
(rbac.authorization.k8s.io/v1, stored only: requests are not authorized by RBAC). Pod Security
Admission's enforce mode (``apiserver_admission``): a Pod that violates the level its namespace's
``pod-security.kubernetes.io/enforce`` label names is refused with 403 Forbidden; a Deployment's
pods refused that way leave the ReplicaSet and the Deployment with a ``ReplicaFailure`` condition.
Verbs get, list
(labelSelector, fieldSelector, limit/continue, Table output for ``kubectl get``), watch,
create, update, patch (all four content types, see ``apiserver_patch``), delete (propagation
Foreground/Background/Orphan through a simulated garbage collector) and deletecollection.
Discovery comes in both the aggregated (apidiscovery.k8s.io/v2) and the legacy form; a minimal
OpenAPI v3 document tells kubectl that the server validates fields itself. The controllers
(``apiserver_controllers``, ``apiserver_deployment_sync``) follow kube-controller-manager's
deployment controller closely.

Faithful details that surprise people: list items carry no kind/apiVersion; zero-valued
DeploymentStatus counters are omitted (``ready_replicas is None``, not 0); deleting a Deployment
returns a Status, or the object itself while foreground/orphan finalizers are pending; a watch
from a compacted resourceVersion gets HTTP 200 with an ``ERROR`` event carrying a 410 ``Expired``
Status (the Python client raises ``ApiException(410)``); right after a rollback to an existing
ReplicaSet the Progressing reason still says NewReplicaSetAvailable until progress is seen;
a Deployment whose template violates Pod Security is stored, only its pods are refused.

Known gaps: no schema validation (unknown fields are accepted even with fieldValidation=Strict,
field types are not checked; only the validations in ``apiserver_resources.validate``); OpenAPI has
no component schemas (``kubectl explain`` fails) and ``/openapi/v2`` is 404; JSON only (no
protobuf/CBOR); pods are deleted at once (no Terminating phase), probes are only evaluated as the
image markers above say (no liveness or startup probes); one node; proportional scaling during a
rollout is approximate; ReplicaFailure only for pods refused by admission; no terminatingReplicas;
no core/v1 Events; list ``resourceVersion`` / ``resourceVersionMatch`` always serve the current
state; client-supplied managedFields are ignored; the SSA list semantics cover the types above
(other lists are atomic).
"""

from __future__ import annotations

import copy
import random
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import ThreadingHTTPServer
from typing import Any

from tests.kubernetes import apiserver_controllers as controllers
from tests.kubernetes.apiserver_admission import pod_refusal
from tests.kubernetes.apiserver_patch import (
    ApplyConflict,
    PatchError,
    json_patch,
    merge_patch,
    server_side_apply,
    strategic_merge_patch,
    strip_nulls,
    track_update,
)
from tests.kubernetes.apiserver_resources import (
    BY_GROUP_PLURAL,
    RESOURCES,
    FieldError,
    ResourceType,
    apply_defaults,
    find_resource,
    rfc3339,
    validate,
)

JSON = dict[str, Any]

__all__ = ["ApiError", "Clock", "KubeApiServer", "ResourceType", "find_resource"]


class ApiError(Exception):
    """An error answered as a ``kind: Status`` object, exactly as kube-apiserver shapes it."""

    def __init__(self, code: int, reason: str, message: str, details: JSON | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> JSON:
        out: JSON = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details is not None:
            out["details"] = self.details
        out["code"] = self.code
        return out

    # The constructors mirror k8s.io/apimachinery/pkg/api/errors.

    @staticmethod
    def _details(rt: ResourceType, name: str | None, kind: str | None = None) -> JSON:
        details: JSON = {}
        if name:
            details["name"] = name
        if rt.group:
            details["group"] = rt.group
        details["kind"] = kind or rt.plural
        return details

    @classmethod
    def not_found(cls, rt: ResourceType, name: str) -> ApiError:
        return cls(404, "NotFound", f'{rt.qualified} "{name}" not found', cls._details(rt, name))

    @classmethod
    def already_exists(cls, rt: ResourceType, name: str) -> ApiError:
        return cls(409, "AlreadyExists", f'{rt.qualified} "{name}" already exists', cls._details(rt, name))

    @classmethod
    def conflict(cls, rt: ResourceType, name: str, why: str) -> ApiError:
        return cls(
            409,
            "Conflict",
            f'Operation cannot be fulfilled on {rt.qualified} "{name}": {why}',
            cls._details(rt, name),
        )

    @classmethod
    def invalid(cls, rt: ResourceType, name: str, errors: list[FieldError]) -> ApiError:
        parts = [e.message() for e in errors]
        summary = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
        details = cls._details(rt, name, rt.kind)
        details["causes"] = [e.cause() for e in errors]
        return cls(422, "Invalid", f'{rt.qualified_kind} "{name}" is invalid: {summary}', details)

    @classmethod
    def bad_request(cls, message: str) -> ApiError:
        return cls(400, "BadRequest", message)

    @classmethod
    def forbidden(cls, rt: ResourceType, name: str | None, message: str) -> ApiError:
        target = f'{rt.qualified} "{name}"' if name else rt.qualified
        return cls(403, "Forbidden", f"{target} is forbidden: {message}", cls._details(rt, name))


STALE = "the object has been modified; please apply your changes to the latest version and try again"


class Clock:
    """Manual time: starts at the wall clock (whole seconds, UTC) and only moves on ``advance``."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = (start or datetime.now(UTC)).replace(microsecond=0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now

    def stamp(self) -> str:
        return rfc3339(self.now())


@dataclass
class WatchEvent:
    rv: int
    key: str  # ResourceType.key
    namespace: str
    type: str  # ADDED, MODIFIED, DELETED
    obj: JSON
    prev: JSON | None


@dataclass
class Fault:
    verb: str
    resource: str
    namespace: str | None
    code: int
    reason: str
    message: str | None
    times: int | None  # None: forever


class AutoStepper:
    """The background stepping thread; also a context manager (``with server.autostep(): ...``)."""

    def __init__(self, server: KubeApiServer, interval: float) -> None:
        self._server, self._interval = server, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kube-autostep", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._server.step()
            except Exception as exc:  # a simulator bug: keep it for the fixture to report
                self._server.controller_errors.append(exc)
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def __enter__(self) -> AutoStepper:
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop_autostep()


class KubeApiServer:
    """The object store, the write paths of every verb, the controllers' entry point, the HTTP server."""

    def __init__(
        self,
        token: str | None = "railyard-test-token",
        username: str = "test-user",
        seed: int = 0,
        namespaces: tuple[str, ...] = ("default", "kube-system", "kube-public", "kube-node-lease"),
    ) -> None:
        self.token = token
        self.username = username
        self.require_auth = False
        self.clock = Clock()
        self.never_ready_images: set[str] = set()
        # How processes behave (apiserver_kubelet): images that never listen, and exit codes.
        self.portless_images: set[str] = set()
        self.container_exit_codes: dict[str, int] = {}
        self.container_run_seconds: dict[str, int] = {}
        self.pods_ready_per_step = 1
        self.bookmark_interval = 1.0
        self.watch_history_limit = 2000
        self.unreachable = False
        self.load_balancer_hostname: str | None = None
        self.hpa_recommendations: dict[tuple[str, str], int] = {}
        # ReplicaSet uid -> why its last pod creation was refused (its ReplicaFailure condition).
        self.replica_failures: dict[str, str] = {}
        self.requests: deque[tuple[str, str, int]] = deque(maxlen=2000)
        self.url = ""
        self.stopping = False
        self._lock = threading.RLock()
        self.changed = threading.Condition(self._lock)
        self._store: dict[tuple[str, str, str], JSON] = {}
        self._rv = 0
        self._history: deque[WatchEvent] = deque()
        self._compacted_rv = 0
        self._faults: list[Fault] = []
        self._random = random.Random(seed)
        self._ip_counter = 10
        self._node_port = 30000
        self._httpd: ThreadingHTTPServer | None = None
        self._serve_thread: threading.Thread | None = None
        self._autostepper: AutoStepper | None = None
        self._connections: set[Any] = set()
        self.controller_errors: list[BaseException] = []
        for ns in namespaces:
            self.create_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> KubeApiServer:
        from tests.kubernetes.apiserver_http import make_http_server

        self._httpd = make_http_server(self)
        port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{port}"
        self._serve_thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="kube-apiserver",
            daemon=True,
        )
        self._serve_thread.start()
        return self

    def stop(self) -> None:
        """Stop stepping, end watches, close client connections and join every server thread."""
        self.stop_autostep()
        with self._lock:
            self.stopping = True
            self.changed.notify_all()
        if self._httpd is not None:
            self._httpd.shutdown()
            for conn in list(self._connections):
                try:
                    import socket

                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._httpd.server_close()  # joins the request threads (daemon_threads is off)
            self._httpd = None
        if self._serve_thread is not None:
            self._serve_thread.join(timeout=5)
            self._serve_thread = None

    def __enter__(self) -> KubeApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def register_connection(self, conn: Any, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    # ------------------------------------------------------------------ stepping

    def step(self, n: int = 1) -> None:
        """Run every controller ``n`` rounds (garbage collector, HPA, deployments, replica sets, kubelet)."""
        for _ in range(n):
            with self._lock:
                controllers.step(self)

    def autostep(self, interval: float = 0.02) -> AutoStepper:
        self.stop_autostep()
        self._autostepper = AutoStepper(self, interval)
        return self._autostepper

    def stop_autostep(self) -> None:
        stepper, self._autostepper = self._autostepper, None
        if stepper is not None:
            stepper.stop()

    def image_ready(self, image: str) -> bool:
        """Whether pods running ``image`` ever pass their readiness check."""
        return image not in self.never_ready_images and "never-ready" not in image

    def set_hpa_recommendation(self, namespace: str, name: str, replicas: int) -> None:
        with self._lock:
            self.hpa_recommendations[(namespace, name)] = replicas

    # ------------------------------------------------------------------ faults

    def forbid(self, verb: str, resource: str, namespace: str | None = None) -> None:
        with self._lock:
            self._faults.append(Fault(verb, resource, namespace, 403, "Forbidden", None, None))

    def allow(self, verb: str, resource: str) -> None:
        with self._lock:
            self._faults = [
                f for f in self._faults if not (f.code == 403 and (f.verb, f.resource) == (verb, resource))
            ]

    def inject_error(
        self,
        verb: str,
        resource: str,
        code: int = 500,
        reason: str = "InternalError",
        message: str | None = None,
        times: int | None = 1,
        namespace: str | None = None,
    ) -> None:
        with self._lock:
            self._faults.append(Fault(verb, resource, namespace, code, reason, message, times))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def check_faults(
        self, verb: str, rt: ResourceType, sub: str, namespace: str, name: str | None, user: str | None = None
    ) -> None:
        """Raise the Status an injected fault asks for (authorization comes before anything else)."""
        resource = f"{rt.plural}/{sub}" if sub else rt.plural
        with self._lock:
            for fault in list(self._faults):
                if fault.verb not in ("*", verb) or fault.resource not in ("*", resource, rt.qualified):
                    continue
                if fault.namespace is not None and fault.namespace != namespace:
                    continue
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                if fault.code == 403 and fault.message is None:
                    scope = (
                        f'in the namespace "{namespace}"'
                        if rt.namespaced and namespace
                        else "at the cluster scope"
                    )
                    raise ApiError.forbidden(
                        rt,
                        name,
                        f'User "{user or self.username}" cannot {verb} resource "{resource}" '
                        f'in API group "{rt.group}" {scope}',
                    )
                message = fault.message or f"Internal error occurred: injected failure for {verb} {resource}"
                raise ApiError(fault.code, fault.reason, message, ApiError._details(rt, name))

    # ------------------------------------------------------------------ read helpers (for tests)

    def get_object(self, group_version: str, plural: str, namespace: str | None, name: str) -> JSON | None:
        group = group_version.split("/")[0] if "/" in group_version else ""
        rt = BY_GROUP_PLURAL.get((group, plural)) or find_resource(plural)
        with self._lock:
            obj = self._store.get((rt.key, (namespace or "") if rt.namespaced else "", name))
            return copy.deepcopy(obj) if obj is not None else None

    def objects(self, plural: str, namespace: str | None = None) -> list[JSON]:
        rt = find_resource(plural)
        with self._lock:
            return [copy.deepcopy(o) for o in self.list_stored(rt, namespace)]

    def create_object(self, obj: JSON, manager: str = "test-fixture") -> JSON:
        api_version = obj.get("apiVersion", "v1")
        group = api_version.split("/")[0] if "/" in api_version else ""
        rt = next(r for r in RESOURCES if r.group == group and r.kind == obj.get("kind"))
        ns = (obj.get("metadata") or {}).get("namespace") or ("default" if rt.namespaced else "")
        with self._lock:
            return copy.deepcopy(self.create(rt, ns, obj, manager))

    # ------------------------------------------------------------------ store primitives (lock held)

    @property
    def resource_version(self) -> int:
        return self._rv

    @property
    def compacted_rv(self) -> int:
        return self._compacted_rv

    def stored(self, rt: ResourceType, namespace: str, name: str) -> JSON | None:
        return self._store.get((rt.key, namespace if rt.namespaced else "", name))

    def list_stored(self, rt: ResourceType, namespace: str | None = None) -> list[JSON]:
        keys = sorted(k for k in self._store if k[0] == rt.key and (not namespace or k[1] == namespace))
        return [self._store[k] for k in keys]

    def events_after(self, rv: int) -> list[WatchEvent]:
        out: list[WatchEvent] = []
        for event in reversed(self._history):  # newest first: usually only a few are new
            if event.rv <= rv:
                break
            out.append(event)
        out.reverse()
        return out

    def new_uid(self) -> str:
        return str(uuid.UUID(int=self._random.getrandbits(128), version=4))

    def random_suffix(self, n: int = 5) -> str:
        # utilrand.String: the alphabet without vowels and confusable characters.
        return "".join(self._random.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(n))

    def next_ip(self, prefix: str) -> str:
        self._ip_counter += 1
        return f"{prefix}.{self._ip_counter // 250}.{self._ip_counter % 250 + 1}"

    def _commit(
        self, rt: ResourceType, ns: str, name: str, obj: JSON | None, event: str, prev: JSON | None
    ) -> JSON:
        """Persist a write: bump the global resourceVersion, store, record the watch event, wake watchers."""
        self._rv += 1
        key = (rt.key, ns if rt.namespaced else "", name)
        final = obj if obj is not None else copy.deepcopy(prev)
        assert final is not None
        final["metadata"]["resourceVersion"] = str(self._rv)
        if event == "DELETED":
            self._store.pop(key, None)
        else:
            self._store[key] = final
        self._history.append(WatchEvent(self._rv, rt.key, key[1], event, copy.deepcopy(final), prev))
        while len(self._history) > self.watch_history_limit:
            self._compacted_rv = self._history.popleft().rv
        self.changed.notify_all()
        return final

    # ------------------------------------------------------------------ write paths (lock held)

    def _check_namespace(self, rt: ResourceType, ns: str) -> None:
        if not rt.namespaced:
            return
        nso = self._store.get(("/namespaces", "", ns))
        ns_rt = BY_GROUP_PLURAL[("", "namespaces")]
        if nso is None:
            raise ApiError.not_found(ns_rt, ns)
        if nso["metadata"].get("deletionTimestamp"):
            raise ApiError(
                403,
                "Forbidden",
                f"{rt.qualified} is forbidden: unable to create new content in namespace {ns} "
                "because it is being terminated",
                {"group": rt.group, "kind": rt.plural} if rt.group else {"kind": rt.plural},
            )

    def _check_type(self, rt: ResourceType, obj: JSON) -> None:
        if not isinstance(obj, dict):
            raise ApiError.bad_request("the body of the request was not a JSON object")
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if api_version and api_version != rt.group_version:
            raise ApiError.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version "
                f"({rt.group_version})"
            )
        if kind and kind != rt.kind:
            raise ApiError.bad_request(
                f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})"
            )

    def _normalise(self, rt: ResourceType, obj: JSON) -> JSON:
        obj = strip_nulls(copy.deepcopy(obj))
        obj["apiVersion"], obj["kind"] = rt.group_version, rt.kind
        obj.setdefault("metadata", {})
        if rt.plural == "secrets" and obj.get("stringData"):
            import base64

            data = obj.setdefault("data", {})
            for k, v in obj.pop("stringData").items():
                data[k] = base64.b64encode(str(v).encode()).decode()
        obj.pop("stringData", None)
        return obj

    def _order(self, obj: JSON) -> JSON:
        """Key order like the Go structs (kind, apiVersion, metadata, spec, status) for readable output."""
        head = ("kind", "apiVersion", "metadata", "spec")
        out = {k: obj[k] for k in head if k in obj}
        out.update({k: v for k, v in obj.items() if k not in head and k != "status"})
        if "status" in obj:
            out["status"] = obj["status"]
        return out

    def create(
        self,
        rt: ResourceType,
        ns: str,
        body: JSON,
        manager: str,
        dry_run: bool = False,
        managed: list[JSON] | None = None,
    ) -> JSON:
        self._check_type(rt, body)
        obj = self._normalise(rt, body)
        meta = obj["metadata"]
        if meta.get("resourceVersion"):
            raise ApiError(500, "InternalError", "resourceVersion should not be set on objects to be created")
        if rt.namespaced:
            if meta.get("namespace") and meta["namespace"] != ns:
                raise ApiError.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = ns
        else:
            meta.pop("namespace", None)
        if not meta.get("name"):
            if meta.get("generateName"):
                meta["name"] = meta["generateName"] + self.random_suffix()
            else:
                raise ApiError.invalid(
                    rt,
                    "",
                    [FieldError("metadata.name", "FieldValueRequired", "name or generateName is required")],
                )
        name = meta["name"]
        self._check_namespace(rt, ns)
        if self.stored(rt, ns, name) is not None:
            raise ApiError.already_exists(rt, name)
        for k in (
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
        ):
            meta.pop(k, None)
        meta.pop("managedFields", None)
        if "status" in rt.subresources:
            obj["status"] = {}  # PrepareForCreate: clients cannot create status
        apply_defaults(rt, obj)
        errors = validate(rt, obj, None)
        if errors:
            raise ApiError.invalid(rt, name, errors)
        if rt.key == "/pods":  # the PodSecurity admission plugin (enforce mode: pods only)
            refusal = pod_refusal(self._store.get(("/namespaces", "", ns)), obj)
            if refusal is not None:
                raise ApiError.forbidden(rt, name, refusal)
        controllers.allocate(self, rt, obj, None)
        meta["uid"] = self.new_uid()
        meta["creationTimestamp"] = self.clock.stamp()
        if rt.has_generation:
            meta["generation"] = 1
        if managed is None:
            managed = track_update(None, obj, rt.kind, manager, rt.group_version, "", self.clock.stamp())
        if managed:
            meta["managedFields"] = managed
        obj = self._order(obj)
        if dry_run:
            meta["resourceVersion"] = str(self._rv)
            return obj
        return self._commit(rt, ns, name, obj, "ADDED", None)

    def update(
        self,
        rt: ResourceType,
        ns: str,
        name: str,
        body: JSON,
        manager: str,
        subresource: str = "",
        dry_run: bool = False,
        managed: list[JSON] | None = None,
    ) -> JSON:
        """Replace an object (PUT, or a patch result); returns the stored object, unchanged on a no-op."""
        self._check_type(rt, body)
        old = self.stored(rt, ns, name)
        if old is None:
            raise ApiError.not_found(rt, name)
        new = self._normalise(rt, body)
        meta, old_meta = new["metadata"], old["metadata"]
        if meta.get("name") and meta["name"] != name:
            raise ApiError.bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL ({name})"
            )
        if rt.namespaced and meta.get("namespace") and meta["namespace"] != ns:
            raise ApiError.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        wanted_rv = meta.get("resourceVersion")
        if wanted_rv and wanted_rv != old_meta["resourceVersion"]:
            raise ApiError.conflict(rt, name, STALE)
        if meta.get("uid") and meta["uid"] != old_meta["uid"]:
            raise ApiError.conflict(
                rt,
                name,
                f"Precondition failed: UID in precondition: {meta['uid']}, "
                f"UID in object meta: {old_meta['uid']}",
            )
        for k in (
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        ):
            if k in old_meta:
                meta[k] = old_meta[k]
            else:
                meta.pop(k, None)
        meta["resourceVersion"] = old_meta["resourceVersion"]
        if subresource == "status":
            # Status strategies keep the spec (and, for Deployments, the labels) of the stored object.
            if "spec" in old:
                new["spec"] = copy.deepcopy(old["spec"])
            if rt.plural == "deployments":
                if "labels" in old_meta:
                    meta["labels"] = copy.deepcopy(old_meta["labels"])
                else:
                    meta.pop("labels", None)
        elif "status" in rt.subresources:
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        apply_defaults(rt, new)
        if rt.has_generation:
            generation = old_meta.get("generation", 1)
            spec_changed = new.get("spec") != old.get("spec")
            # Deployments also bump on annotation changes: they are copied to the ReplicaSets.
            if rt.plural == "deployments" and subresource != "status":
                spec_changed = spec_changed or meta.get("annotations") != old_meta.get("annotations")
            # Only writes to the main resource or /scale change the spec; bindings and status never bump.
            meta["generation"] = (
                generation + 1 if spec_changed and subresource in ("", "scale") else generation
            )
        errors = validate(rt, new, old) if subresource != "status" else []
        if errors:
            raise ApiError.invalid(rt, name, errors)
        controllers.allocate(self, rt, new, old)
        meta.pop("managedFields", None)
        if managed is None:
            managed = track_update(
                old, new, rt.kind, manager, rt.group_version, subresource, self.clock.stamp()
            )
        if managed:
            meta["managedFields"] = managed
        new = self._order(new)
        if new == old:
            return old  # a no-op write does not bump resourceVersion (etcd3 store skips it)
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            if dry_run:
                return new
            return self._commit(rt, ns, name, None, "DELETED", new)
        if dry_run:
            return new
        return self._commit(rt, ns, name, new, "MODIFIED", old)

    def patch(
        self,
        rt: ResourceType,
        ns: str,
        name: str,
        content_type: str,
        patch_body: Any,
        manager: str,
        force: bool,
        subresource: str = "",
        dry_run: bool = False,
    ) -> tuple[int, JSON]:
        """Apply one of the four patch types; returns (HTTP status, object)."""
        old = self.stored(rt, ns, name)
        if content_type == "application/apply-patch+yaml":
            if not manager:
                raise ApiError(
                    422,
                    "Invalid",
                    'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
                    "is required for apply patch",
                    {
                        "group": "meta.k8s.io",
                        "kind": "PatchOptions",
                        "causes": [
                            {
                                "reason": "FieldValueRequired",
                                "message": "Required value: is required for apply patch",
                                "field": "fieldManager",
                            }
                        ],
                    },
                )
            if not isinstance(patch_body, dict):
                raise ApiError.bad_request("error decoding YAML: the apply configuration must be an object")
            self._check_type(rt, patch_body)
            if not patch_body.get("apiVersion") or not patch_body.get("kind"):
                raise ApiError.bad_request("apiVersion and kind must be set in an apply configuration")
            body_name = (patch_body.get("metadata") or {}).get("name")
            if body_name and body_name != name:
                raise ApiError.bad_request(
                    f"the name of the object ({body_name}) does not match the name on the URL ({name})"
                )
            now = self.clock.stamp()
            try:
                if old is None:
                    if subresource:
                        raise ApiError.not_found(rt, name)
                    base: JSON = {"apiVersion": rt.group_version, "kind": rt.kind, "metadata": {"name": name}}
                    merged, managed = server_side_apply(
                        None, patch_body, rt.kind, manager, rt.group_version, "", force, now
                    )
                    merged = {
                        **base,
                        **merged,
                        "metadata": {**base["metadata"], **(merged.get("metadata") or {})},
                    }
                    return 201, self.create(rt, ns, merged, manager, dry_run, managed=managed)
                merged, managed = server_side_apply(
                    old, patch_body, rt.kind, manager, rt.group_version, subresource, force, now
                )
            except ApplyConflict as conflict:
                details = ApiError._details(rt, name)
                details["causes"] = conflict.causes()
                raise ApiError(409, "Conflict", conflict.message(), details) from None
            return 200, self.update(rt, ns, name, merged, manager, subresource, dry_run, managed=managed)
        if old is None:
            raise ApiError.not_found(rt, name)
        current = copy.deepcopy(old)
        try:
            if content_type == "application/json-patch+json":
                patched = json_patch(current, patch_body)
            elif content_type == "application/merge-patch+json":
                patched = merge_patch(current, patch_body)
            elif content_type == "application/strategic-merge-patch+json":
                patched = strategic_merge_patch(current, patch_body, rt.kind)
            else:
                raise ApiError(
                    415,
                    "UnsupportedMediaType",
                    f"the body of the request was in an unknown format - accepted media types include: "
                    "application/json-patch+json, application/merge-patch+json, "
                    "application/apply-patch+yaml, application/strategic-merge-patch+json "
                    f"(got {content_type})",
                )
        except PatchError as err:
            if err.code == 400:
                raise ApiError.bad_request(str(err)) from None
            raise ApiError(422, "Invalid", str(err)) from None
        if not isinstance(patched, dict):
            raise ApiError.bad_request("the patch produced a value that is not an object")
        # The patched copy still carries the stored resourceVersion unless the patch set one, in
        # which case it acts as a precondition (409 when stale), as on a real server.
        return 200, self.update(rt, ns, name, patched, manager, subresource, dry_run)

    def delete(
        self, rt: ResourceType, ns: str, name: str, options: JSON, dry_run: bool = False
    ) -> tuple[int, JSON]:
        """DELETE one object: immediate, or pending on finalizers (foreground/orphan) for the GC to finish."""
        obj = self.stored(rt, ns, name)
        if obj is None:
            raise ApiError.not_found(rt, name)
        pre = options.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != obj["metadata"]["uid"]:
            raise ApiError.conflict(
                rt,
                name,
                f"Precondition failed: UID in precondition: {pre['uid']}, "
                f"UID in object meta: {obj['metadata']['uid']}",
            )
        if pre.get("resourceVersion") and pre["resourceVersion"] != obj["metadata"]["resourceVersion"]:
            raise ApiError.conflict(
                rt,
                name,
                f"Precondition failed: ResourceVersion in precondition: {pre['resourceVersion']}, "
                f"ResourceVersion in object meta: {obj['metadata']['resourceVersion']}",
            )
        policy = options.get("propagationPolicy")
        if policy is None and options.get("orphanDependents") is not None:
            policy = "Orphan" if options["orphanDependents"] else "Background"
        if policy not in (None, "Foreground", "Background", "Orphan"):
            raise ApiError(
                422,
                "Invalid",
                f'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "{policy}": '
                'supported values: "Foreground", "Background", "Orphan", "nil"',
            )
        new = copy.deepcopy(obj)
        meta = new["metadata"]
        if meta.get("deletionTimestamp"):
            return 200, obj  # already being deleted; the real server answers with the object as it is
        finalizers = list(meta.get("finalizers") or [])
        if rt.plural == "namespaces":
            meta["deletionTimestamp"] = self.clock.stamp()
            meta["deletionGracePeriodSeconds"] = 0
            new.setdefault("status", {})["phase"] = "Terminating"
            return 200, (new if dry_run else self._commit(rt, ns, name, new, "MODIFIED", obj))
        if policy == "Foreground" and "foregroundDeletion" not in finalizers:
            finalizers.append("foregroundDeletion")
        if policy == "Orphan" and "orphan" not in finalizers:
            finalizers.append("orphan")
        if finalizers:
            meta["finalizers"] = finalizers
            meta["deletionTimestamp"] = self.clock.stamp()
            meta["deletionGracePeriodSeconds"] = 0
            if "generation" in meta:
                meta["generation"] += 1  # setting deletionTimestamp bumps generation, as in the real store
            status_code = 202 if options.get("orphanDependents") is False else 200
            return status_code, (new if dry_run else self._commit(rt, ns, name, new, "MODIFIED", obj))
        if dry_run:
            return 200, obj
        final = self._commit(rt, ns, name, None, "DELETED", obj)
        if rt.return_deleted_object:
            return 200, final
        details = {"name": name}
        if rt.group:
            details["group"] = rt.group
        details.update({"kind": rt.plural, "uid": obj["metadata"]["uid"]})
        return 200, {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": details,
        }

    def delete_now(self, rt: ResourceType, obj: JSON) -> None:
        """Remove an object for a controller (GC, namespace finalizer), emitting DELETED."""
        meta = obj["metadata"]
        if self.stored(rt, meta.get("namespace", ""), meta["name"]) is obj:
            self._commit(rt, meta.get("namespace", ""), meta["name"], None, "DELETED", obj)

    def controller_write(self, rt: ResourceType, obj: JSON, subresource: str = "") -> JSON:
        """An Update by kube-controller-manager (or the kubelet for pods), with its managedFields entry.

        Unconditional (no resourceVersion precondition): controllers run under the store lock, so
        nothing can have changed the object since they read it in this step.
        """
        obj = dict(obj, metadata={k: v for k, v in obj["metadata"].items() if k != "resourceVersion"})
        meta = obj["metadata"]
        manager = "kubelet" if rt.plural == "pods" and subresource == "status" else "kube-controller-manager"
        return self.update(rt, meta.get("namespace", ""), meta["name"], obj, manager, subresource)

    def controller_create(self, rt: ResourceType, obj: JSON) -> JSON:
        ns = obj["metadata"].get("namespace", "")
        return self.create(rt, ns, obj, "kube-controller-manager")

    def iter_all(self) -> Iterator[tuple[ResourceType, JSON]]:
        for key in sorted(self._store):
            rt = next(r for r in RESOURCES if r.key == key[0])
            yield rt, self._store[key]

    def with_lock(self, fn: Callable[[], Any]) -> Any:
        with self._lock:
            return fn()
