"""Routes for API tokens (chalicelib/domain/api_tokens.py). The secret is in the creating answer
only; creation is not an idempotent route, so no replay record ever stores it."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint
from pydantic import Field

from chalicelib.api.routing import Context, route
from chalicelib.api.schemas import _Body, parse
from chalicelib.domain.api_tokens import IssuedToken, TokenRequest
from chalicelib.domain.policy import Action

bp = Blueprint(__name__)


class TokenCreate(_Body):
    name: str = Field(min_length=1, max_length=64)
    actions: list[str] = Field(min_length=1, max_length=16)
    projectId: str | None = Field(default=None, max_length=64)
    environmentId: str | None = Field(default=None, max_length=64)
    serviceId: str | None = Field(default=None, max_length=64)
    expiresIn: str | int | None = Field(default=None, description="30d, 12h, 15m or seconds; default 90d")


def token_view(token: IssuedToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "workspaceId": token.workspace_id,
        "projectId": token.project_id,
        "environmentId": token.environment_id,
        "serviceId": token.service_id,
        "actions": list(token.actions),
        "createdAt": token.created_at,
        "createdBy": token.created_by,
        "expiresAt": token.expires_at,
        "lastUsedAt": token.last_used_at,
    }


@route(
    bp,
    "/v1/workspaces/{workspace_id}/tokens",
    "POST",
    request_model=TokenCreate,
    status=201,
    action=Action.MANAGE_TOKENS,
)
def create_token(ctx: Context, workspace_id: str) -> tuple[int, Any]:
    """Create an API token (its secret is shown only in this answer)."""
    b = parse(TokenCreate, ctx.body)
    request = TokenRequest(b.name, b.actions, b.projectId, b.environmentId, b.serviceId, b.expiresIn)
    token, secret = ctx.c.api_tokens.create(ctx.who, workspace_id, request)
    return 201, {"token": token_view(token), "secret": secret}


@route(bp, "/v1/workspaces/{workspace_id}/tokens", action=Action.MANAGE_TOKENS)
def list_tokens(ctx: Context, workspace_id: str) -> tuple[int, Any]:
    """The workspace's API tokens the caller may manage (never their secrets)."""
    return 200, {"tokens": [token_view(t) for t in ctx.c.api_tokens.list_tokens(ctx.who, workspace_id)]}


@route(bp, "/v1/tokens/{token_id}", "DELETE", action=Action.MANAGE_TOKENS)
def revoke_token(ctx: Context, token_id: str) -> tuple[int, Any]:
    """Revoke an API token (it stops working within 30 s everywhere)."""
    return 200, {"revoked": token_view(ctx.c.api_tokens.revoke(ctx.who, token_id))}
