"""The session signing keys: a ring of RSA keys where the current one signs and the previous ones still
verify until every token they signed has expired (docs/decisions/0021).

Rotation makes a new current key and retires the old one; a retired key keeps verifying for
RETIRED_KEY_SECONDS: an access token's lifetime, plus the time a container may go on signing with its
cached ring before it reads the new one (RING_CACHE_SECONDS), plus clock skew. A key retired longer
ago than that is dropped at the next rotation. The ring also carries the key that seals MFA secrets
at rest (`box_key`), which rotation keeps as it is. Pure data: the adapter stores it
(chalicelib/adapters/session_keys.py) and makes the RSA keys.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from chalicelib.domain.sessions import ACCESS_TOKEN_SECONDS

RING_CACHE_SECONDS = 5 * 60  # a container signs with its cached ring at most this long after a rotation
CLOCK_SKEW_SECONDS = 60
RETIRED_KEY_SECONDS = ACCESS_TOKEN_SECONDS + RING_CACHE_SECONDS + CLOCK_SKEW_SECONDS
DOCUMENT_VERSION = 1


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_pem: str
    created_at: int  # epoch seconds
    retired_at: int | None = None  # when a newer key replaced it; None for the current key

    def verifies_at(self, now: int) -> bool:
        return self.retired_at is None or now < self.retired_at + RETIRED_KEY_SECONDS


@dataclass(frozen=True)
class KeyRing:
    keys: tuple[SigningKey, ...]  # the current key first, then retired ones, newest first
    box_key: str  # base64 of the 256-bit key that seals MFA secrets

    def __post_init__(self) -> None:
        if not self.keys or self.keys[0].retired_at is not None:
            raise ValueError("a key ring needs a current (unretired) key first")

    @property
    def current(self) -> SigningKey:
        return self.keys[0]

    def verifying(self, now: int) -> dict[str, SigningKey]:
        """The keys a token may be signed with at `now`, by kid."""
        return {key.kid: key for key in self.keys if key.verifies_at(now)}

    def rotated(self, new: SigningKey, now: int) -> KeyRing:
        """`new` becomes the current key; the old current key is retired now and keeps verifying for
        RETIRED_KEY_SECONDS; keys past that are dropped."""
        retired = (replace(self.current, retired_at=now), *self.keys[1:])
        kept = tuple(key for key in retired if key.verifies_at(now))
        return KeyRing((replace(new, retired_at=None), *kept), self.box_key)

    def to_document(self) -> dict[str, Any]:
        return {
            "version": DOCUMENT_VERSION,
            "keys": [
                {
                    "kid": k.kid,
                    "privateKey": k.private_pem,
                    "createdAt": k.created_at,
                    "retiredAt": k.retired_at,
                }
                for k in self.keys
            ],
            "boxKey": self.box_key,
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> KeyRing:
        keys = tuple(
            SigningKey(
                kid=str(k["kid"]),
                private_pem=str(k["privateKey"]),
                created_at=int(k["createdAt"]),
                retired_at=None if k.get("retiredAt") is None else int(k["retiredAt"]),
            )
            for k in document["keys"]
        )
        return cls(keys, str(document["boxKey"]))
