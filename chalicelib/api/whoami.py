"""GET /v1/whoami: who the bearer token speaks for, from the principal alone (no read).

A person's answer names them and their role in each workspace; an API token's names the token and
its scope and actions.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api.routing import Context, route
from chalicelib.domain import policy
from chalicelib.domain.policy import Action, Grant, Principal

bp = Blueprint(__name__)


def _role(actions: frozenset[Action]) -> str | None:
    return next((role for role, allowed in policy.ROLE_ACTIONS.items() if allowed == actions), None)


def _grant_view(grant: Grant) -> dict[str, Any]:
    view: dict[str, Any] = {"workspaceId": grant.workspace_id}
    for key, value in (
        ("projectId", grant.project_id),
        ("environmentId", grant.environment_id),
        ("serviceId", grant.service_id),
    ):
        if value is not None:
            view[key] = value
    view["role"] = _role(grant.actions)
    view["actions"] = sorted(a.value for a in grant.actions)
    return view


def whoami_view(principal: Principal) -> dict[str, Any]:
    return {
        "kind": principal.kind,
        "name": principal.name or principal.subject,
        "userId": principal.user_id,
        "tokenId": principal.token_id,
        "sessionId": principal.session_id,
        "grants": [_grant_view(g) for g in principal.grants],
    }


@route(bp, "/v1/whoami", action=Action.READ)
def whoami(ctx: Context) -> tuple[int, Any]:
    """Who the bearer token speaks for: a person and their roles, or an API token and its scope."""
    return 200, {"whoami": whoami_view(ctx.who.principal)}
