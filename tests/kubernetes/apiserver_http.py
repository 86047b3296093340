"""HTTP/1.1 front end of the test API server: routing, content negotiation, watch streams.

The URL layout, query parameters, status codes and content types are the ones kube-apiserver
uses, because both the Python client and kubectl (client-go) are strict about them: kubectl
negotiates aggregated discovery and Table output through ``Accept``, reads watch streams as
chunked newline-delimited JSON, and expects a ``kind: Status`` body on every error.
"""

from __future__ import annotations

import base64
import copy
import json
import socket
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

from tests.kubernetes.apiserver import ApiError
from tests.kubernetes.apiserver_resources import (
    BY_GROUP_PLURAL,
    GROUP_VERSIONS,
    ResourceType,
    SelectorError,
    aggregated_discovery,
    api_group,
    api_group_list,
    api_resource_list,
    api_versions,
    fields_match,
    label_selector_string,
    labels_match,
    openapi_v3_group_version,
    openapi_v3_root,
    parse_field_selector,
    parse_label_selector,
    table_cells,
    table_columns,
)

if TYPE_CHECKING:
    from tests.kubernetes.apiserver import KubeApiServer

JSON = dict[str, Any]
NOT_FOUND = "the server could not find the requested resource"
AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
MAX_WATCH_SECONDS = 1800.0
VERSION = {
    "major": "1",
    "minor": "37",
    "emulationMajor": "1",
    "emulationMinor": "37",
    "minCompatibilityMajor": "1",
    "minCompatibilityMinor": "36",
    "gitVersion": "v1.37.0",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.25.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}


class _Streamed(Exception):
    """Raised after a watch has written its own response."""


class KubeHTTPServer(ThreadingHTTPServer):
    # Request threads are joined on server_close (daemon_threads off), so nothing outlives stop().
    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True

    def __init__(self, kube: KubeApiServer) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.kube = kube


def make_http_server(kube: KubeApiServer) -> KubeHTTPServer:
    return KubeHTTPServer(kube)


