"""End to end on `railyard dev`: outgoing webhooks added with the CLI. A receiver on 127.0.0.1 that
answers 500 twice gets the deployment's event a third time, 2 then 4 seconds later (the production
schedule), each one signed with the secret `railyard webhook add` printed; the delivery log shows
500, 500, 200; a Slack-format webhook gets `{"text": ...}`; and a test-send reaches the receiver."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from chalicelib.domain.webhook_signing import verify
from tests.support.platform import Dev
from tests.support.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.e2e


def _add(dev: Dev, app: Path, *args: str) -> tuple[str, str]:
    out = dev.cli("webhook", "add", *args, cwd=app).stdout
    webhook_id = re.search(r"Added webhook (\S+) ", out)
    secret = re.search(r"(whsec_\S+)", out)
    assert webhook_id and secret, out
    return webhook_id.group(1), secret.group(1)


def _wait_answered(dev: Dev, project_id: str, hook: str) -> None:
    """Until an attempt of the webhook's newest delivery got a 200, or 15 s. Polled through the API:
    a `railyard webhook deliveries` per poll is a new Python process (~0.4 s of CPU)."""
    path = f"/v1/projects/{project_id}/webhooks/{hook}/deliveries"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        newest = dev.api("GET", path)["deliveries"][:1]
        if any(attempt["status"] == 200 for delivery in newest for attempt in delivery["attempts"]):
            return
        time.sleep(0.5)


def test_a_webhook_that_fails_twice_is_delivered_on_the_third_try_signed(dev: Dev, tmp_path: Path) -> None:
    app = dev.app(tmp_path, "hello-python", "hooks")
    with WebhookReceiver([500, 500]) as receiver, WebhookReceiver() as slack:
        hook, secret = _add(dev, app, receiver.url, "--events", "deployment.completed,deployment.failed")
        _add(dev, app, slack.url, "--events", "deployment.completed", "--format", "slack")
        assert hook in dev.cli("webhook", "list", cwd=app).stdout

        dev.cli("up", cwd=app)

        got = receiver.wait_for(3, timeout=60)
        for request in got:
            assert verify(secret, request.body, request.headers["x-railyard-signature"], int(time.time()))
            assert request.path == "/hook" and request.headers["x-railyard-event"] == "deployment.completed"
        assert len({r.headers["x-railyard-delivery"] for r in got}) == 1  # one delivery, three attempts
        assert [r.headers["x-railyard-attempt"] for r in got] == ["1", "2", "3"]
        assert got[1].at - got[0].at >= 1.5 and got[2].at - got[1].at >= 3.5  # 2 s, then 4 s
        payload = got[2].json()
        assert payload["type"] == "Deployment.deployed" and payload["details"]["status"] == "SUCCESS"
        assert payload["resource"]["service"]["name"] == "web"
        assert payload["resource"]["project"]["name"] == "hooks"
        (message,) = slack.wait_for(1, timeout=30)
        assert message.json()["text"].startswith("hooks/production/web: deployment dep_")
        assert message.json()["text"].endswith(" SUCCESS")

        _wait_answered(dev, dev.link(app)["projectId"], hook)  # the 3rd result is written after its POST
        log = dev.cli("webhook", "deliveries", hook, cwd=app).stdout
        outcomes = re.findall(r"#(\d)\s+HTTP (\d{3})", log)
        assert outcomes == [("1", "500"), ("2", "500"), ("3", "200")], log

        tested = dev.cli("webhook", "test", hook, cwd=app)
        assert "HTTP 200" in tested.stdout, tested.stdout
        assert receiver.wait_for(4, timeout=10)[3].json()["type"] == "Webhook.test"

        dev.cli("webhook", "remove", hook, cwd=app)
        assert hook not in dev.cli("webhook", "list", cwd=app).stdout
