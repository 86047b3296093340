"""The composition root's outgoing-webhook parts (docs/webhooks.md, docs/decisions/0038): the store,
the deliveries queue, the guarded HTTP client, and the three use cases built on them, on first use
like the rest of chalicelib/wiring.py's Container, which inherits them."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from chalicelib.wiring_core import CoreParts

if TYPE_CHECKING:
    from chalicelib.adapters.webhook_queue import SqsDeliveryQueue
    from chalicelib.adapters.webhook_store import DynamoWebhookStore
    from chalicelib.domain.webhook_delivery import DeliveryWorker, HttpPoster, WebhookFanOut
    from chalicelib.domain.webhooks import WebhookService


class WebhookParts(CoreParts):
    """Outgoing webhooks; the Container provides what is declared here."""

    @cached_property
    def webhook_store(self) -> DynamoWebhookStore:
        from chalicelib.adapters.webhook_store import DynamoWebhookStore

        return DynamoWebhookStore(self.settings.table_name)

    @cached_property
    def webhook_queue(self) -> SqsDeliveryQueue:
        from chalicelib.adapters.webhook_queue import SqsDeliveryQueue

        queue = self.settings.catalogue.queue("webhook-deliveries")
        return SqsDeliveryQueue(queue.name, queue.dlq_name)

    @cached_property
    def webhook_poster(self) -> HttpPoster:
        from chalicelib.adapters.webhook_http import GuardedPoster

        return GuardedPoster(allow_loopback=self.settings.webhook_allow_loopback)

    @cached_property
    def webhooks(self) -> WebhookService:
        from chalicelib.domain.webhooks import WebhookService

        s = self.settings
        return WebhookService(
            self.webhook_store,
            self.projects,
            self.sealer,
            self.webhook_queue,
            self.clock,
            self.ids,
            allow_loopback=s.webhook_allow_loopback,
        )

    @cached_property
    def webhook_fan_out(self) -> WebhookFanOut:
        from chalicelib.domain.webhook_delivery import WebhookFanOut

        return WebhookFanOut(self.repository, self.webhook_store, self.webhook_queue)

    @cached_property
    def webhook_deliveries(self) -> DeliveryWorker:
        from chalicelib.domain.webhook_delivery import DeliveryWorker

        return DeliveryWorker(
            self.webhook_store,
            self.sealer,
            self.webhook_poster,
            self.webhook_queue,
            self.clock,
            retry_base_seconds=self.settings.webhook_retry_base_seconds,
        )
