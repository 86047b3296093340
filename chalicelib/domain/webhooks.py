"""Outgoing webhooks: what a project's webhook is, which events it may ask for, and managing them.

A `Webhook` belongs to one project and names a URL, the events it wants (from WEBHOOK_EVENTS in
webhook_events.py, the one list of names: the API, the CLI's help and docs/webhooks.md follow it) and a format
(Railway-shaped JSON, Slack or Discord). Each gets a signing secret, shown once when it is created
and stored only sealed (docs/decisions/0023's envelope encryption, bound to the project and the
webhook: `secret_context`). Sending, signing and retrying are webhook_delivery.py's.

The bus's deployment events map onto webhook events here (`webhook_event_of`), Railway's deployment
states in mind: a deployment that is requested has `deployment.started`, one whose build starts
`deployment.building`, and its end `deployment.completed` (SUCCESS, or COMPLETED for a job),
`deployment.failed` (FAILED or CRASHED), `deployment.skipped` or `deployment.cancelled`.

Where a webhook may point (`address_refusal`): a public address only. Loopback is allowed when the
platform says so (RAILYARD_WEBHOOK_ALLOW_LOOPBACK, which `railyard dev` and the tests set); private,
link-local (the cloud's metadata endpoint), CGNAT, multicast and reserved addresses never are. A URL
naming such an address literally is refused when it is added; a name is checked each time it is
resolved, right before each POST (chalicelib/adapters/webhook_http.py).
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from chalicelib.domain.errors import BadRequest, Conflict, NotFound
from chalicelib.domain.ids import Clock, IdFactory, iso
from chalicelib.domain.models import DeploymentStatus, Project, Versioned
from chalicelib.domain.sealing import SealedValue, Sealer, sealing_context
from chalicelib.domain.webhook_events import EVENTS_BY_NAME, TEST_EVENT, WEBHOOK_EVENTS, WebhookEvent

if TYPE_CHECKING:
    from chalicelib.domain.policy import Access
    from chalicelib.domain.projects import ProjectService
    from chalicelib.domain.webhook_delivery import Delivery, DeliveryMessage, DeliveryQueue

MAX_WEBHOOKS_PER_PROJECT = 20
MAX_URL_LENGTH = 2048
SECRET_PREFIX = "whsec_"
# A deployment.completed event's status -> the webhook event it is.
_END_EVENTS: dict[str, str] = {
    DeploymentStatus.SUCCESS: "deployment.completed",
    DeploymentStatus.COMPLETED: "deployment.completed",
    DeploymentStatus.FAILED: "deployment.failed",
    DeploymentStatus.CRASHED: "deployment.failed",
    DeploymentStatus.SKIPPED: "deployment.skipped",
    DeploymentStatus.CANCELLED: "deployment.cancelled",
}


def webhook_event_of(bus_event: str, data: Mapping[str, object]) -> WebhookEvent | None:
    """The webhook event a bus event (chalicelib/domain/events.py) is, if any."""
    if bus_event == "deployment.requested":
        return EVENTS_BY_NAME["deployment.started"]
    if bus_event == "build.started":
        return EVENTS_BY_NAME["deployment.building"]
    if bus_event == "deployment.completed":
        name = _END_EVENTS.get(str(data.get("status")))
        return EVENTS_BY_NAME[name] if name else None
    return None


class WebhookFormat(StrEnum):
    JSON = "json"  # Railway's payload (webhook_payloads.py)
    SLACK = "slack"  # {"text": ..., "blocks": [...]}: a Slack incoming webhook
    DISCORD = "discord"  # {"content": ..., "embeds": [...]}: a Discord webhook


@dataclass(frozen=True)
class Webhook(Versioned):
    id: str
    project_id: str
    workspace_id: str
    url: str
    events: tuple[str, ...]
    format: WebhookFormat
    sealed_secret: str  # SealedValue.to_text(); the plaintext is shown once, at creation
    created_at: str
    version: int = 1

    def wants(self, event: str) -> bool:
        return event == TEST_EVENT or event in self.events


def secret_context(project_id: str, webhook_id: str) -> dict[str, str]:
    """What a webhook's sealed secret is bound to. The key policy (stacks/keys.py) admits exactly
    the sealed variables' two context keys, so a webhook uses them too: its project in the place of
    a service (a project id never equals a service id) and `webhook/<id>` as the name (no variable
    name has a '/'), so no variable's ciphertext opens as a webhook secret or the other way round."""
    return sealing_context(project_id, f"webhook/{webhook_id}")


def open_secret(sealer: Sealer, webhook: Webhook) -> str:
    sealed = SealedValue.from_text(webhook.sealed_secret)
    return sealer.open(sealed, secret_context(webhook.project_id, webhook.id)).decode()


