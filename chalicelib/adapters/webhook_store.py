"""The `WebhookStore` port on the platform's table: webhooks and their delivery log.

| entity   | pk               | sk                              | TTL                             |
|----------|------------------|---------------------------------|---------------------------------|
| Webhook  | PROJECT#<pid>    | WEBHOOK#<id>                    | -                               |
| Delivery | WEBHOOK#<wid>    | DELIVERY#<created ISO>#<id>     | created + DELIVERY_RETENTION_DAYS |

A project's webhooks share its partition (beside the PROJECT item), so listing them is one Query
(begins_with WEBHOOK#); the notifications consumer does it once per event. A webhook's deliveries
are one partition sorted by time: its log, newest first, is one Query (ScanIndexForward false,
Limit). A delivery is one item with its attempts (at most MAX_ATTEMPTS, a few hundred bytes each),
saved on the condition of its version (attempts are claimed before their POST: webhook_delivery.py);
DynamoDB deletes it after its TTL. Removing a webhook leaves its log to expire.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from chalicelib.adapters.dynamo.table import OnTable
from chalicelib.adapters.dynamo.writes import _CONDITIONAL_CHECK_FAILED_EXCEPTION
from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.webhook_delivery import Delivery, DeliveryAttempt, DeliveryState
from chalicelib.domain.webhooks import Webhook, WebhookFormat

PROJECT = "PROJECT"
WEBHOOK = "WEBHOOK"
DELIVERY = "DELIVERY"


def _webhook(body: dict[str, Any]) -> Webhook:
    return Webhook(**{**body, "events": tuple(body["events"]), "format": WebhookFormat(body["format"])})


def _delivery(body: dict[str, Any], version: int) -> Delivery:
    attempts = tuple(DeliveryAttempt(**a) for a in body["attempts"])
    return Delivery(
        **{**body, "state": DeliveryState(body["state"]), "attempts": attempts, "version": version}
    )


class DynamoWebhookStore(OnTable):
    def add_webhook(self, webhook: Webhook) -> None:
        from pynamodb.expressions.operand import Path

        item = self._t.item(
            f"{PROJECT}#{webhook.project_id}",
            f"{WEBHOOK}#{webhook.id}",
            kind=WEBHOOK,
            version=webhook.version,
            body=asdict(webhook),
        )
        self._put(item, Path("pk").does_not_exist(), f"webhook {webhook.id} already exists")

    def get_webhook(self, project_id: str, webhook_id: str) -> Webhook:
        item = self._t.item
        try:
            found = item.get(f"{PROJECT}#{project_id}", f"{WEBHOOK}#{webhook_id}", consistent_read=True)
        except item.DoesNotExist:
            raise NotFound(f"webhook {webhook_id} not found") from None
        return _webhook(found.attribute_values["body"])

    def list_webhooks(self, project_id: str) -> list[Webhook]:
        from pynamodb.expressions.operand import Path

        found = self._t.item.query(
            f"{PROJECT}#{project_id}", range_key_condition=Path("sk").startswith(f"{WEBHOOK}#")
        )
        return [_webhook(item.attribute_values["body"]) for item in found]

    def remove_webhook(self, webhook: Webhook) -> None:
        self._t.item(f"{PROJECT}#{webhook.project_id}", f"{WEBHOOK}#{webhook.id}").delete()

    def get_delivery(self, webhook_id: str, created_at: str, delivery_id: str) -> Delivery | None:
        item = self._t.item
        try:
            found = item.get(
                f"{WEBHOOK}#{webhook_id}", f"{DELIVERY}#{created_at}#{delivery_id}", consistent_read=True
            )
        except item.DoesNotExist:
            return None
        return _delivery(found.attribute_values["body"], int(found.attribute_values["version"]))

    def save_delivery(self, delivery: Delivery, expires_at: int) -> None:
        from pynamodb.expressions.operand import Path

        body = asdict(delivery)
        body.pop("version")
        item = self._t.item(
            f"{WEBHOOK}#{delivery.webhook_id}",
            f"{DELIVERY}#{delivery.created_at}#{delivery.id}",
            kind=DELIVERY,
            version=delivery.version,
            body=body,
            expires_at=expires_at,
        )
        condition = (
            Path("pk").does_not_exist() if delivery.version == 1 else Path("version") == delivery.version - 1
        )
        self._put(item, condition, f"delivery {delivery.id} was changed concurrently")

    def list_deliveries(self, webhook_id: str, limit: int) -> list[Delivery]:
        from pynamodb.expressions.operand import Path

        found = self._t.item.query(
            f"{WEBHOOK}#{webhook_id}",
            range_key_condition=Path("sk").startswith(f"{DELIVERY}#"),
            scan_index_forward=False,
            limit=limit,
        )
        return [
            _delivery(item.attribute_values["body"], int(item.attribute_values["version"])) for item in found
        ]

    @staticmethod
    def _put(item: Any, condition: Any, conflict: str) -> None:
        from pynamodb.exceptions import PutError

        try:
            item.save(condition=condition)
        except PutError as error:
            if error.cause_response_code == _CONDITIONAL_CHECK_FAILED_EXCEPTION:
                raise Conflict(conflict) from error
            raise