def _strip_type(obj: JSON) -> JSON:
    """Items of a list response carry no kind/apiVersion on a real server."""
    return {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kube-apiserver-test/1.37"
    timeout = 60  # an idle keep-alive connection is dropped eventually even if stop() misses it
    server: KubeHTTPServer
    user = "system:anonymous"

    # ------------------------------------------------------------------ plumbing

    @property
    def kube(self) -> KubeApiServer:
        return self.server.kube

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without TCP_NODELAY, Nagle + delayed ACK
        # add ~40 ms to every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.kube.register_connection(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.kube.register_connection(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            return self.rfile.read(length)
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return b""

    def _send(self, status: int, payload: Any, content_type: str = "application/json") -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _handle(self, method: str) -> None:
        kube = self.kube
        body = self._read_body()
        if kube.unreachable or kube.stopping:
            # Drop the connection without a response, as an unreachable or dying apiserver does.
            self.close_connection = True
            return
        try:
            self.user = self._authenticate()
            status, payload, content_type = self._route(method, body)
        except _Streamed:
            return  # the watch recorded itself when it started streaming
        except ApiError as err:
            status, payload, content_type = err.code, err.status(), "application/json"
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            return
        except Exception as exc:  # a bug in the simulator: answer like an apiserver panic would
            traceback.print_exc()
            status, content_type = 500, "application/json"
            payload = ApiError(500, "InternalError", f"Internal error occurred: {exc!r}").status()
        # Record before answering, so a client that got the response always finds its request here.
        kube.requests.append((method, self.path, status))
        try:
            self._send(status, payload, content_type)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _authenticate(self) -> str:
        """Return the user name, or raise 401 like the apiserver's authentication filter.

        A wrong token is always rejected. A request without credentials is anonymous
        (``system:anonymous``) unless ``require_auth`` is set: kubectl never sends a bearer token
        over plain HTTP (client-go only attaches credentials to TLS connections), so kubectl tests
        run anonymously while the Python client authenticates with the token.
        """
        kube = self.kube
        header = self.headers.get("Authorization") or ""
        if not header:
            if kube.require_auth:
                raise ApiError(401, "Unauthorized", "Unauthorized")
            return "system:anonymous"
        if kube.token is not None and header != f"Bearer {kube.token}":
            raise ApiError(401, "Unauthorized", "Unauthorized")
        return kube.username

    # ------------------------------------------------------------------ routing

    def _route(self, method: str, body: bytes) -> tuple[int, Any, str]:
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        path = parts.path.rstrip("/") or "/"
        accept = self.headers.get("Accept") or ""
        segments = [unquote(s) for s in path.split("/") if s]
        if path in ("/healthz", "/livez", "/readyz"):
            return 200, b"ok", "text/plain; charset=utf-8"
        if path == "/version":
            return 200, VERSION, "application/json"
        if path in ("/api", "/apis"):
            if "as=APIGroupDiscoveryList" in accept and "apidiscovery.k8s.io" in accept:
                return 200, aggregated_discovery(core=path == "/api"), AGGREGATED
            if path == "/api":
                return 200, api_versions(self.kube.url.removeprefix("http://")), "application/json"
            return 200, api_group_list(), "application/json"
        if path == "/openapi/v3":
            return 200, openapi_v3_root(), "application/json"
        if path.startswith("/openapi/v3/"):
            rel = path.removeprefix("/openapi/v3/")
            gv = rel.removeprefix("api/") if rel.startswith("api/") else rel.removeprefix("apis/")
            if gv in GROUP_VERSIONS:
                return 200, openapi_v3_group_version(gv), "application/json"
            raise ApiError(404, "NotFound", NOT_FOUND, {})
        if not segments or segments[0] not in ("api", "apis"):
            raise ApiError(404, "NotFound", NOT_FOUND, {})
        if segments[0] == "api":
            if len(segments) < 2 or segments[1] != "v1":
                raise ApiError(404, "NotFound", NOT_FOUND, {})
            group, version, rest = "", "v1", segments[2:]
        else:
            if len(segments) == 2:
                if any(r.group == segments[1] for r in BY_GROUP_PLURAL.values()):
                    return 200, api_group(segments[1]), "application/json"
                raise ApiError(404, "NotFound", NOT_FOUND, {})
            group, version, rest = segments[1], segments[2], segments[3:]
        gv = f"{group}/{version}" if group else version
        if gv not in GROUP_VERSIONS:
            raise ApiError(404, "NotFound", NOT_FOUND, {})
        if not rest:
            if method != "GET":
                raise ApiError(
                    405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
                )
            return 200, api_resource_list(gv), "application/json"
        namespace: str | None = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            candidate = BY_GROUP_PLURAL.get((group, rest[2]))
            if candidate is not None and candidate.namespaced:
                namespace, rest = rest[1], rest[2:]
        rt = BY_GROUP_PLURAL.get((group, rest[0]))
        if rt is None or rt.version != version or len(rest) > 3:
            raise ApiError(404, "NotFound", NOT_FOUND, {})
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else ""
        if (sub and sub not in rt.subresources) or (not rt.namespaced and namespace is not None):
            raise ApiError(404, "NotFound", NOT_FOUND, {})
        if rt.namespaced and namespace is None and (name is not None or method == "POST"):
            raise ApiError(404, "NotFound", NOT_FOUND, {})
        ns = namespace or ""
        if method == "GET" and name is None:
            verb = "watch" if query.get("watch") in ("1", "true") else "list"
        else:
            verb = {
                "GET": "get",
                "POST": "create",
                "PUT": "update",
                "PATCH": "patch",
                "DELETE": "delete" if name else "deletecollection",
            }[method]
        if (verb == "create" and name is not None) or (verb in ("update", "patch") and name is None):
            raise ApiError(
                405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
            )
        self.kube.check_faults(verb, rt, sub, ns, name, self.user)
        if verb == "watch":
            self._watch(rt, namespace, query, accept)
            raise _Streamed()
        if verb == "list":
            return 200, self._list(rt, namespace, query, accept), "application/json"
        if verb == "get":
            return 200, self._get(rt, ns, name or "", sub, query, accept), "application/json"
        dry_run = query.get("dryRun") == "All"
        manager = query.get("fieldManager") or self._default_manager()
        with self.kube._lock:
            if verb == "create":
                obj = self.kube.create(rt, ns, self._json(body), manager, dry_run)
                return 201, obj, "application/json"
            assert name is not None
            if verb == "update":
                if sub == "scale":
                    return (
                        200,
                        self._update_scale(rt, ns, name, self._json(body), manager, None),
                        "application/json",
                    )
                if sub == "finalize":
                    raise ApiError(405, "MethodNotAllowed", "finalize is not simulated")
                obj = self.kube.update(rt, ns, name, self._json(body), manager, sub, dry_run)
                return 200, obj, "application/json"
            if verb == "patch":
                content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
                patch_body = self._patch_body(content_type, body)
                if sub == "scale":
                    scaled = self._update_scale(rt, ns, name, patch_body, manager, content_type)
                    return 200, scaled, "application/json"
                status, obj = self.kube.patch(
                    rt,
                    ns,
                    name,
                    content_type,
                    patch_body,
                    manager,
                    query.get("force") == "true",
                    sub,
                    dry_run,
                )
                return status, obj, "application/json"
            if verb == "delete":
                options = self._json(body) if body.strip() else {}
                for key in ("propagationPolicy", "gracePeriodSeconds"):
                    if key in query:
                        options[key] = query[key]
                if "orphanDependents" in query:
                    options["orphanDependents"] = query["orphanDependents"] == "true"
                status, obj = self.kube.delete(rt, ns, name, options, dry_run)
                return status, obj, "application/json"
            # deletecollection
            options = self._json(body) if body.strip() else {}
            deleted = []
            for obj in list(self._select(rt, namespace, query)):
                meta = obj["metadata"]
                self.kube.delete(rt, meta.get("namespace", ""), meta["name"], options, dry_run)
                deleted.append(_strip_type(obj))
            return (
                200,
                {
                    "kind": rt.list_kind,
                    "apiVersion": rt.group_version,
                    "metadata": {"resourceVersion": str(self.kube.resource_version)},
                    "items": deleted,
                },
                "application/json",
            )

    def _default_manager(self) -> str:
        # k8s.io/apiserver: the prefix of the User-Agent up to the first "/".
        agent = self.headers.get("User-Agent") or "unknown"
        return agent.split("/", 1)[0][:128]

    @staticmethod
    def _json(body: bytes) -> Any:
        try:
            return json.loads(body or b"{}")
        except json.JSONDecodeError as err:
            raise ApiError.bad_request(f"the object provided is unrecognized: {err}") from None

    def _patch_body(self, content_type: str, body: bytes) -> Any:
        if content_type == "application/apply-patch+yaml":
            try:
                return yaml.safe_load(body.decode() or "{}")
            except yaml.YAMLError as err:
                raise ApiError.bad_request(f"error decoding YAML: {err}") from None
        return self._json(body)

    # ------------------------------------------------------------------ reads

    def _select(self, rt: ResourceType, namespace: str | None, query: dict[str, str]) -> list[JSON]:
        try:
            label_req = parse_label_selector(query.get("labelSelector", ""))
            field_req = parse_field_selector(query.get("fieldSelector", ""), rt)
        except SelectorError as err:
            raise ApiError.bad_request(str(err)) from None
        return [
            obj
            for obj in self.kube.list_stored(rt, namespace)
            if labels_match(label_req, obj["metadata"].get("labels") or {}) and fields_match(field_req, obj)
        ]

    def _list(self, rt: ResourceType, namespace: str | None, query: dict[str, str], accept: str) -> JSON:
        with self.kube._lock:
            items = [copy.deepcopy(o) for o in self._select(rt, namespace, query)]
            rv = str(self.kube.resource_version)
        start = 0
        if query.get("continue"):
            try:
                token = json.loads(base64.urlsafe_b64decode(query["continue"].encode()))
                start, rv = int(token["start"]), str(token["rv"])
            except (ValueError, KeyError):
                raise ApiError.bad_request(
                    "continue key is not valid: incorrect encoded start resourceVersion"
                ) from None
        meta: JSON = {"resourceVersion": rv}
        limit = int(query.get("limit") or 0)
        if limit > 0 and start + limit < len(items):
            token = base64.urlsafe_b64encode(
                json.dumps({"rv": int(rv), "start": start + limit}).encode()
            ).decode()
            meta["continue"] = token
            meta["remainingItemCount"] = len(items) - start - limit
            items = items[start : start + limit]
        else:
            items = items[start:]
        if "as=Table" in accept:
            return self._table(rt, items, meta, query)
        if "as=PartialObjectMetadataList" in accept:
            return {
                "kind": "PartialObjectMetadataList",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": meta,
                "items": [{"metadata": o["metadata"]} for o in items],
            }
        return {
            "kind": rt.list_kind,
            "apiVersion": rt.group_version,
            "metadata": meta,
            "items": [_strip_type(o) for o in items],
        }

    def _get(
        self, rt: ResourceType, ns: str, name: str, sub: str, query: dict[str, str], accept: str
    ) -> JSON:
        with self.kube._lock:
            obj = self.kube.stored(rt, ns, name)
            if obj is None:
                raise ApiError.not_found(rt, name)
            obj = copy.deepcopy(obj)
        if sub == "scale":
            return self._scale(obj)
        if "as=Table" in accept:
            return self._table(rt, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]}, query)
        if "as=PartialObjectMetadata" in accept:
            return {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            }
        return obj

    def _table(self, rt: ResourceType, items: list[JSON], meta: JSON, query: dict[str, str]) -> JSON:
        include = query.get("includeObject", "Metadata")
        now = self.kube.clock.now()
        rows = []
        for obj in items:
            row: JSON = {"cells": table_cells(rt, obj, now)}
            if include == "Object":
                full = dict(obj)
                full.setdefault("kind", rt.kind)
                full.setdefault("apiVersion", rt.group_version)
                row["object"] = full
            elif include != "None":
                row["object"] = {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": obj["metadata"],
                }
            rows.append(row)
        return {
            "kind": "Table",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": meta,
            "columnDefinitions": table_columns(rt),
            "rows": rows,
        }

    @staticmethod
    def _scale(obj: JSON) -> JSON:
        meta = obj["metadata"]
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                k: meta[k]
                for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                if k in meta
            },
            "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 0)},
            "status": {
                "replicas": (obj.get("status") or {}).get("replicas", 0),
                "selector": label_selector_string((obj.get("spec") or {}).get("selector")),
            },
        }

    def _update_scale(
        self, rt: ResourceType, ns: str, name: str, body: Any, manager: str, patch_type: str | None
    ) -> JSON:
        from tests.kubernetes.apiserver_patch import (
            PatchError,
            json_patch,
            merge_patch,
            strategic_merge_patch,
        )

        obj = self.kube.stored(rt, ns, name)
        if obj is None:
            raise ApiError.not_found(rt, name)
        scale = self._scale(obj)
        if patch_type is None:
            new_scale = body
        else:
            try:
                if patch_type == "application/json-patch+json":
                    new_scale = json_patch(scale, body)
                elif patch_type == "application/strategic-merge-patch+json":
                    new_scale = strategic_merge_patch(scale, body, "Scale")
                else:  # merge patch; an apply configuration of a Scale merges the same way here
                    new_scale = merge_patch(scale, body)
            except PatchError as err:
                raise ApiError(err.code, "Invalid" if err.code == 422 else "BadRequest", str(err)) from None
        if not isinstance(new_scale, dict):
            raise ApiError.bad_request("the body of the request was not a Scale object")
        wanted_rv = (new_scale.get("metadata") or {}).get("resourceVersion")
        if wanted_rv and wanted_rv != obj["metadata"]["resourceVersion"]:
            raise ApiError.conflict(
                rt,
                name,
                "the object has been modified; please apply your changes to the latest version and try again",
            )
        replicas = (new_scale.get("spec") or {}).get("replicas", 0)
        if not isinstance(replicas, int) or replicas < 0:
            raise ApiError(
                422,
                "Invalid",
                f'Scale.autoscaling "{name}" is invalid: spec.replicas: Invalid value: {replicas}: '
                "must be greater than or equal to 0",
            )
        new = copy.deepcopy(obj)
        new["spec"]["replicas"] = replicas
        updated = self.kube.update(rt, ns, name, new, manager, "scale")
        return self._scale(updated)

    # ------------------------------------------------------------------ watch

    def _write_chunk(self, payload: JSON) -> None:
        data = json.dumps(payload).encode() + b"\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _watch(self, rt: ResourceType, namespace: str | None, query: dict[str, str], accept: str) -> None:
        kube = self.kube
        try:
            label_req = parse_label_selector(query.get("labelSelector", ""))
            field_req = parse_field_selector(query.get("fieldSelector", ""), rt)
        except SelectorError as err:
            raise ApiError.bad_request(str(err)) from None
        rv_param = query.get("resourceVersion", "")
        bookmarks = query.get("allowWatchBookmarks") in ("1", "true")
        send_initial = query.get("sendInitialEvents") in ("1", "true")
        if send_initial and (query.get("resourceVersionMatch") != "NotOlderThan" or not bookmarks):
            raise ApiError(
                422,
                "Invalid",
                'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: sendInitialEvents '
                "requires setting resourceVersionMatch to NotOlderThan and allowWatchBookmarks to true",
            )
        if rv_param and not rv_param.isdigit():
            raise ApiError.bad_request(f"invalid resource version: {rv_param}")
        timeout = float(query["timeoutSeconds"]) if query.get("timeoutSeconds") else MAX_WATCH_SECONDS
        deadline = time.monotonic() + timeout

        def matches(obj: JSON | None) -> bool:
            if obj is None:
                return False
            meta = obj.get("metadata") or {}
            if namespace and meta.get("namespace") != namespace:
                return False
            return labels_match(label_req, meta.get("labels") or {}) and fields_match(field_req, obj)

        initial: list[JSON] = []
        expired = False
        with kube._lock:
            if send_initial or rv_param in ("", "0"):
                cursor = kube.resource_version
                initial = [copy.deepcopy(o) for o in kube.list_stored(rt, namespace) if matches(o)]
            else:
                cursor = int(rv_param)
                expired = cursor < kube.compacted_rv
            current = kube.resource_version
        kube.requests.append(("GET", self.path, 200))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        table = "as=Table" in accept

        def send(kind: str, obj: JSON) -> None:
            if table and kind != "BOOKMARK":
                obj = self._table(
                    rt, [obj], {"resourceVersion": obj["metadata"].get("resourceVersion", "")}, {}
                )
            self._write_chunk({"type": kind, "object": obj})

        try:
            if expired:
                self._write_chunk({"type": "ERROR", "object": _expired(int(rv_param), current)})
                return
            for obj in initial:
                send("ADDED", obj)
            if send_initial:
                send(
                    "BOOKMARK",
                    {
                        "kind": rt.kind,
                        "apiVersion": rt.group_version,
                        "metadata": {
                            "resourceVersion": str(cursor),
                            "annotations": {"k8s.io/initial-events-end": "true"},
                        },
                    },
                )
            next_bookmark = time.monotonic() + kube.bookmark_interval
            while True:
                with kube._lock:
                    if cursor < kube.compacted_rv:
                        self._write_chunk(
                            {"type": "ERROR", "object": _expired(cursor, kube.resource_version)}
                        )
                        return
                    events = kube.events_after(cursor)
                    if not events and not kube.stopping:
                        wait = min(0.5, max(0.0, deadline - time.monotonic()))
                        if bookmarks:
                            wait = min(wait, max(0.0, next_bookmark - time.monotonic()))
                        kube.changed.wait(timeout=wait)
                        events = kube.events_after(cursor)
                    stopping = kube.stopping
                for event in events:
                    cursor = event.rv
                    if event.key != rt.key:
                        continue
                    now_in, was_in = matches(event.obj), matches(event.prev)
                    if event.type == "DELETED":
                        if was_in or now_in:
                            send("DELETED", event.obj)
                    elif event.prev is None or (now_in and not was_in):
                        if now_in:
                            send("ADDED", event.obj)
                    elif now_in:
                        send("MODIFIED", event.obj)
                    elif was_in:
                        # The object left the selection: the cacher reports the old state as DELETED.
                        gone = copy.deepcopy(event.prev)
                        gone["metadata"]["resourceVersion"] = str(event.rv)
                        send("DELETED", gone)
                if bookmarks and time.monotonic() >= next_bookmark:
                    send(
                        "BOOKMARK",
                        {
                            "kind": rt.kind,
                            "apiVersion": rt.group_version,
                            "metadata": {"resourceVersion": str(cursor)},
                        },
                    )
                    next_bookmark = time.monotonic() + kube.bookmark_interval
                if stopping or time.monotonic() >= deadline:
                    return
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True
            return
        finally:
            try:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except OSError:
                self.close_connection = True


def _expired(requested: int, current: int) -> JSON:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": f"too old resource version: {requested} ({current})",
        "reason": "Expired",
        "code": 410,
    }
