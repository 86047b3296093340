"""Routes that act on one environment: deleting it (with everything it runs) and promoting
another environment's live releases to it (chalicelib/domain/environments.py, ADR 0036).
Creating and listing environments are project routes (chalicelib/api/projects.py)."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api.environment_schemas import PromotionCreate, promotion_view, teardown_view
from chalicelib.api.routing import Context, route
from chalicelib.api.schemas import parse
from chalicelib.domain.policy import Action

bp = Blueprint(__name__)


@route(bp, "/v1/environments/{environment_id}", "DELETE", action=Action.MANAGE)
def delete_environment(ctx: Context, environment_id: str) -> tuple[int, Any]:
    """Delete an environment: stop its services, release their artifacts (?confirm=<its name>)."""
    done = ctx.c.environments.delete(ctx.who, environment_id, confirm=ctx.query.get("confirm", ""))
    return 200, teardown_view(done)


@route(
    bp,
    "/v1/environments/{environment_id}/promote",
    "POST",
    request_model=PromotionCreate,
    status=201,
    idempotent=True,
    action=Action.DEPLOY,
)
def promote(ctx: Context, environment_id: str) -> tuple[int, Any]:
    """Deploy another environment's live releases to this one's same-named services."""
    body = parse(PromotionCreate, ctx.body)
    source, target, results = ctx.c.environments.promote(ctx.who, environment_id, body.from_, body.service)
    return 201, promotion_view(source, target, results, ctx.c.settings.public_url)
