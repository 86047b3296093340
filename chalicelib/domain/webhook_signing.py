"""How a webhook request is signed, and how its receiver checks it (docs/webhooks.md).

Every request carries `X-Railyard-Signature: t=<unix seconds>,v1=<hex>` where `<hex>` is the
HMAC-SHA256, under the webhook's secret, of `<t>.` followed by the exact body bytes (Stripe's
scheme). A receiver recomputes it, compares in constant time, and refuses a timestamp older than
its tolerance (5 minutes here), so a captured request cannot be replayed later. `verify` is the
receiver's side, written to be copied: it needs only the standard library.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chalicelib.domain.webhook_delivery import DeliveryMessage

SIGNATURE_HEADER = "X-Railyard-Signature"
EVENT_HEADER = "X-Railyard-Event"
DELIVERY_HEADER = "X-Railyard-Delivery"  # the same on every attempt: receivers de-duplicate on it
ATTEMPT_HEADER = "X-Railyard-Attempt"
USER_AGENT = "Railyard-Webhooks/1"
TOLERANCE_SECONDS = 300


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """The header's value for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, body: bytes, header: str, now: int, tolerance: int = TOLERANCE_SECONDS) -> bool:
    """True when `header` (X-Railyard-Signature) signs `body` with `secret` within `tolerance`
    seconds of `now`. Any v1 entry may match (a receiver may see several during a rotation)."""
    fields = [part.strip().split("=", 1) for part in header.split(",") if "=" in part]
    stamps = [value for key, value in fields if key == "t"]
    if len(stamps) != 1 or not stamps[0].isdigit():
        return False
    timestamp = int(stamps[0])
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature(secret, body, timestamp).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected, value) for key, value in fields if key == "v1")


def headers_for(secret: str, body: bytes, timestamp: int, message: DeliveryMessage) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: signature(secret, body, timestamp),
        EVENT_HEADER: message.event,
        DELIVERY_HEADER: message.delivery_id,
        ATTEMPT_HEADER: str(message.attempt),
    }
