"""Identifiers and time: injected so tests can control them.

Ids are time-sortable (`dep_01HX...`-like: a millisecond timestamp in Crockford base32 followed by
randomness), so "newest first" is a plain descending sort on the id.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"

IdFactory = Callable[[str], str]
Clock = Callable[[], datetime]


def _b32(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, rem = divmod(number, 32)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    """A new sortable id such as `dep_01jc3v7q2m8x4k2p`."""
    millis = int(time.time() * 1000)
    rand = int.from_bytes(os.urandom(5), "big")
    return f"{prefix}_{_b32(millis, 10)}{_b32(rand, 8)}"


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime | None:
    """The moment `iso()` wrote; None for anything else (an item written by hand, say)."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None
