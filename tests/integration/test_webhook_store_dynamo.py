"""Webhooks and their delivery log in the single table (moto in-process DynamoDB): a project's
webhooks listed by one query, a delivery's writes conditioned on its version (the claim before a
POST), the log newest first and bounded, each delivery with its TTL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from chalicelib.adapters.dynamo.schema import create_table
from chalicelib.adapters.dynamo.table import _table
from chalicelib.adapters.webhook_store import DynamoWebhookStore
from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.webhook_delivery import Delivery, DeliveryAttempt, DeliveryState
from chalicelib.domain.webhooks import Webhook, WebhookFormat
from tests.support.moto_inprocess import in_process_aws

TABLE = "railyard-test-webhooks"


@pytest.fixture
def store() -> Iterator[DynamoWebhookStore]:
    with in_process_aws():
        create_table(TABLE)
        yield DynamoWebhookStore(TABLE)


def _hook(webhook_id: str, project_id: str = "prj_1") -> Webhook:
    return Webhook(
        webhook_id, project_id, "org_1", "https://x.example/h", ("deployment.failed",),
        WebhookFormat.DISCORD, "sealed.v1.a.b.c", "2026-12-04T12:00:00Z",
    )  # fmt: skip


def test_webhooks_round_trip_per_project_and_are_removed(store: DynamoWebhookStore) -> None:
    store.add_webhook(_hook("whk_a"))
    store.add_webhook(_hook("whk_b"))
    store.add_webhook(_hook("whk_c", project_id="prj_2"))

    assert store.get_webhook("prj_1", "whk_a") == _hook("whk_a")
    assert [w.id for w in store.list_webhooks("prj_1")] == ["whk_a", "whk_b"]
    with pytest.raises(Conflict):
        store.add_webhook(_hook("whk_a"))
    store.remove_webhook(_hook("whk_a"))
    with pytest.raises(NotFound):
        store.get_webhook("prj_1", "whk_a")
    with pytest.raises(NotFound):
        store.get_webhook("prj_2", "whk_b")  # another project's id does not find it


def test_a_delivery_is_claimed_once_and_the_log_is_newest_first(store: DynamoWebhookStore) -> None:
    claimed = Delivery(
        "dlv_1", "whk_a", "prj_1", "deployment.failed", "2026-12-04T12:00:00Z",
        attempts=(DeliveryAttempt(1, "2026-12-04T12:00:01Z"),), version=1,
    )  # fmt: skip
    store.save_delivery(claimed, expires_at=1_900_000_000)
    with pytest.raises(Conflict):  # a second copy of the message claims the same attempt
        store.save_delivery(claimed, expires_at=1_900_000_000)
    done = replace(
        claimed,
        state=DeliveryState.DELIVERED,
        attempts=(DeliveryAttempt(1, "2026-12-04T12:00:01Z", 204, None, 35),),
        version=2,
    )
    store.save_delivery(done, expires_at=1_900_000_000)
    later = replace(claimed, id="dlv_2", created_at="2026-12-04T13:00:00Z")
    store.save_delivery(later, expires_at=1_900_000_000)

    assert store.get_delivery("whk_a", "2026-12-04T12:00:00Z", "dlv_1") == done
    assert store.get_delivery("whk_a", "2026-12-04T12:00:00Z", "dlv_9") is None
    assert [d.id for d in store.list_deliveries("whk_a", 10)] == ["dlv_2", "dlv_1"]
    assert [d.id for d in store.list_deliveries("whk_a", 1)] == ["dlv_2"]
    item = _table(TABLE).item.get("WEBHOOK#whk_a", "DELIVERY#2026-12-04T12:00:00Z#dlv_1")
    assert item.attribute_values["expires_at"] == 1_900_000_000
