"""Routes for an environment's shared variables and a service's resolved variables (what
`railyard run` runs with); a service's own variables are chalicelib/api/deployments.py's
(docs/decisions/0037)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api.routing import Context, route
from chalicelib.api.schemas import VariablesPatch, parse, variables_view
from chalicelib.domain.policy import Action

bp = Blueprint(__name__)


@route(bp, "/v1/environments/{environment_id}/variables", action=Action.READ_VARIABLES)
def get_shared_variables(ctx: Context, environment_id: str) -> tuple[int, Any]:
    """Get an environment's shared variables (sealed ones by name only)."""
    return 200, variables_view(ctx.c.variables.get_shared(ctx.who, environment_id))


@route(
    bp,
    "/v1/environments/{environment_id}/variables",
    "PATCH",
    request_model=VariablesPatch,
    idempotent=True,
    action=Action.WRITE_VARIABLES,
)
def patch_shared_variables(ctx: Context, environment_id: str) -> tuple[int, Any]:
    """Set, seal and unset shared variables; each service applies them at its next deploy."""
    body = parse(VariablesPatch, ctx.body)
    listing = ctx.c.variables.set_shared(ctx.who, environment_id, body.set, body.unset, body.sealed)
    return 200, variables_view(listing)


@route(bp, "/v1/services/{service_id}/variables/resolved", action=Action.READ_VARIABLES)
def get_resolved_variables(ctx: Context, service_id: str) -> tuple[int, Any]:
    """The values a deployment made now would run with: injected, shared and the service's own,
    references resolved; sealed ones by name only (their values never leave the platform); and
    which of them the live release runs other values of (`liveDifferences`, null when none)."""
    found = ctx.c.variables.resolved(ctx.who, service_id)
    live = ctx.c.variables.live_difference(ctx.who, service_id)
    return 200, {
        "variables": {**found.injected, **found.variables},
        "sealed": sorted({*found.sealed, *found.shared_sealed}),
        "liveDifferences": None
        if live is None
        else {"releaseNumber": live.release_number, "names": live.names},
    }
