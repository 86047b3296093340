"""The events a webhook may subscribe to: one list (the API's validation, the CLI's help and
docs/webhooks.md follow it), kept apart from webhooks.py so that the CLI reads it without
importing the domain's models. Which bus event is which: webhooks.py `webhook_event_of`."""

from __future__ import annotations

from dataclasses import dataclass

TEST_EVENT = "webhook.test"  # what a test-send carries; never subscribed to, always sent


@dataclass(frozen=True)
class WebhookEvent:
    name: str  # what a webhook subscribes to (`--events`)
    railway_type: str  # the payload's `type`, as Railway names its deployment events
    severity: str  # the payload's `severity`
    meaning: str  # for docs and the CLI's help
    status: str | None = None  # the DeploymentStatus it implies (an end carries its own in the event)


WEBHOOK_EVENTS: tuple[WebhookEvent, ...] = (
    WebhookEvent(
        "deployment.started", "Deployment.initializing", "INFO", "a deployment was requested", "QUEUED"
    ),
    WebhookEvent("deployment.building", "Deployment.building", "INFO", "its build started", "BUILDING"),
    WebhookEvent(
        "deployment.completed", "Deployment.deployed", "INFO", "it is live (SUCCESS; COMPLETED for a job)"
    ),
    WebhookEvent("deployment.failed", "Deployment.failed", "WARNING", "it ended FAILED or CRASHED"),
    WebhookEvent("deployment.skipped", "Deployment.skipped", "INFO", "nothing to deploy (SKIPPED)"),
    WebhookEvent("deployment.cancelled", "Deployment.cancelled", "INFO", "it was cancelled"),
)
EVENTS_BY_NAME: dict[str, WebhookEvent] = {event.name: event for event in WEBHOOK_EVENTS}
TEST = WebhookEvent(TEST_EVENT, "Webhook.test", "INFO", "a test-send (railyard webhook test)")
