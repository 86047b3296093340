"""Routes for a project's outgoing webhooks: add (the signing secret is in this answer only), list,
remove, test-send, and each webhook's delivery log (docs/webhooks.md)."""

from __future__ import annotations

from typing import Any, Literal

from chalice import Blueprint
from pydantic import Field

from chalicelib.api.routing import Context, route
from chalicelib.api.schemas import _Body, parse
from chalicelib.domain.policy import Action
from chalicelib.domain.webhook_delivery import Delivery
from chalicelib.domain.webhooks import MAX_URL_LENGTH, WEBHOOK_EVENTS, Webhook

bp = Blueprint(__name__)
BASE = "/v1/projects/{project_id}/webhooks"


class WebhookCreate(_Body):
    url: str = Field(min_length=1, max_length=MAX_URL_LENGTH)
    events: list[str] = Field(min_length=1, max_length=len(WEBHOOK_EVENTS))
    format: Literal["json", "slack", "discord"] = "json"


def webhook_view(webhook: Webhook) -> dict[str, Any]:
    return {
        "id": webhook.id,
        "projectId": webhook.project_id,
        "url": webhook.url,
        "events": list(webhook.events),
        "format": str(webhook.format),
        "createdAt": webhook.created_at,
    }


def delivery_view(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "event": delivery.event,
        "createdAt": delivery.created_at,
        "state": str(delivery.state),
        "attempts": [
            {
                "attempt": a.number,
                "at": a.at,
                "status": a.status,
                "error": a.error,
                "durationMs": a.duration_ms,
            }
            for a in delivery.attempts
        ],
    }


# Not an idempotent route: a replay record would keep the answer, and with it the secret.
@route(bp, BASE, "POST", request_model=WebhookCreate, status=201, action=Action.MANAGE)
def add_webhook(ctx: Context, project_id: str) -> tuple[int, Any]:
    """Add a webhook; its signing secret is in this answer only."""
    body = parse(WebhookCreate, ctx.body)
    made = ctx.c.webhooks.add(ctx.who, project_id, body.url, body.events, body.format)
    return 201, {"webhook": webhook_view(made.webhook), "secret": made.secret}


@route(bp, BASE, action=Action.READ)
def list_webhooks(ctx: Context, project_id: str) -> tuple[int, Any]:
    """List a project's webhooks (never their secrets)."""
    return 200, {"webhooks": [webhook_view(w) for w in ctx.c.webhooks.list_webhooks(ctx.who, project_id)]}


@route(bp, BASE + "/{webhook_id}", action=Action.READ)
def get_webhook(ctx: Context, project_id: str, webhook_id: str) -> tuple[int, Any]:
    """Get one webhook (never its secret)."""
    return 200, {"webhook": webhook_view(ctx.c.webhooks.get(ctx.who, project_id, webhook_id))}


@route(bp, BASE + "/{webhook_id}", "DELETE", action=Action.MANAGE)
def remove_webhook(ctx: Context, project_id: str, webhook_id: str) -> tuple[int, Any]:
    """Remove a webhook: nothing more is sent to it."""
    return 200, {"removed": ctx.c.webhooks.remove(ctx.who, project_id, webhook_id).id}


@route(bp, BASE + "/{webhook_id}/test", "POST", status=202, action=Action.MANAGE)
def test_webhook(ctx: Context, project_id: str, webhook_id: str) -> tuple[int, Any]:
    """Send a test payload (queued: its delivery log shows how it went)."""
    message = ctx.c.webhooks.test(ctx.who, project_id, webhook_id)
    return 202, {"deliveryId": message.delivery_id, "event": message.event}


@route(bp, BASE + "/{webhook_id}/deliveries", action=Action.READ)
def list_deliveries(ctx: Context, project_id: str, webhook_id: str) -> tuple[int, Any]:
    """A webhook's delivery log, newest first: each attempt's time, HTTP status or error, duration."""
    found = ctx.c.webhooks.deliveries(ctx.who, project_id, webhook_id, ctx.query_int("limit", 20))
    return 200, {"deliveries": [delivery_view(d) for d in found]}
