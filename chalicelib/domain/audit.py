"""The audit log: every change made through the API, successful or refused, per workspace.

The route wrapper (chalicelib/api/routing.py) hands `Auditor.record` every request that is not a
GET once its answer is known: who (user id and email, or token id and the user who made the token),
the route's action, the resource the use case checked last (`Access.checked`), the HTTP status and
error code, the source IP and user agent. The entry is stored under its workspace (newest first,
kept AUDIT_RETENTION_DAYS) and emitted as an event (detail-type `railyard.audit`).

Which workspace: the checked resource's, when the request succeeded there or the caller belongs to
it; else the caller's own when it has exactly one. A refused probe of another workspace's resource
is thus filed with the caller's workspace, and never shows the caller's identity to strangers. An
entry with no workspace (a request with no valid credentials) is only emitted as an event.

No secret reaches an entry: of a request body only the names of its fields are kept (the keys of
`set`, the names in `unset`), and the values of the few fields in SAFE_VALUES that name things
(a role, an email, ids, a token's actions): never variable values, passwords or tokens.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from chalicelib.domain.api_tokens import parse_duration
from chalicelib.domain.errors import BadRequest
from chalicelib.domain.events import AuditRecorded as AuditEntry  # one contract: stored, shown, emitted
from chalicelib.domain.ids import Clock, IdFactory, iso, parse_iso
from chalicelib.domain.policy import Access, Resource
from chalicelib.domain.ports import AuditRecord
from chalicelib.domain.resources import workspace_resource

AUDIT_RETENTION_DAYS = 400
DEFAULT_QUERY_LIMIT = 50
MAX_QUERY_LIMIT = 500
EVENT_DETAIL_TYPE = "railyard.audit"
EVENT_SOURCE_NAME = "railyard.api"  # the envelope's metadata.event_source: the API made the change
# Request fields whose values are recorded (they name what was changed, never a secret).
SAFE_VALUES = frozenset(
    {"name", "role", "email", "userId", "actions", "projectId", "environmentId", "serviceId"}
    | {"workspaceId", "deploymentId", "expiresIn", "redeploy", "noCache"}
)
_log = logging.getLogger(__name__)


def entry_view(entry: AuditEntry) -> dict[str, Any]:
    """An entry as the API shows it (camelCase, grouped)."""
    return {
        "id": entry.id,
        "workspaceId": entry.workspace_id,
        "at": entry.at,
        "actor": {
            "kind": entry.actor,
            "userId": entry.user_id,
            "email": entry.email,
            "tokenId": entry.token_id,
        },
        "action": entry.action,
        "method": entry.method,
        "path": entry.path,
        "result": {"status": entry.status, "code": entry.code},
        "resource": {
            "kind": entry.resource_kind,
            "id": entry.resource_id,
            "projectId": entry.project_id,
            "environmentId": entry.environment_id,
            "serviceId": entry.service_id,
        },
        "sourceIp": entry.source_ip,
        "userAgent": entry.user_agent,
        "request": entry.request,
    }


def event_detail(entry: AuditEntry) -> dict[str, Any]:
    """The entry as its event's detail: the versioned envelope `{data, metadata}` (domain/events.py),
    whether the API puts it on the bus or the deploy workflow does."""
    return {
        "data": entry.model_dump(),
        "metadata": {
            "event_name": EVENT_DETAIL_TYPE,
            "event_source": EVENT_SOURCE_NAME,
            "event_version": "1",
            "correlation_id": entry.id,
            "created_at": entry.at,
        },
    }


class AuditStore(Protocol):
    def add(self, entry: AuditEntry, expires_at: int) -> None:
        """Stores `entry` under its workspace until `expires_at` (epoch seconds)."""
        ...

    def newest(self, workspace_id: str, since: str | None, limit: int) -> list[AuditEntry]:
        """The workspace's entries at or after `since` (ISO), newest first: one Query."""
        ...


class AuditEvents(Protocol):
    def emit(self, entry: AuditEntry) -> None: ...


def describe_request(body: Any) -> dict[str, Any]:
    """What a request body changed, without its secrets: field names, and SAFE_VALUES' values."""
    if not isinstance(body, Mapping):
        return {} if body is None else {"body": type(body).__name__}
    described: dict[str, Any] = {}
    for key, value in body.items():
        key = str(key)[:64]
        if key in SAFE_VALUES and isinstance(value, str | int | bool | list) and len(str(value)) <= 256:
            described[key] = value
        elif isinstance(value, Mapping):
            described[key] = sorted(str(k)[:256] for k in value)[:100]  # e.g. the names of variables set
        elif key == "unset" and isinstance(value, list):
            described[key] = sorted(str(k)[:256] for k in value)[:100]  # variable names
        else:
            described[key] = "…"  # sent, value not recorded
    return described


