"""Outgoing webhooks' rules, with fakes: the retry schedule, signatures a receiver can verify, where
a webhook may point, the payloads of each format, and one POST per attempt however often SQS
delivers a message (chalicelib/domain/webhooks.py, webhook_delivery.py, webhook_payloads.py,
webhook_signing.py)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.errors import BadRequest
from chalicelib.domain.models import (
    Deployment,
    DeploymentKind,
    DeploymentStatus,
    Environment,
    Project,
    Service,
)
from chalicelib.domain.webhook_delivery import (
    CLAIM_SECONDS,
    MAX_ATTEMPTS,
    Delivery,
    DeliveryAttempt,
    DeliveryMessage,
    DeliveryState,
    DeliveryWorker,
    WebhookFanOut,
    retry_delay,
)
from chalicelib.domain.webhook_payloads import PayloadFacts, railway_payload, render
from chalicelib.domain.webhook_signing import SIGNATURE_HEADER, signature, verify
from chalicelib.domain.webhooks import (
    EVENTS_BY_NAME,
    Webhook,
    WebhookFormat,
    address_refusal,
    check_url,
    secret_context,
    webhook_event_of,
)
from tests.fakes import FakeSealer, InMemoryRepository
from tests.support.webhook_fakes import FakeDeliveryQueue, FakeWebhookStore, ScriptedPoster

SECRET = "whsec_test-secret"
T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def test_retries_wait_2_4_8_seconds_doubling_up_to_sqs_900_second_cap() -> None:
    assert [retry_delay(n) for n in range(1, MAX_ATTEMPTS)] == [2, 4, 8, 16, 32, 64, 128, 256, 512]
    assert retry_delay(10) == 900 and retry_delay(30) == 900
    assert [retry_delay(n, base=0) for n in (1, 5)] == [0, 0]  # the tests' setting: no wait


def test_a_receiver_verifies_the_signature_and_refuses_tampering_other_secrets_and_replays() -> None:
    body, now = b'{"type":"Deployment.deployed"}', 1_800_000_000
    header = signature(SECRET, body, now)

    assert header.startswith(f"t={now},v1=") and verify(SECRET, body, header, now + 10)
    assert not verify(SECRET, body + b" ", header, now)  # a changed byte
    assert not verify("whsec_other", body, header, now)
    assert not verify(SECRET, body, header, now + 301)  # replayed after the 5 minute tolerance
    assert not verify(SECRET, body, header.replace(f"t={now}", f"t={now + 1}"), now)  # moved timestamp
    for malformed in ("", "v1=abc", f"t=x,v1={header[-64:]}", f"t={now}"):
        assert not verify(SECRET, body, malformed, now)


@pytest.mark.parametrize(
    ("address", "allowed_with_loopback"),
    [
        ("169.254.169.254", False),  # the instance metadata endpoint
        ("10.0.0.5", False),
        ("192.168.1.1", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("::ffff:10.0.0.5", False),  # a private IPv4 address inside IPv6
        ("fe80::1", False),
        ("0.0.0.0", False),
        ("127.0.0.1", True),
        ("::1", True),
    ],
)
def test_only_public_addresses_and_loopback_when_allowed(address: str, allowed_with_loopback: bool) -> None:
    assert address_refusal(address, allow_loopback=False) is not None
    assert (address_refusal(address, allow_loopback=True) is None) is allowed_with_loopback
    assert address_refusal("93.184.216.34", allow_loopback=False) is None


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://hooks.example.com/x", "must start with https:// or http://"),
        ("hooks.example.com/x", "must start with https:// or http://"),
        ("https://", "has no host"),
        ("https://user:pw@hooks.example.com/x", "user name or password"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://10.1.2.3/x", "not a public address"),
        ("http://127.0.0.1:9/x", "loopback"),
        ("https://hooks.example.com:99999/x", "invalid port"),
        ("http://[::1/x", "is not a URL"),
    ],
)
def test_a_url_that_cannot_be_a_webhook_is_a_bad_request_saying_why(url: str, says: str) -> None:
    with pytest.raises(BadRequest, match=says):
        check_url(url, allow_loopback=False)


def test_names_and_public_urls_are_kept_and_loopback_only_when_allowed() -> None:
    assert (
        check_url(" https://hooks.slack.com/services/T/B/x ", False)
        == "https://hooks.slack.com/services/T/B/x"
    )
    assert check_url("http://127.0.0.1:8080/hook", allow_loopback=True) == "http://127.0.0.1:8080/hook"


def test_bus_events_map_to_railway_deployment_events() -> None:
    def name(bus: str, status: str | None = None) -> str | None:
        event = webhook_event_of(bus, {"status": status} if status else {})
        return event.name if event else None

    assert name("deployment.requested") == "deployment.started"
    assert name("build.started") == "deployment.building"
    assert name("deployment.completed", "SUCCESS") == name("deployment.completed", "COMPLETED")
    assert name("deployment.completed", "SUCCESS") == "deployment.completed"
    assert name("deployment.completed", "FAILED") == name("deployment.completed", "CRASHED")
    assert name("deployment.completed", "FAILED") == "deployment.failed"
    assert name("build.completed") is None and name("railyard.audit") is None


def _world(repo: InMemoryRepository) -> Deployment:
    now = T0.isoformat()
    project = Project("prj_1", "org_1", "shop", now)
    environment = Environment("env_1", "prj_1", "production", now, workspace_id="org_1")
    service = Service("svc_1", "prj_1", "env_1", "web", "web-production-shop", now, workspace_id="org_1")
    deployment = Deployment(
        "dep_1", "svc_1", "prj_1", "env_1", DeploymentKind.SOURCE, DeploymentStatus.FAILED, None, now, now,
        reason="health check failed", workspace_id="org_1",
    )  # fmt: skip
    repo.save(project, environment, service, deployment)
    return deployment


def _payload(status: str = "FAILED") -> dict[str, object]:
    repo = InMemoryRepository()
    deployment = _world(repo)
    facts = PayloadFacts(
        EVENTS_BY_NAME["deployment.failed"],
        deployment,
        status,
        repo.get_service("svc_1"),
        repo.get_environment("env_1"),
        repo.get_project("prj_1"),
        "2026-12-04T12:00:00Z",
    )
    return railway_payload(facts)


def test_the_json_payload_has_railways_shape() -> None:
    payload = _payload()

    assert payload["type"] == "Deployment.failed" and payload["severity"] == "WARNING"
    assert payload["timestamp"] == "2026-12-04T12:00:00Z"
    assert payload["details"] == {
        "id": "dep_1",
        "source": "CLI",
        "status": "FAILED",
        "reason": "health check failed",
        "branch": None,
        "commitHash": None,
        "commitAuthor": None,
        "commitMessage": None,
    }
    assert payload["resource"] == {
        "workspace": {"id": "org_1"},
        "project": {"id": "prj_1", "name": "shop"},
        "environment": {"id": "env_1", "name": "production", "isEphemeral": False},
        "service": {"id": "svc_1", "name": "web"},
        "deployment": {"id": "dep_1"},
    }
    assert json.loads(render(WebhookFormat.JSON, payload)) == payload


def test_a_pushed_deployment_names_its_commit_and_github_as_its_source() -> None:
    repo = InMemoryRepository()
    pushed = dataclasses.replace(
        _world(repo), commit_sha="abc123", commit_message="Fix", commit_author="ada", branch="main"
    )
    facts = PayloadFacts(
        EVENTS_BY_NAME["deployment.failed"], pushed, "FAILED", repo.get_service("svc_1"),
        repo.get_environment("env_1"), repo.get_project("prj_1"), "2026-12-04T12:00:00Z",
    )  # fmt: skip

    details = railway_payload(facts)["details"]

    assert isinstance(details, dict) and details["source"] == "GitHub"
    assert (details["branch"], details["commitHash"], details["commitAuthor"], details["commitMessage"]) == (
        "main", "abc123", "ada", "Fix"
    )  # fmt: skip


def test_slack_gets_text_and_discord_gets_content_with_an_embed() -> None:
    payload = _payload()
    line = "shop/production/web: deployment dep_1 FAILED: health check failed"

    slack = json.loads(render(WebhookFormat.SLACK, payload))
    discord = json.loads(render(WebhookFormat.DISCORD, payload))

    assert slack["text"] == line and slack["blocks"][0]["text"]["text"].endswith(line)
    assert set(slack) == {"text", "blocks"}
    assert discord["content"] == line and set(discord) == {"content", "embeds"}
    assert discord["embeds"][0]["title"] == "Deployment.failed" and discord["embeds"][0]["color"] == 0xE01E5A


class World:
    def __init__(self, statuses: list[int | None], fmt: WebhookFormat = WebhookFormat.JSON) -> None:
        self.clock = Clock()
        self.sealer = FakeSealer()
        self.store = FakeWebhookStore()
        self.queue = FakeDeliveryQueue()
        self.poster = ScriptedPoster(list(statuses))
        sealed = self.sealer.seal(SECRET.encode(), secret_context("prj_1", "whk_1")).to_text()
        self.webhook = Webhook(
            "whk_1", "prj_1", "org_1", "https://hooks.example.com/x", ("deployment.failed",), fmt, sealed,
            T0.isoformat(),
        )  # fmt: skip
        self.store.add_webhook(self.webhook)
        self.worker = DeliveryWorker(self.store, self.sealer, self.poster, self.queue, self.clock)

    def message(self, attempt: int = 1) -> DeliveryMessage:
        return DeliveryMessage(
            "dlv_1", "whk_1", "prj_1", "deployment.failed", T0.isoformat(), attempt, _payload()
        )

    def run(self, message: DeliveryMessage) -> None:
        self.worker.deliver(message)


def test_two_500s_then_a_200_is_delivered_on_the_third_attempt_each_signed() -> None:
    world = World([500, 500, 200])

    world.run(world.message())
    for expected_delay in (2, 4):
        message, delay = world.queue.sent[-1]
        assert delay == expected_delay
        world.run(message)

    delivery = world.store.deliveries["dlv_1"]
    assert delivery.state is DeliveryState.DELIVERED
    assert [(a.number, a.status) for a in delivery.attempts] == [(1, 500), (2, 500), (3, 200)]
    assert all(a.duration_ms is not None for a in delivery.attempts)
    assert len(world.poster.posts) == 3 and not world.queue.dead
    for _, body, headers in world.poster.posts:
        assert verify(SECRET, body, headers[SIGNATURE_HEADER], int(T0.timestamp()))
        assert headers["X-Railyard-Delivery"] == "dlv_1"
    assert [h["X-Railyard-Attempt"] for _, _, h in world.poster.posts] == ["1", "2", "3"]


def test_a_redelivered_message_never_posts_again_after_a_success() -> None:
    world = World([200])
    world.run(world.message())

    world.run(world.message())  # SQS delivers it again (the first worker died before deleting it)

    assert len(world.poster.posts) == 1 and not world.queue.sent
    assert world.store.deliveries["dlv_1"].state is DeliveryState.DELIVERED


def test_a_redelivered_failed_attempt_only_makes_sure_its_retry_was_sent() -> None:
    world = World([500])
    world.run(world.message())
    world.queue.sent.clear()  # as if the worker died after recording the attempt, before the retry

    world.run(world.message())

    assert len(world.poster.posts) == 1
    assert [(m.attempt, delay) for m, delay in world.queue.sent] == [(2, 2)]


def test_a_copy_of_an_attempt_in_flight_waits_and_one_abandoned_is_made_again() -> None:
    world = World([200])
    claimed = world.message()
    # GIVEN an attempt claimed by a worker that has not written its result yet
    world.store.save_delivery(
        Delivery("dlv_1", "whk_1", "prj_1", "deployment.failed", T0.isoformat(),
                 attempts=(DeliveryAttempt(1, T0.isoformat()),), version=1), 0
    )  # fmt: skip

    world.run(claimed)  # WHEN a second copy arrives while it is in flight
    assert world.poster.posts == []

    world.clock.now = T0 + timedelta(seconds=CLAIM_SECONDS + 1)
    world.run(claimed)  # WHEN one arrives after the claim was abandoned
    assert len(world.poster.posts) == 1
    assert world.store.deliveries["dlv_1"].state is DeliveryState.DELIVERED


def test_after_the_last_attempt_the_message_goes_to_the_dlq_and_the_delivery_failed() -> None:
    world = World([500] * MAX_ATTEMPTS)
    world.run(world.message())
    while world.queue.sent:
        world.run(world.queue.take())

    delivery = world.store.deliveries["dlv_1"]
    assert delivery.state is DeliveryState.FAILED and len(delivery.attempts) == MAX_ATTEMPTS
    assert len(world.poster.posts) == MAX_ATTEMPTS
    assert [m.attempt for m in world.queue.dead] == [MAX_ATTEMPTS]


def test_a_removed_webhook_ends_its_delivery_without_a_post() -> None:
    world = World([200])
    world.store.remove_webhook(world.webhook)

    world.run(world.message())

    assert world.poster.posts == [] and not world.queue.sent
    delivery = world.store.deliveries["dlv_1"]
    assert delivery.state is DeliveryState.FAILED and delivery.attempts[0].error == "the webhook was removed"


def test_fan_out_sends_one_message_per_webhook_that_wants_the_event_and_the_same_id_twice() -> None:
    repo = InMemoryRepository()
    _world(repo)
    store, queue = FakeWebhookStore(), FakeDeliveryQueue()
    for hook_id, events in (("whk_a", ("deployment.failed",)), ("whk_b", ("deployment.completed",))):
        store.add_webhook(
            Webhook(hook_id, "prj_1", "org_1", "https://x.example/", events, WebhookFormat.JSON, "", "")
        )
    fan_out = WebhookFanOut(repo, store, queue)
    data = {"deployment_id": "dep_1", "service_id": "svc_1", "status": "FAILED"}

    first = fan_out.fan_out("deployment.completed", data, "2026-12-04T12:00:00Z")
    again = fan_out.fan_out("deployment.completed", data, "2026-12-04T12:00:00Z")  # SQS, twice

    assert [m.webhook_id for m in first] == ["whk_a"] and first[0].attempt == 1
    assert first[0].payload["type"] == "Deployment.failed"
    assert [m.delivery_id for m in again] == [first[0].delivery_id]
    assert fan_out.fan_out("build.completed", data, "2026-12-04T12:00:00Z") == []
    # A webhook of started events hears QUEUED, though the deployment has FAILED by now.
    store.add_webhook(
        replace(store.get_webhook("prj_1", "whk_b"), id="whk_s", events=("deployment.started",))
    )
    requested = {"deployment_id": "dep_1", "service_id": "svc_1"}  # no status: it has none yet
    (started,) = fan_out.fan_out("deployment.requested", requested, "2026-12-04T11:59:00Z")
    assert started.payload["type"] == "Deployment.initializing"
    assert started.payload["details"]["status"] == "QUEUED"
