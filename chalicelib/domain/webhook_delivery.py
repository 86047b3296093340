"""Delivering webhooks: the fan-out of a bus event to its webhooks, and each POST with its retries.

The notifications consumer hands every deployment event to `WebhookFanOut`: one `DeliveryMessage`
per webhook of the project that wants the event, on the deliveries queue. Its id is derived from
the event and the webhook, so an event SQS delivers twice makes the same message twice, and the
second finds its delivery already under way or done.

`DeliveryWorker.deliver` makes one attempt per message: it signs the body (webhook_signing.py),
POSTs it through the `HttpPoster` port (5 s timeout, public addresses only) and records the attempt
on the delivery (time, HTTP status or error, duration). A 2xx ends the delivery DELIVERED. Anything
else sends the next attempt's message to the same queue with an SQS delay that doubles each time
(`retry_delay`: 2, 4, 8 ... seconds, at most SQS's 900) until MAX_ATTEMPTS; after the last the
message goes to the queue's DLQ and the delivery ends FAILED.

At most one POST per attempt, and none after a success: each attempt is *claimed* on the delivery
record (a conditional write on its version) before the POST and its result written after. A
redelivered message (SQS is at-least-once; a worker may die between POST and delete) finds its
attempt claimed. Finished: it only makes sure the next attempt's message was sent (the result is
written before it; a duplicate next message loses the next claim). Claimed less than
CLAIM_SECONDS ago: another copy is on it, and it stops. Claimed longer ago: the worker that
claimed it died mid-POST, and the attempt is claimed afresh and made again. Claiming before rather
than after means a crash can cost a repeat of an attempt whose result was never written (the
receiver then sees it twice, with the same X-Railyard-Delivery id to de-duplicate on), but never
repeats a POST that was recorded as delivered.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.ids import Clock, iso, parse_iso
from chalicelib.domain.models import Versioned

if TYPE_CHECKING:
    from chalicelib.domain.ports import Repository
    from chalicelib.domain.sealing import Sealer
    from chalicelib.domain.webhooks import WebhookStore

MAX_ATTEMPTS = 10  # 9 retries: 2 + 4 + ... + 512 s, about 17 minutes after the first attempt
RETRY_BASE_SECONDS = 2  # the first retry's delay; each next one doubles (RAILYARD_WEBHOOK_RETRY_BASE_SECONDS)
SQS_MAX_DELAY_SECONDS = 900  # SQS's largest DelaySeconds
POST_TIMEOUT_SECONDS = 5.0
# Longer than a POST and the writes around it: a claim this old belongs to a worker that died.
CLAIM_SECONDS = 60
DELIVERY_RETENTION_DAYS = 30  # the delivery log's TTL
MAX_ERROR_LENGTH = 300


def retry_delay(attempt: int, base: int = RETRY_BASE_SECONDS) -> int:
    """Seconds before attempt `attempt + 1`, after attempt `attempt` (1-based) failed."""
    return int(min(base * 2 ** (attempt - 1), SQS_MAX_DELAY_SECONDS))


class DeliveryState(StrEnum):
    PENDING = "PENDING"  # attempts left
    DELIVERED = "DELIVERED"  # an attempt got a 2xx
    FAILED = "FAILED"  # MAX_ATTEMPTS failed (the last message is in the DLQ), or the webhook went


@dataclass(frozen=True)
class DeliveryAttempt:
    number: int
    at: str  # when it was claimed (ISO)
    status: int | None = None  # the HTTP status; None: no answer (see error) or still in flight
    error: str | None = None
    duration_ms: int | None = None  # None: still in flight

    @property
    def finished(self) -> bool:
        return self.duration_ms is not None

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True)
class Delivery(Versioned):
    id: str
    webhook_id: str
    project_id: str
    event: str
    created_at: str
    state: DeliveryState = DeliveryState.PENDING
    attempts: tuple[DeliveryAttempt, ...] = ()
    version: int = 0  # 0: not stored yet

    def attempt(self, number: int) -> DeliveryAttempt | None:
        return next((a for a in self.attempts if a.number == number), None)


@dataclass(frozen=True)
class DeliveryMessage:
    """One attempt's message on the deliveries queue: the payload was rendered when the event
    happened (names as they were then); format and signature are applied when it is sent."""

    delivery_id: str
    webhook_id: str
    project_id: str
    event: str
    created_at: str
    attempt: int
    payload: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "deliveryId": self.delivery_id,
            "webhookId": self.webhook_id,
            "projectId": self.project_id,
            "event": self.event,
            "createdAt": self.created_at,
            "attempt": self.attempt,
            "payload": self.payload,
        }

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> DeliveryMessage:
        return cls(
            delivery_id=str(body["deliveryId"]),
            webhook_id=str(body["webhookId"]),
            project_id=str(body["projectId"]),
            event=str(body["event"]),
            created_at=str(body["createdAt"]),
            attempt=int(body["attempt"]),
            payload=dict(body["payload"]),
        )


class DeliveryQueue(Protocol):
    """The deliveries queue (SQS): a message now or after a delay, or to its DLQ."""

    def send(self, message: DeliveryMessage, delay_seconds: int) -> None: ...
    def dead_letter(self, message: DeliveryMessage) -> None: ...


@dataclass(frozen=True)
class PostResult:
    status: int | None  # None: no HTTP answer
    error: str | None
    duration_ms: int


class HttpPoster(Protocol):
    """POSTs with a timeout to public addresses only; never raises for what the network or the
    receiver did (that is a PostResult with an error)."""

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> PostResult: ...


class WebhookFanOut:
    """A bus event -> one delivery message per webhook of its project that wants it."""

    def __init__(self, repo: Repository, store: WebhookStore, queue: DeliveryQueue) -> None:
        self._repo = repo
        self._store = store
        self._queue = queue

    def fan_out(self, bus_event: str, data: dict[str, Any], created_at: str) -> list[DeliveryMessage]:
        from chalicelib.domain.webhook_payloads import PayloadFacts, delivery_id_for, railway_payload
        from chalicelib.domain.webhooks import webhook_event_of

        event = webhook_event_of(bus_event, data)
        if event is None:
            return []
        try:
            deployment = self._repo.get_deployment(str(data["deployment_id"]))
        except NotFound:
            return []  # deleted since: nobody to tell
        hooks = [h for h in self._store.list_webhooks(deployment.project_id) if h.wants(event.name)]
        if not hooks:
            return []
        service = self._repo.get_service(deployment.service_id)
        facts = PayloadFacts(
            event=event,
            deployment=deployment,
            # What the event says, not what the deployment has become since it was sent.
            status=str(data.get("status") or event.status or deployment.status),
            service=service,
            environment=self._repo.get_environment(deployment.environment_id),
            project=self._repo.get_project(deployment.project_id),
            at=created_at,
        )
        payload = railway_payload(facts)
        sent = []
        for hook in hooks:
            message = DeliveryMessage(
                delivery_id=delivery_id_for(bus_event, data, created_at, hook.id),
                webhook_id=hook.id,
                project_id=hook.project_id,
                event=event.name,
                created_at=created_at,
                attempt=1,
                payload=payload,
            )
            self._queue.send(message, 0)
            sent.append(message)
        return sent


class DeliveryWorker:
    """One attempt of one delivery (see the module docstring for the claim and what it prevents)."""

    def __init__(
        self,
        store: WebhookStore,
        sealer: Sealer,
        poster: HttpPoster,
        queue: DeliveryQueue,
        clock: Clock,
        retry_base_seconds: int = RETRY_BASE_SECONDS,
    ) -> None:
        self._store = store
        self._sealer = sealer
        self._poster = poster
        self._queue = queue
        self._clock = clock
        self._base = retry_base_seconds

    def deliver(self, message: DeliveryMessage) -> Delivery:
        delivery = self._store.get_delivery(message.webhook_id, message.created_at, message.delivery_id)
        if delivery is None:
            delivery = Delivery(
                message.delivery_id, message.webhook_id, message.project_id, message.event, message.created_at
            )
        if delivery.state is not DeliveryState.PENDING:
            return delivery  # delivered or given up: a redelivered message changes nothing
        previous = delivery.attempt(message.attempt)
        if previous is not None and previous.finished:
            self._follow_up(message, previous)  # its POST happened: make sure what follows did too
            return delivery
        if previous is not None and not self._abandoned(previous):
            return delivery  # another copy of this message is sending it now
        try:
            claimed = self._save(delivery, self._claim(delivery, message.attempt, previous))
        except Conflict:
            return delivery  # another copy claimed it first
        return self._attempt(message, claimed)

    def _attempt(self, message: DeliveryMessage, claimed: Delivery) -> Delivery:
        from chalicelib.domain.webhook_payloads import render
        from chalicelib.domain.webhook_signing import headers_for
        from chalicelib.domain.webhooks import open_secret

        try:
            webhook = self._store.get_webhook(message.project_id, message.webhook_id)
        except NotFound:
            result = PostResult(None, "the webhook was removed", 0)
            return self._record(claimed, message, result, final=True)
        body = render(webhook.format, message.payload)
        now = self._clock()
        headers = headers_for(open_secret(self._sealer, webhook), body, int(now.timestamp()), message)
        result = self._poster.post(webhook.url, body, headers)
        return self._record(claimed, message, result)

    def _record(
        self, claimed: Delivery, message: DeliveryMessage, result: PostResult, final: bool = False
    ) -> Delivery:
        error = result.error[:MAX_ERROR_LENGTH] if result.error else None
        attempts = tuple(
            replace(a, status=result.status, error=error, duration_ms=result.duration_ms)
            if a.number == message.attempt
            else a
            for a in claimed.attempts
        )
        done = attempts[-1]
        if done.succeeded:
            state = DeliveryState.DELIVERED
        elif final or message.attempt >= MAX_ATTEMPTS:
            state = DeliveryState.FAILED
        else:
            state = DeliveryState.PENDING
        # The result first, then what follows: a worker that dies in between leaves a finished
        # attempt, and the message's redelivery sends what follows without a second POST.
        try:
            saved = self._save(claimed, replace(claimed, attempts=attempts, state=state))
        except Conflict:
            return claimed  # taken over as abandoned meanwhile: that worker goes on from here
        if not done.succeeded and not final:
            self._follow_up(message, done)
        return saved

    def _follow_up(self, message: DeliveryMessage, attempt: DeliveryAttempt) -> None:
        if attempt.succeeded:
            return
        if message.attempt >= MAX_ATTEMPTS:
            self._queue.dead_letter(message)
            return
        following = replace(message, attempt=message.attempt + 1)
        self._queue.send(following, retry_delay(message.attempt, self._base))

    def _claim(self, delivery: Delivery, number: int, previous: DeliveryAttempt | None) -> Delivery:
        fresh = DeliveryAttempt(number, iso(self._clock()))
        if previous is not None:  # abandoned by a worker that died mid-POST: this attempt again
            return replace(
                delivery, attempts=tuple(fresh if a.number == number else a for a in delivery.attempts)
            )
        return replace(delivery, attempts=(*delivery.attempts, fresh))

    def _abandoned(self, attempt: DeliveryAttempt) -> bool:
        started = parse_iso(attempt.at)
        return started is None or self._clock() - started > timedelta(seconds=CLAIM_SECONDS)

    def _save(self, before: Delivery, after: Delivery) -> Delivery:
        saved = replace(after, version=before.version + 1)
        expires = self._clock() + timedelta(days=DELIVERY_RETENTION_DAYS)
        self._store.save_delivery(saved, int(expires.timestamp()))
        return saved
