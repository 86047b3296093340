"""A `RateLimiter` (chalicelib/domain/identity_ports.py) that counts in this process only.

Fixed windows per bucket, on a monotonic clock. It bounds what one container (one Lambda container,
the local API server) lets through; a limit shared by every container needs the table-backed
limiter (the identity work's DynamoDB one), which the container's `rate_limiter` should then be.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from chalicelib.domain.errors import RateLimited

MAX_BUCKETS = 10_000  # forget everything beyond this (a flood of distinct callers): bounded memory


class InMemoryRateLimiter:
    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._windows: dict[str, tuple[float, int]] = {}  # bucket -> (window start, attempts)
        self._lock = threading.Lock()

    def hit(self, bucket: str, limit: int, window_seconds: int) -> None:
        now = self._monotonic()
        with self._lock:
            start, count = self._windows.get(bucket, (now, 0))
            if now - start >= window_seconds:
                start, count = now, 0
            if count >= limit:
                retry_after = math.ceil(start + window_seconds - now)
                raise RateLimited(f"too many attempts: at most {limit} per {window_seconds} s", retry_after)
            if len(self._windows) >= MAX_BUCKETS:
                self._windows.clear()
            self._windows[bucket] = (start, count + 1)
