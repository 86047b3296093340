"""GET /v1/whoami: who the bearer token speaks for, from the principal alone (no read).

A person's answer names them and their role in each workspace; an API token's names the token and
its scope and actions. `caller()` gives the policy principal of a route's `ctx.who`, whichever shape
the route wrapper hands over (see its docstring).
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api.routing import Context, route
from chalicelib.domain import policy
from chalicelib.domain.policy import Action, Grant, Principal

bp = Blueprint(__name__)


def caller(who: object) -> Principal:
    """The policy Principal behind `ctx.who`.

    Issue 10 moves `ctx.who` from services.Principal (an org and scopes) to a policy Access or
    Principal; until that lands everywhere, the old shape is read as what it is, an API token
    with its scopes as actions on its workspace. Drop the fallback once the wrapper builds Access."""
    if isinstance(who, policy.Access):
        return who.principal
    if isinstance(who, Principal):
        return who
    org_id, scopes, name = (getattr(who, a) for a in ("org_id", "scopes", "token_name"))
    grant = Grant(workspace_id=org_id, actions=policy.parse_actions(scopes))
    return Principal(kind="token", subject=name, grants=(grant,), name=name)


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
    return 200, {"whoami": whoami_view(caller(ctx.who))}
