"""The DynamoDB rate limiter on moto: one counter item per bucket and window, expiring by TTL."""

from __future__ import annotations

import pytest

from chalicelib.adapters.aws import client
from chalicelib.adapters.dynamo.schema import create_table
from chalicelib.adapters.rate_limits import DynamoRateLimiter
from chalicelib.config import Settings
from chalicelib.domain.errors import RateLimited


def test_a_bucket_allows_its_limit_per_window_then_says_when_to_retry(aws: int) -> None:
    table = Settings.from_env().table_name
    create_table(table)
    now = [1_000_000.0]  # 100 s into a 300 s window that starts at 999_900
    limiter = DynamoRateLimiter(table, clock=lambda: now[0])
    for _ in range(3):
        limiter.hit("login-email:ada@example.com", 3, 300)
    with pytest.raises(RateLimited) as limited:
        limiter.hit("login-email:ada@example.com", 3, 300)
    assert limited.value.retry_after == 200
    assert "ada@example.com" not in str(limited.value)
    limiter.hit("login-email:bob@example.com", 3, 300)  # another bucket counts on its own

    now[0] += 200  # the next window
    limiter.hit("login-email:ada@example.com", 3, 300)

    items = client("dynamodb").scan(TableName=table)["Items"]
    assert len(items) == 3  # (ada, window 1), (bob, window 1), (ada, window 2)
    assert all(int(item["expires_at"]["N"]) > 1_000_200 for item in items)  # after their window's end
    assert not any("ada@example.com" in str(item) for item in items)  # keys hold a hash, not the email
