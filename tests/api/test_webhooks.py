"""A project's outgoing webhooks through the API on moto (KMS seals the secret, SQS carries the
deliveries): add, list, remove, validation and who may do what, and a test-send that the
deliveries consumer POSTs, signed, to a receiver on 127.0.0.1 and records in the delivery log."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.adapters.aws import client
from chalicelib.domain.webhook_signing import verify
from tests.api.conftest import OTHER_ORG_TOKEN, Api
from tests.support.webhook_receiver import WebhookReceiver


@pytest.fixture(autouse=True)
def loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Set before the API's container reads its settings: the receiver is on 127.0.0.1."""
    monkeypatch.setenv("RAILYARD_WEBHOOK_ALLOW_LOOPBACK", "1")


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


def _project(api: Api) -> str:
    status, created = api.call("POST", "/v1/projects", {"name": "demo"})
    assert status == 201, created
    return str(created["project"]["id"])


def _add(api: Api, project_id: str, token: str | None = None, **body: Any) -> tuple[int, Any]:
    payload = {"url": "https://hooks.example.com/x", "events": ["deployment.completed"], **body}
    kwargs = {"token": token} if token else {}
    return api.call("POST", f"/v1/projects/{project_id}/webhooks", payload, **kwargs)


def test_a_webhook_is_added_with_its_secret_shown_once_and_stored_only_sealed(api: Api) -> None:
    project_id = _project(api)

    status, body = _add(api, project_id, events=["deployment.completed", "deployment.failed"], format="slack")

    assert status == 201, body
    webhook, secret = body["webhook"], body["secret"]
    assert secret.startswith("whsec_") and len(secret) > 40
    assert webhook["events"] == ["deployment.completed", "deployment.failed"] and webhook["format"] == "slack"
    _, listed = api.call("GET", f"/v1/projects/{project_id}/webhooks")
    assert listed == {"webhooks": [webhook]} and secret not in json.dumps(listed)
    assert api.call("GET", f"/v1/projects/{project_id}/webhooks/{webhook['id']}") == (
        200,
        {"webhook": webhook},
    )
    stored = api.container.webhook_store.get_webhook(project_id, webhook["id"])
    assert secret not in stored.sealed_secret and stored.sealed_secret.startswith("sealed.v1.")
    # WHEN it is removed THEN it is gone
    assert api.call("DELETE", f"/v1/projects/{project_id}/webhooks/{webhook['id']}") == (
        200,
        {"removed": webhook["id"]},
    )
    assert api.call("GET", f"/v1/projects/{project_id}/webhooks") == (200, {"webhooks": []})
    assert api.call("DELETE", f"/v1/projects/{project_id}/webhooks/{webhook['id']}")[0] == 404


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"url": "ftp://hooks.example.com/x"}, "must start with https:// or http://"),
        ({"url": "http://169.254.169.254/latest/meta-data/"}, "link-local"),
        ({"url": "http://10.0.0.8/hook"}, "not a public address"),
        ({"events": ["deployment.exploded"]}, "unknown webhook event 'deployment.exploded'; events are: "),
        ({"events": []}, "events"),
        ({"format": "teams"}, "format"),
    ],
)
def test_bad_webhooks_are_400s_that_say_what_is_wrong(api: Api, body: dict[str, Any], says: str) -> None:
    project_id = _project(api)

    status, answer = _add(api, project_id, **body)

    assert status == 400 and answer["Code"] == "BadRequest" and says in answer["Message"], answer


def test_another_workspace_sees_nothing_and_a_read_only_token_may_list_but_not_change(api: Api) -> None:
    project_id = _project(api)
    _, made = _add(api, project_id)
    hook = made["webhook"]["id"]
    for method, path in (
        ("GET", f"/v1/projects/{project_id}/webhooks"),
        ("POST", f"/v1/projects/{project_id}/webhooks/{hook}/test"),
        ("GET", f"/v1/projects/{project_id}/webhooks/{hook}/deliveries"),
        ("DELETE", f"/v1/projects/{project_id}/webhooks/{hook}"),
    ):
        assert api.call(method, path, token=OTHER_ORG_TOKEN)[0] == 404, (method, path)
    assert _add(api, project_id, token=OTHER_ORG_TOKEN)[0] == 404

    workspace = api.container.settings.org_id
    status, issued = api.call(
        "POST", f"/v1/workspaces/{workspace}/tokens", {"name": "ro", "actions": ["read"]}
    )
    assert status == 201, issued
    reader = issued["secret"]
    assert api.call("GET", f"/v1/projects/{project_id}/webhooks", token=reader)[0] == 200
    assert api.call("GET", f"/v1/projects/{project_id}/webhooks/{hook}/deliveries", token=reader)[0] == 200
    assert _add(api, project_id, token=reader)[0] == 403
    assert api.call("POST", f"/v1/projects/{project_id}/webhooks/{hook}/test", token=reader)[0] == 403
    assert api.call("DELETE", f"/v1/projects/{project_id}/webhooks/{hook}", token=reader)[0] == 403


def _drain_deliveries(api: Api, until: float) -> int:
    """Runs the deliveries Lambda on what its queue holds, as its event source would."""
    from functions.webhook_deliveries import handler
    from railyard.localdev.pollers import LambdaContext, sqs_event

    sqs = client("sqs")
    url = sqs.get_queue_url(QueueName=api.container.settings.catalogue.queue("webhook-deliveries").name)
    handled = 0
    while time.monotonic() < until:
        messages = sqs.receive_message(QueueUrl=url["QueueUrl"], MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return handled
        result = handler(sqs_event(messages, "arn:aws:sqs:us-east-1:123456789012:x", "us-east-1"),
                         LambdaContext("webhook-deliveries", "test"))  # fmt: skip
        assert result["batchItemFailures"] == []
        for m in messages:
            sqs.delete_message(QueueUrl=url["QueueUrl"], ReceiptHandle=m["ReceiptHandle"])
        handled += len(messages)
    return handled


def test_a_test_send_reaches_the_receiver_signed_and_shows_in_the_delivery_log(
    api: Api, receiver: WebhookReceiver
) -> None:
    project_id = _project(api)
    _, made = _add(api, project_id, url=receiver.url)
    hook, secret = made["webhook"]["id"], made["secret"]

    status, queued = api.call("POST", f"/v1/projects/{project_id}/webhooks/{hook}/test")
    assert status == 202 and queued["event"] == "webhook.test"
    assert _drain_deliveries(api, time.monotonic() + 20) == 1

    (got,) = receiver.wait_for(1, timeout=5)
    assert verify(secret, got.body, got.headers["x-railyard-signature"], int(time.time()))
    assert got.headers["x-railyard-delivery"] == queued["deliveryId"]
    assert got.json()["type"] == "Webhook.test" and got.json()["resource"]["project"]["id"] == project_id
    status, log = api.call("GET", f"/v1/projects/{project_id}/webhooks/{hook}/deliveries")
    assert status == 200
    (delivery,) = log["deliveries"]
    assert delivery["id"] == queued["deliveryId"] and delivery["state"] == "DELIVERED"
    (attempt,) = delivery["attempts"]
    assert attempt["attempt"] == 1 and attempt["status"] == 200 and attempt["durationMs"] >= 0