def address_refusal(address: str, allow_loopback: bool) -> str | None:
    """Why a webhook may not be sent to this IP address, or None when it may."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return None if allow_loopback else f"{address} is a loopback address"
    if ip.is_link_local:
        return f"{address} is a link-local address (the cloud's metadata endpoint lives there)"
    if not ip.is_global or ip.is_multicast:
        return f"{address} is not a public address (private, shared, reserved or multicast)"
    return None


def check_url(raw: str, allow_loopback: bool) -> str:
    """The URL as stored; BadRequest naming what is wrong with it."""
    url = raw.strip()
    if len(url) > MAX_URL_LENGTH:
        raise BadRequest(f"the webhook URL is {len(url)} characters; the limit is {MAX_URL_LENGTH}")
    try:
        parts = urlsplit(url)
        parts.hostname  # noqa: B018 (raises on a malformed [IPv6] host)
    except ValueError:
        raise BadRequest(f"webhook URL {url!r} is not a URL") from None
    if parts.scheme not in ("http", "https"):
        raise BadRequest(f"webhook URL {url!r} must start with https:// or http://")
    if not parts.hostname or any(c.isspace() for c in url):
        raise BadRequest(f"webhook URL {url!r} has no host, or has spaces")
    if parts.username is not None or parts.password is not None:
        raise BadRequest("a webhook URL may not carry a user name or password; put a token in its path")
    try:
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        raise BadRequest(f"webhook URL {url!r} has an invalid port") from None
    try:
        literal = ipaddress.ip_address(parts.hostname)
    except ValueError:
        return url  # a name: checked each time it is resolved
    refusal = address_refusal(str(literal), allow_loopback)
    if refusal:
        raise BadRequest(f"webhook URL {url!r} cannot be used: {refusal}")
    return url


def parse_events(names: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    wanted = tuple(dict.fromkeys(name.strip() for name in names if name.strip()))
    if not wanted:
        raise BadRequest("a webhook needs at least one event; events are: " + _event_names())
    unknown = [name for name in wanted if name not in EVENTS_BY_NAME]
    if unknown:
        raise BadRequest(f"unknown webhook event {unknown[0]!r}; events are: {_event_names()}")
    return wanted


def _event_names() -> str:
    return ", ".join(event.name for event in WEBHOOK_EVENTS)


class WebhookStore(Protocol):
    """Webhooks under their project and each one's delivery log (chalicelib/adapters/webhook_store.py)."""

    def add_webhook(self, webhook: Webhook) -> None: ...  # Conflict if the id exists
    def get_webhook(self, project_id: str, webhook_id: str) -> Webhook: ...  # NotFound
    def list_webhooks(self, project_id: str) -> list[Webhook]: ...
    def remove_webhook(self, webhook: Webhook) -> None: ...
    def get_delivery(self, webhook_id: str, created_at: str, delivery_id: str) -> Delivery | None: ...
    # Conditional on the delivery's version (Conflict); `expires_at` is its TTL, epoch seconds.
    def save_delivery(self, delivery: Delivery, expires_at: int) -> None: ...
    def list_deliveries(self, webhook_id: str, limit: int) -> list[Delivery]: ...  # newest first


@dataclass(frozen=True)
class NewWebhook:
    webhook: Webhook
    secret: str  # shown once


class WebhookService:
    """Add, list, remove and test-send a project's webhooks, and read their delivery logs."""

    def __init__(
        self,
        store: WebhookStore,
        projects: ProjectService,
        sealer: Sealer,
        queue: DeliveryQueue,
        clock: Clock,
        ids: IdFactory,
        allow_loopback: bool = False,
    ) -> None:
        self._store = store
        self._projects = projects
        self._sealer = sealer
        self._queue = queue
        self._clock = clock
        self._ids = ids
        self._allow_loopback = allow_loopback

    def add(
        self, who: Access, project_id: str, url: str, events: list[str], format: str = "json"
    ) -> NewWebhook:
        project = self._projects.get_project(who, project_id)
        checked = check_url(url, self._allow_loopback)
        wanted = parse_events(events)
        try:
            chosen = WebhookFormat(format)
        except ValueError:
            known = ", ".join(f.value for f in WebhookFormat)
            raise BadRequest(f"unknown webhook format {format!r}; formats are: {known}") from None
        if len(self._store.list_webhooks(project.id)) >= MAX_WEBHOOKS_PER_PROJECT:
            raise Conflict(f"project {project.name} has {MAX_WEBHOOKS_PER_PROJECT} webhooks, the most it may")
        webhook_id = self._ids("whk")
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        sealed = self._sealer.seal(secret.encode(), secret_context(project.id, webhook_id)).to_text()
        webhook = Webhook(
            webhook_id, project.id, project.org_id, checked, wanted, chosen, sealed, iso(self._clock())
        )
        self._store.add_webhook(webhook)
        return NewWebhook(webhook, secret)

    def list_webhooks(self, who: Access, project_id: str) -> list[Webhook]:
        project = self._projects.get_project(who, project_id)
        return self._store.list_webhooks(project.id)

    def get(self, who: Access, project_id: str, webhook_id: str) -> Webhook:
        return self._load(who, project_id, webhook_id)[1]

    def _load(self, who: Access, project_id: str, webhook_id: str) -> tuple[Project, Webhook]:
        project = self._projects.get_project(who, project_id)
        try:
            return project, self._store.get_webhook(project.id, webhook_id)
        except NotFound:
            raise NotFound(f"webhook {webhook_id} not found in project {project.name}") from None

    def remove(self, who: Access, project_id: str, webhook_id: str) -> Webhook:
        webhook = self.get(who, project_id, webhook_id)
        self._store.remove_webhook(webhook)
        return webhook

    def test(self, who: Access, project_id: str, webhook_id: str) -> DeliveryMessage:
        """Queues a test payload for the webhook: it goes out as any delivery, signed and retried."""
        from chalicelib.domain.webhook_delivery import DeliveryMessage
        from chalicelib.domain.webhook_payloads import test_payload

        project, webhook = self._load(who, project_id, webhook_id)
        now = iso(self._clock())
        message = DeliveryMessage(
            delivery_id=self._ids("dlv"),
            webhook_id=webhook.id,
            project_id=webhook.project_id,
            event=TEST_EVENT,
            created_at=now,
            attempt=1,
            payload=test_payload(project, webhook, now),
        )
        self._queue.send(message, 0)
        return message

    def deliveries(self, who: Access, project_id: str, webhook_id: str, limit: int) -> list[Delivery]:
        if not 1 <= limit <= 100:
            raise BadRequest(f"limit must be between 1 and 100, got {limit}")
        webhook = self.get(who, project_id, webhook_id)
        return self._store.list_deliveries(webhook.id, limit)