def filed_under(who: Access, status: int, params: Mapping[str, str]) -> str | None:
    """The workspace whose log an entry goes to (see the module docstring)."""
    mine = who.principal.workspace_ids
    candidates: list[str] = []
    if who.checked:
        candidates.append(who.checked[-1].workspace_id)
    if params.get("workspace_id"):
        candidates.append(params["workspace_id"])
    for workspace in candidates:
        if workspace and (status < 400 or workspace in mine):
            return workspace
    return mine[0] if len(mine) == 1 else None


class Auditor:
    def __init__(self, store: AuditStore, events: AuditEvents, clock: Clock, ids: IdFactory) -> None:
        self._store = store
        self._events = events
        self._clock = clock
        self._ids = ids

    def entry(
        self,
        who: Access,
        method: str,
        path: str,
        params: Mapping[str, str],
        status: int,
        code: str | None,
        body: Any,
    ) -> AuditEntry:
        """The entry of one answered request (nothing stored or emitted)."""
        principal = who.principal
        resource: Resource | None = who.checked[-1] if who.checked else None
        workspace = filed_under(who, status, params)
        if resource is None and params.get("workspace_id"):
            resource = workspace_resource(params["workspace_id"])
        return AuditEntry(
            id=self._ids("aud"),
            workspace_id=workspace,
            at=iso(self._clock()),
            actor=principal.kind,
            user_id=principal.user_id,
            email=principal.name if principal.kind == "user" else None,
            token_id=principal.token_id,
            action=who.action.value,
            method=method,
            path=path,
            status=status,
            code=code,
            resource_kind=resource.kind if resource else None,
            resource_id=resource.id if resource else None,
            project_id=resource.project_id if resource else None,
            environment_id=resource.environment_id if resource else None,
            service_id=resource.service_id if resource else None,
            source_ip=who.extra.get("sourceIp", ""),
            user_agent=who.extra.get("userAgent", "")[:512],
            request=describe_request(body),
        )

    def record(
        self,
        who: Access,
        method: str,
        path: str,
        params: Mapping[str, str],
        status: int,
        code: str | None,
        body: Any,
    ) -> AuditEntry:
        """Stores the request's entry under its workspace (if it has one) and emits its event."""
        entry = self.entry(who, method, path, params, status, code, body)
        stored = self.stored(entry)
        if stored is not None:
            self._store.add(entry, stored.expires_at)
        self._events.emit(entry)
        return entry

    def stored(self, entry: AuditEntry) -> AuditRecord | None:
        """The entry as it is kept (until AUDIT_RETENTION_DAYS after it); None when it has no
        workspace to be kept under (it is only emitted)."""
        if entry.workspace_id is None:
            return None
        expires = (parse_iso(entry.at) or self._clock()) + timedelta(days=AUDIT_RETENTION_DAYS)
        return AuditRecord(entry, _epoch(expires))

    def emit(self, entry: AuditEntry) -> None:
        self._events.emit(entry)

    def query(self, who: Access, workspace_id: str, since: str | None, limit: int) -> list[AuditEntry]:
        """The workspace's log, newest first (READ_AUDIT: its admins)."""
        who.require(workspace_resource(workspace_id))
        if not 1 <= limit <= MAX_QUERY_LIMIT:
            raise BadRequest(f"limit must be between 1 and {MAX_QUERY_LIMIT}")
        return self._store.newest(workspace_id, self._since(since), limit)

    def _since(self, since: str | None) -> str | None:
        """`since` as an ISO time: a duration back from now (1h, 7d) or an ISO time itself."""
        if not since:
            return None
        moment = parse_iso(since) if "T" in since or "-" in since else None
        if moment is None:
            moment = self._clock() - timedelta(seconds=parse_duration(since, "since"))
        return iso(moment)


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


@dataclass
class RequestAudit:
    """The audit entry of the request being served, for a use case that writes it in the same
    transaction as its change (see the module docstring). The route makes one per request with the
    status it answers on success; `written` is the entry once that transaction succeeded."""

    auditor: Auditor
    who: Access
    method: str
    path: str
    params: Mapping[str, str]
    status: int
    body: Any
    written: AuditEntry | None = field(default=None)

    def record(self) -> AuditRecord | None:
        """The entry of this request answered with its success status, as it is kept; None when it
        would have no workspace (the route records it after the answer, as any other)."""
        entry = self.auditor.entry(
            self.who, self.method, self.path, self.params, self.status, None, self.body
        )
        return self.auditor.stored(entry)
