"""Live updates over WebSocket: who is subscribed to what, and what they are sent (docs/decisions/0040).

A client connects (API Gateway's WebSocket API in AWS, railyard/localdev/live_server.py locally)
with the same token as the HTTP API and subscribes to a deployment (its status and its log lines) or
to a project (the status of each of its deployments). Each subscription is checked with the one
policy function, exactly as `GET /v1/deployments/{id}` (read-logs) or `GET /v1/projects/{id}` (read)
would check it. The wire protocol (JSON text frames) is documented in docs/api.md#live-updates:

- in:  `{"action": "subscribe", "deploymentId": ..., "after": {"build": N, "deploy": M}}`
       (`"streams": ["deploy"]` narrows it; `"token"` when the connection was opened without one),
       `{"action": "subscribe", "projectId": ...}`, `{"action": "ping"}`
- out: `{"type": "status", ...}`, `{"type": "log", "stream", "after", "cursor", "lines": [...]}`,
       `{"type": "subscribed", ...}`, `{"type": "pong"}`, `{"type": "error", "Code", "Message"}`

A "log" message carries the lines of one flush, contiguous in their stream: `after` is the cursor a
reader must be at for them to follow without a gap (the previous line's number; numbers skip at
block ends, chalicelib/adapters/logs.py), `cursor` the last one's. A reader whose cursor is `after`
prints them; one that is past `cursor` ignores them; any other reader missed something and reads the
HTTP log route from its cursor. So pushes may be lost, repeated or reordered without a gap or a
duplicate on the reader's screen, and a reconnect resumes from the reader's cursor.

Publishing is called where the state changes: every save of a deployment (`PublishingRepository`)
and every flush of log lines (`LiveFeed.log_lines`, the log store's listener). With nobody subscribed
a publication costs one query of the subscriptions, remembered for SUBSCRIBERS_CACHE_SECONDS.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from chalicelib.domain.errors import BadRequest, DomainError
from chalicelib.domain.models import Deployment
from chalicelib.domain.policy import Access, Action, Principal
from chalicelib.domain.ports import LogLine, LogStore, Repository
from chalicelib.domain.resources import ResourceOf, project_resource

STREAMS = ("build", "deploy")
# API Gateway closes a WebSocket connection after 2 hours; its items live a little longer, so the
# TTL never deletes a live connection's subscriptions, and a connection whose $disconnect was lost
# (a Lambda error) is gone within the hour after that.
CONNECTION_TTL = timedelta(hours=3)
# How long a publisher trusts its last answer to "who is subscribed to this topic?": a flush every
# 0.25 s of a stream nobody watches then costs one query a second, not four. A subscriber who joins
# meanwhile misses at most that much live push; the backfill of its subscription and the log
# messages' `after` make up for it (module docstring).
SUBSCRIBERS_CACHE_SECONDS = 1.0
# API Gateway's largest WebSocket message is 128 KiB; lines go out in messages of at most this much.
MAX_MESSAGE_BYTES = 96 * 1024
BACKFILL_LINES = 1000  # per stream, at subscribe time; the HTTP route serves the rest

log = logging.getLogger(__name__)


def deployment_topic(deployment_id: str) -> str:
    return f"deployment#{deployment_id}"


def project_topic(project_id: str) -> str:
    return f"project#{project_id}"


@dataclass(frozen=True)
class LiveConnection:
    """An open WebSocket connection and who opened it (the API's encoding of its principal)."""

    id: str
    principal: str
    connected_at: str
    topics: tuple[str, ...] = ()


class LiveConnections(Protocol):
    """Connections and their subscriptions (chalicelib/adapters/live_store.py)."""

    def add(self, connection: LiveConnection, expires_at: datetime) -> None: ...
    def get(self, connection_id: str) -> LiveConnection: ...  # NotFound
    def subscribe(self, connection_id: str, topic: str, expires_at: datetime) -> None: ...
    def subscribers(self, topic: str) -> list[str]: ...  # connection ids
    def remove(self, connection_id: str) -> None: ...  # the connection and its subscriptions


class LiveChannel(Protocol):
    """Sends to a connection (API Gateway's post_to_connection); False when it is gone."""

    def send(self, connection_id: str, message: dict[str, Any]) -> bool: ...


@dataclass(frozen=True)
class Subscribe:
    deployment_id: str | None = None
    project_id: str | None = None
    after: dict[str, int] = field(default_factory=dict)  # per stream; absent: from the start
    streams: tuple[str, ...] = STREAMS
    token: str | None = None  # when the connection was opened without one


@dataclass(frozen=True)
class Ping:
    pass


def parse_request(text: str) -> Subscribe | Ping:
    """A client's message, or BadRequest saying what is wrong with it."""
    try:
        body = json.loads(text)
    except ValueError:
        raise BadRequest("a message must be a JSON object") from None
    if not isinstance(body, dict):
        raise BadRequest("a message must be a JSON object")
    action = body.get("action")
    if action == "ping":
        return Ping()
    if action != "subscribe":
        raise BadRequest(f"unknown action {action!r}: use 'subscribe' or 'ping'")
    deployment_id, project_id = body.get("deploymentId"), body.get("projectId")
    if (deployment_id is None) == (project_id is None):
        raise BadRequest("subscribe to one thing: give 'deploymentId' or 'projectId'")
    for name, value in (("deploymentId", deployment_id), ("projectId", project_id)):
        if value is not None and (not isinstance(value, str) or not value):
            raise BadRequest(f"'{name}' must be a non-empty string")
    streams = body.get("streams", list(STREAMS))
    if not isinstance(streams, list) or not streams or any(s not in STREAMS for s in streams):
        raise BadRequest("'streams' must be a non-empty list of 'build' and 'deploy'")
    token = body.get("token")
    if token is not None and not isinstance(token, str):
        raise BadRequest("'token' must be a string")
    return Subscribe(deployment_id, project_id, _cursors(body.get("after")), tuple(streams), token)


def _cursors(raw: Any) -> dict[str, int]:
    """`after`: a cursor per stream ({"build": N, "deploy": M}); a number is the same for both."""
    if raw is None:
        return {}
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = dict.fromkeys(STREAMS, raw)
    if not isinstance(raw, dict) or any(
        k not in STREAMS or not isinstance(v, int) or isinstance(v, bool) or v < 0 for k, v in raw.items()
    ):
        raise BadRequest('\'after\' must be a cursor (an integer >= 0) or {"build": N, "deploy": M}')
    return {str(k): int(v) for k, v in raw.items()}


def status_message(deployment: Deployment) -> dict[str, Any]:
    return {
        "type": "status",
        "deploymentId": deployment.id,
        "serviceId": deployment.service_id,
        "projectId": deployment.project_id,
        "environmentId": deployment.environment_id,
        "status": str(deployment.status),
        "reason": deployment.reason,
        "updatedAt": deployment.updated_at,
    }


def log_messages(
    deployment_id: str, stream: str, after: int, lines: Sequence[LogLine]
) -> list[dict[str, Any]]:
    """The lines as "log" messages of at most MAX_MESSAGE_BYTES, each chained to the one before."""
    messages: list[dict[str, Any]] = []
    batch: list[dict[str, Any]] = []
    size = 0
    for line in lines:
        row = {"cursor": line.seq, "ts": line.ts, "line": line.message}
        row_size = len(line.message.encode()) + 64
        if batch and size + row_size > MAX_MESSAGE_BYTES:
            messages.append(_log_message(deployment_id, stream, after, batch))
            after, batch, size = batch[-1]["cursor"], [], 0
        batch.append(row)
        size += row_size
    if batch:
        messages.append(_log_message(deployment_id, stream, after, batch))
    return messages


def _log_message(deployment_id: str, stream: str, after: int, rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "log",
        "deploymentId": deployment_id,
        "stream": stream,
        "after": after,
        "cursor": rows[-1]["cursor"],
        "lines": rows,
    }


def error_message(error: DomainError) -> dict[str, Any]:
    return {"type": "error", "Code": type(error).__name__, "Message": str(error)}


class LiveFeed:
    """Connections, subscriptions and publishing; every method is safe to call twice."""

    def __init__(
        self,
        connections: LiveConnections,
        channel: LiveChannel,
        repo: Repository,
        logs: LogStore,
        clock: Callable[[], datetime],
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._connections, self._channel = connections, channel
        self._repo, self._logs, self._clock = repo, logs, clock
        self._resources = ResourceOf(repo)
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, list[str]]] = {}
        self._cache_lock = threading.Lock()

    # --- a client's side ---------------------------------------------------------------------------

    def connect(self, connection_id: str, principal: str) -> None:
        now = self._clock()
        self._connections.add(LiveConnection(connection_id, principal, now.isoformat()), now + CONNECTION_TTL)

    def disconnect(self, connection_id: str) -> None:
        self._connections.remove(connection_id)

    def principal_text(self, connection_id: str) -> str:
        """Who opened the connection, as the API encoded it at $connect."""
        return self._connections.get(connection_id).principal

    def subscribe(self, connection_id: str, principal: Principal, request: Subscribe) -> None:
        """Checks the subscription with the policy, stores it, then sends the current status and
        the log lines after the client's cursors (stored first: a line flushed meanwhile is pushed
        too, and the reader's cursor drops the repeat)."""
        if request.deployment_id is not None:
            deployment = self._visible_deployment(principal, request.deployment_id)
            self._subscribed(connection_id, deployment_topic(deployment.id))
            self._send(connection_id, {"type": "subscribed", "deploymentId": deployment.id})
            self._send(connection_id, status_message(deployment))
            for stream in request.streams:
                after = request.after.get(stream, 0)
                lines = self._logs.read(deployment.id, stream, after, BACKFILL_LINES)
                for message in log_messages(deployment.id, stream, after, lines):
                    self._send(connection_id, message)
            return
        assert request.project_id is not None
        project = self._repo.get_project(request.project_id)
        Access(principal, Action.READ).require(project_resource(project))
        self._subscribed(connection_id, project_topic(project.id))
        self._send(connection_id, {"type": "subscribed", "projectId": project.id})

    def _subscribed(self, connection_id: str, topic: str) -> None:
        self._connections.subscribe(connection_id, topic, self._clock() + CONNECTION_TTL)
        with self._cache_lock:  # this process publishes to it from now on, cache or not
            self._cache.pop(topic, None)

    def _visible_deployment(self, principal: Principal, deployment_id: str) -> Deployment:
        deployment = self._repo.get_deployment(deployment_id)
        Access(principal, Action.READ_LOGS).require(self._resources.deployment(deployment))
        return deployment

    def reply(self, connection_id: str, message: dict[str, Any]) -> None:
        self._send(connection_id, message)

    # --- publishing ----------------------------------------------------------------------------

    def deployment_saved(self, deployment: Deployment) -> None:
        message = status_message(deployment)
        for topic in (deployment_topic(deployment.id), project_topic(deployment.project_id)):
            self._publish(topic, [message])

    def log_lines(self, deployment_id: str, stream: str, after: int, lines: Sequence[LogLine]) -> None:
        if lines:
            self._publish(deployment_topic(deployment_id), log_messages(deployment_id, stream, after, lines))

    def _publish(self, topic: str, messages: list[dict[str, Any]]) -> None:
        for connection_id in self._subscribers(topic):
            for message in messages:
                if not self._send(connection_id, message):
                    break

    def _subscribers(self, topic: str) -> list[str]:
        now = self._monotonic()
        with self._cache_lock:
            cached = self._cache.get(topic)
            if cached is not None and now - cached[0] < SUBSCRIBERS_CACHE_SECONDS:
                return cached[1]
        found = self._connections.subscribers(topic)
        with self._cache_lock:
            if len(self._cache) > 10_000:  # topics of long-ended deployments: forget them all
                self._cache.clear()
            self._cache[topic] = (now, found)
        return found

    def _send(self, connection_id: str, message: dict[str, Any]) -> bool:
        """False when the connection is gone (then it is forgotten, with its subscriptions)."""
        try:
            if self._channel.send(connection_id, message):
                return True
        except Exception:  # a slow or failing endpoint: the reader catches up over HTTP
            log.warning("live message to connection %s not sent", connection_id, exc_info=True)
            return True
        self._connections.remove(connection_id)
        with self._cache_lock:
            for topic, (at, ids) in list(self._cache.items()):
                if connection_id in ids:
                    self._cache[topic] = (at, [i for i in ids if i != connection_id])
        return False


class PublishingRepository:
    """The repository with every saved deployment pushed to its subscribers after the save: the one
    place all status changes go through (pipeline steps, cancel, the sweeper, crash reports). A push
    that fails is logged and never fails the save that caused it."""

    def __init__(self, inner: Repository, feed: Callable[[], LiveFeed | None]) -> None:
        self._inner = inner
        self._feed = feed

    def save(self, *entities: Any) -> None:
        self._inner.save(*entities)
        self._published(entities)

    def save_for_service(self, service_id: str, *entities: Any) -> None:
        self._inner.save_for_service(service_id, *entities)
        self._published(entities)

    def _published(self, entities: Sequence[Any]) -> None:
        deployments = [e for e in entities if isinstance(e, Deployment)]
        if not deployments:
            return
        feed = self._feed()
        if feed is None:
            return
        for deployment in deployments:
            try:
                feed.deployment_saved(deployment)
            except Exception:
                log.exception("live status of deployment %s not pushed", deployment.id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
