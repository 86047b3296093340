"""The RateLimiter port (chalicelib/domain/identity_ports.py) as fixed-window counters in the table.

One item per bucket and window: `pk = RATE#<bucket>#<window start, epoch s>`, `sk = RATE`, a
number `hits` incremented by one UpdateItem (ADD, atomic across API containers) that returns the new
count, and `expires_at` (the TTL) at the window's end. An attempt beyond the limit raises
RateLimited with the seconds left in the window (the API's Retry-After). A fixed window lets a
burst of up to twice the limit straddle a boundary; for sign-in attempts that is fine and costs one
write per attempt, no read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from chalicelib.adapters.aws import client as aws_client
from chalicelib.domain.errors import RateLimited


class DynamoRateLimiter:
    def __init__(
        self, table_name: str, client: Any | None = None, now: Callable[[], float] = time.time
    ) -> None:
        self._table = table_name
        self._given = client
        self._now = now

    def hit(self, bucket: str, limit: int, window_seconds: int) -> None:
        now = self._now()
        start = int(now // window_seconds * window_seconds)
        end = start + window_seconds
        answer = (self._given or aws_client("dynamodb")).update_item(
            TableName=self._table,
            Key={"pk": {"S": f"RATE#{bucket}#{start}"}, "sk": {"S": "RATE"}},
            UpdateExpression="ADD hits :one SET expires_at = :end",
            ExpressionAttributeValues={":one": {"N": "1"}, ":end": {"N": str(end)}},
            ReturnValues="UPDATED_NEW",
        )
        if int(answer["Attributes"]["hits"]["N"]) > limit:
            wait = int(end - now) + 1
            raise RateLimited(f"too many attempts; try again in {wait} seconds", wait)
