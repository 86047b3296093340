"""Fakes of the outgoing-webhook ports (chalicelib/domain/webhooks.py, webhook_delivery.py) for
domain unit tests: the store with the Dynamo adapter's version conditions, a queue that keeps what
was sent (and delayed), and a poster that answers from a script."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.webhook_delivery import Delivery, DeliveryMessage, PostResult
from chalicelib.domain.webhooks import Webhook


class FakeWebhookStore:
    def __init__(self) -> None:
        self.webhooks: dict[tuple[str, str], Webhook] = {}
        self.deliveries: dict[str, Delivery] = {}
        self._lock = threading.Lock()

    def add_webhook(self, webhook: Webhook) -> None:
        if (webhook.project_id, webhook.id) in self.webhooks:
            raise Conflict(f"webhook {webhook.id} already exists")
        self.webhooks[(webhook.project_id, webhook.id)] = webhook

    def get_webhook(self, project_id: str, webhook_id: str) -> Webhook:
        try:
            return self.webhooks[(project_id, webhook_id)]
        except KeyError:
            raise NotFound(f"webhook {webhook_id} not found") from None

    def list_webhooks(self, project_id: str) -> list[Webhook]:
        return [w for (p, _), w in sorted(self.webhooks.items()) if p == project_id]

    def remove_webhook(self, webhook: Webhook) -> None:
        self.webhooks.pop((webhook.project_id, webhook.id), None)

    def get_delivery(self, webhook_id: str, created_at: str, delivery_id: str) -> Delivery | None:
        return self.deliveries.get(delivery_id)

    def save_delivery(self, delivery: Delivery, expires_at: int) -> None:
        with self._lock:
            stored = self.deliveries.get(delivery.id)
            if (stored.version if stored else 0) != delivery.version - 1:
                raise Conflict(f"delivery {delivery.id} was changed concurrently")
            self.deliveries[delivery.id] = delivery

    def list_deliveries(self, webhook_id: str, limit: int) -> list[Delivery]:
        mine = [d for d in self.deliveries.values() if d.webhook_id == webhook_id]
        return sorted(mine, key=lambda d: (d.created_at, d.id), reverse=True)[:limit]


@dataclass
class FakeDeliveryQueue:
    sent: list[tuple[DeliveryMessage, int]] = field(default_factory=list)  # (message, delay)
    dead: list[DeliveryMessage] = field(default_factory=list)

    def send(self, message: DeliveryMessage, delay_seconds: int) -> None:
        self.sent.append((message, delay_seconds))

    def dead_letter(self, message: DeliveryMessage) -> None:
        self.dead.append(message)

    def take(self) -> DeliveryMessage:
        """The oldest message still queued (as a consumer would receive it)."""
        return self.sent.pop(0)[0]


@dataclass
class ScriptedPoster:
    statuses: list[int | None] = field(default_factory=list)  # None: no answer (an error); then 200
    posts: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> PostResult:
        self.posts.append((url, body, headers))
        status = self.statuses.pop(0) if self.statuses else 200
        if status is None:
            return PostResult(None, "ConnectionRefusedError: refused", 3)
        return PostResult(status, None if 200 <= status < 300 else "Internal Server Error", 7)
