"""The audit log's route (chalicelib/domain/audit.py): a workspace's changes, newest first."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api.routing import Context, route
from chalicelib.domain.audit import DEFAULT_QUERY_LIMIT, entry_view
from chalicelib.domain.policy import Action

bp = Blueprint(__name__)


@route(bp, "/v1/workspaces/{workspace_id}/audit", action=Action.READ_AUDIT)
def audit_log(ctx: Context, workspace_id: str) -> tuple[int, Any]:
    """The workspace's audit log, newest first (`since`: 1h, 7d or an ISO time; `limit` <= 500)."""
    since, limit = ctx.query.get("since"), ctx.query_int("limit", DEFAULT_QUERY_LIMIT)
    entries = ctx.c.audit.query(ctx.who, workspace_id, since, limit)
    return 200, {"entries": [entry_view(e) for e in entries]}
