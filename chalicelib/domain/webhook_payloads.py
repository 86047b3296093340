"""What a webhook receives: Railway's payload for deployment events, and its Slack and Discord forms.

`railway_payload` follows the shape of Railway's project webhooks (docs.railway.com, Webhooks):

    {"type": "Deployment.failed", "timestamp": ..., "severity": "WARNING",
     "details": {"id", "source", "status", "reason", "branch", "commitHash", "commitAuthor", "commitMessage"},
     "resource": {"workspace": {"id"}, "project": {"id", "name"},
                  "environment": {"id", "name", "isEphemeral"}, "service": {"id", "name"},
                  "deployment": {"id"}}}

`type` and `severity` come from the event's row in WEBHOOK_EVENTS; `details.status` is the
deployment's status (SUCCESS, FAILED, CRASHED ...). The git fields are null for a deployment made
from an upload (`source` "CLI"). `render` turns it into the bytes a webhook of each format gets: the
JSON itself, Slack's `{"text", "blocks"}` or Discord's `{"content", "embeds"}`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.domain.webhook_events import TEST, WebhookEvent
from chalicelib.domain.webhooks import WebhookFormat

if TYPE_CHECKING:
    from chalicelib.domain.models import Deployment, Environment, Project, Service
    from chalicelib.domain.webhooks import Webhook

_COLORS = {"INFO": 0x2EB67D, "WARNING": 0xE01E5A}  # Discord embed colours: green, red


@dataclass(frozen=True)
class PayloadFacts:
    event: WebhookEvent
    deployment: Deployment
    status: str
    service: Service
    environment: Environment
    project: Project
    at: str


def railway_payload(facts: PayloadFacts) -> dict[str, Any]:
    deployment = facts.deployment
    git = _git(deployment)
    return {
        "type": facts.event.railway_type,
        "timestamp": facts.at,
        "severity": facts.event.severity,
        "details": {
            "id": deployment.id,
            "source": "GitHub" if git.get("commitHash") else "CLI",
            "status": facts.status,
            "reason": deployment.reason,
            "branch": git.get("branch"),
            "commitHash": git.get("commitHash"),
            "commitAuthor": git.get("commitAuthor"),
            "commitMessage": git.get("commitMessage"),
        },
        "resource": {
            "workspace": {"id": facts.project.org_id},
            "project": {"id": facts.project.id, "name": facts.project.name},
            "environment": {
                "id": facts.environment.id,
                "name": facts.environment.name,
                "isEphemeral": False,
            },
            "service": {"id": facts.service.id, "name": facts.service.name},
            "deployment": {"id": deployment.id},
        },
    }


def _git(deployment: Deployment) -> dict[str, Any]:
    """The commit a pushed deployment was made from (docs/decisions/0035); empty for an upload."""
    if not deployment.commit_sha:
        return {}
    return {
        "branch": deployment.branch,
        "commitHash": deployment.commit_sha,
        "commitAuthor": deployment.commit_author,
        "commitMessage": deployment.commit_message,
    }


def test_payload(project: Project, webhook: Webhook, at: str) -> dict[str, Any]:
    """What `railyard webhook test` sends: the same shape, no deployment."""
    return {
        "type": TEST.railway_type,
        "timestamp": at,
        "severity": TEST.severity,
        "details": {"message": f"a test of webhook {webhook.id} of project {project.name}"},
        "resource": {
            "workspace": {"id": project.org_id},
            "project": {"id": project.id, "name": project.name},
        },
    }


def summary(payload: dict[str, Any]) -> str:
    """One line for a person: `demo/production/web: deployment dep_… FAILED: the reason`."""
    resource = payload.get("resource", {})
    details = payload.get("details", {})
    if "deployment" not in resource:
        return f"Railyard: {details.get('message', payload.get('type'))}"
    place = "/".join(resource[k]["name"] for k in ("project", "environment", "service"))
    line = f"{place}: deployment {details['id']} {details['status']}"
    return line + (f": {details['reason']}" if details.get("reason") else "")


def render(format: WebhookFormat, payload: dict[str, Any]) -> bytes:
    """The body a webhook of `format` receives."""
    if format is WebhookFormat.SLACK:
        text = summary(payload)
        body: dict[str, Any] = {
            "text": text,
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": f"*{payload['type']}*\n{text}"}}
            ],
        }
    elif format is WebhookFormat.DISCORD:
        body = {
            "content": summary(payload),
            "embeds": [
                {
                    "title": payload["type"],
                    "description": summary(payload),
                    "color": _COLORS.get(payload.get("severity", "INFO"), _COLORS["INFO"]),
                    "timestamp": payload.get("timestamp"),
                }
            ],
        }
    else:
        body = payload
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def delivery_id_for(bus_event: str, data: dict[str, Any], created_at: str, webhook_id: str) -> str:
    """The same id for the same event to the same webhook, however often SQS delivers the event."""
    identity = json.dumps([bus_event, data, created_at, webhook_id], sort_keys=True, default=str)
    return "dlv_" + hashlib.sha256(identity.encode()).hexdigest()[:26]
