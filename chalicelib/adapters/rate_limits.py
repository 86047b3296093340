"""The `RateLimiter` port on the platform's table: fixed-window counters, one UpdateItem per attempt.

Each (bucket, window) is one item, `pk = RATE#<sha256(bucket)>#<window start>`, `sk = RATE`, holding
`hits` and the table's TTL attribute `expires_at` (the window's end plus a minute), so DynamoDB
deletes old windows by itself. An attempt is `ADD hits :1` with ReturnValues=UPDATED_NEW: atomic
across containers, one write, no read. The attempt past the limit (and every one after it in the
window) raises RateLimited with the seconds left in the window. The bucket is hashed so no email or
IP address is written into a key.

Like idempotency records these items have no `kind`, `version` or `body`; nothing lists them.
A fixed window lets a client make up to twice the limit around a window's edge; for sign-in limits
of tens of attempts that is harmless, and it keeps each attempt to one write.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from typing import Any

from chalicelib.domain.errors import RateLimited

RECORD_KIND = "RATE"
TTL_ATTRIBUTE = "expires_at"
EXPIRY_MARGIN_SECONDS = 60


class DynamoRateLimiter:
    def __init__(
        self, table_name: str, client: Any | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self._table_name = table_name
        self._client = client
        self._clock = clock

    @property
    def _db(self) -> Any:
        if self._client is None:
            from chalicelib.adapters.aws import client

            self._client = client("dynamodb")
        return self._client

    def hit(self, bucket: str, limit: int, window_seconds: int) -> None:
        now = self._clock()
        start = int(now // window_seconds * window_seconds)
        end = start + window_seconds
        digest = hashlib.sha256(bucket.encode()).hexdigest()
        answer = self._db.update_item(
            TableName=self._table_name,
            Key={"pk": {"S": f"{RECORD_KIND}#{digest}#{start}"}, "sk": {"S": RECORD_KIND}},
            UpdateExpression="ADD hits :one SET #ttl = if_not_exists(#ttl, :expires)",
            ExpressionAttributeNames={"#ttl": TTL_ATTRIBUTE},
            ExpressionAttributeValues={
                ":one": {"N": "1"},
                ":expires": {"N": str(end + EXPIRY_MARGIN_SECONDS)},
            },
            ReturnValues="UPDATED_NEW",
        )
        hits = int(answer["Attributes"]["hits"]["N"])
        if hits > limit:
            what = bucket.split(":", 1)[0]
            retry_after = max(1, math.ceil(end - now))
            raise RateLimited(f"too many attempts ({what}): retry in {retry_after} s", retry_after)
