"""The device authorization grant (RFC 8628): how `railyard login` signs a terminal in.

The CLI asks for a code pair (`start`): a secret `device_code` it keeps, and a short `user_code` a
person types (or follows, in `verification_uri_complete`) on a page where they are signed in. The
person approves or denies it (`decide`); meanwhile the CLI polls (`poll`) no faster than `interval`
and gets, once, a session of the person who approved.

One grant per user code. The device code is `<user code>.<secret>`, so a poll finds its grant with
one read by user code; only the device code's SHA-256 is stored, compared in constant time.

A poll answers with one of RFC 8628's errors (section 3.5) as a 400 whose `Code` names it:
AuthorizationPending, SlowDown (polled sooner than the interval: the interval grows by 5 s, as the
RFC says), ExpiredToken (expired, unknown, or already used) and AccessDenied. An approved grant is
marked used with a conditional write before its session is issued, so it yields one session even
when two polls race.

Brute force: 18^8 user codes (about 1.1e10) live 10 minutes, and code entries are rate limited per
person and per source address (`LIMITS`), as are new code pairs and polls.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from chalicelib.domain.errors import BadRequest, Conflict, Forbidden, NotFound
from chalicelib.domain.identity_ports import RateLimiter, SessionIssuer, SessionTokens
from chalicelib.domain.ids import Clock
from chalicelib.domain.policy import Principal

# Consonants only (RFC 8628 section 6.1): no vowels to spell words with, and none of L, S, Z that
# read as 1, 5, 2.
USER_CODE_ALPHABET = "BCDFGHJKMNPQRTVWXY"
USER_CODE_LENGTH = 8
EXPIRES_IN_SECONDS = 600
INTERVAL_SECONDS = 5
SLOW_DOWN_SECONDS = 5  # added to the interval at each SlowDown (RFC 8628 section 3.5)
# Polls arrive from clients that sleep `interval` between requests; a poll up to this much early is
# still on time (clocks of two API containers, timer granularity).
POLL_LEEWAY_SECONDS = 1.0
DEVICE_SECRET_BYTES = 32
CODE_ATTEMPTS = 5  # fresh user codes tried when one is taken
CLIENT_MAX = 200  # characters kept of the asking program's User-Agent

# (bucket prefix, attempts, window seconds) per rate-limited act; a bucket is prefix + ":" + key.
LIMITS: dict[str, tuple[str, int, int]] = {
    "start": ("device-code-ip", 20, 600),  # new code pairs per source address
    "poll": ("device-poll-ip", 120, 60),  # polls per source address (SlowDown bounds each grant)
    "enter": ("device-enter", 10, 600),  # codes a person enters (approves or denies)
    "enter-ip": ("device-enter-ip", 30, 600),  # codes entered from one source address
    "look": ("device-look", 30, 600),  # codes a person looks up before deciding
}

PENDING, APPROVED, DENIED, USED = "pending", "approved", "denied", "used"


class AuthorizationPending(BadRequest):
    """Nobody approved or denied this device code yet: poll again after the interval."""


class SlowDown(BadRequest):
    """Polled sooner than the interval; the interval grew by SLOW_DOWN_SECONDS."""


class ExpiredToken(BadRequest):
    """The device code expired, is unknown, or was already used: start a new sign-in."""


class AccessDenied(BadRequest):
    """The person denied this device sign-in."""


@dataclass(frozen=True)
class DeviceGrant:
    user_code: str  # normalized: USER_CODE_LENGTH characters of the alphabet, no dash
    device_code_hash: str
    created_at: datetime
    expires_at: datetime
    interval: int = INTERVAL_SECONDS
    status: str = PENDING
    user_id: str | None = None  # who approved or denied
    last_polled_at: datetime | None = None
    version: int = 1
    # Who asked, for the approver to check against their terminal (RFC 8628 section 5.4: a person
    # should know which device they sign in): the source address and the program's own description.
    requested_from: str = ""
    client: str = ""

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at


@dataclass(frozen=True)
class DeviceAuthorization:
    """The answer to the CLI's request for a code pair (RFC 8628 section 3.2)."""

    device_code: str
    user_code: str  # as people read it: XXXX-XXXX
    verification_uri: str
    expires_in: int
    interval: int

    def view(self) -> dict[str, object]:
        return {
            "deviceCode": self.device_code,
            "userCode": self.user_code,
            "verificationUri": self.verification_uri,
            "verificationUriComplete": f"{self.verification_uri}?user_code={self.user_code}",
            "expiresIn": self.expires_in,
            "interval": self.interval,
        }


class DeviceGrants(Protocol):
    """Where grants live (chalicelib/adapters/device_store.py; an in-memory one in tests)."""

    def add(self, grant: DeviceGrant, now: datetime) -> None:
        """Conflict when a grant that has not expired at `now` holds the same user code."""
        ...

    def get(self, user_code: str) -> DeviceGrant | None: ...

    def replace(self, grant: DeviceGrant) -> None:
        """Writes `grant` if the stored one is at `grant.version - 1`; Conflict otherwise."""
        ...


def hash_device_code(device_code: str) -> str:
    return hashlib.sha256(device_code.encode()).hexdigest()


def display_user_code(user_code: str) -> str:
    half = len(user_code) // 2
    return f"{user_code[:half]}-{user_code[half:]}"


def normalize_user_code(text: str) -> str:
    """What a person typed (any case, with or without the dash or spaces), as stored."""
    code = "".join(ch for ch in str(text).upper() if ch not in "- ")
    if len(code) != USER_CODE_LENGTH or any(ch not in USER_CODE_ALPHABET for ch in code):
        raise BadRequest(
            f"'userCode' must be the {USER_CODE_LENGTH}-letter code shown by `railyard login` "
            "(like BCDF-GHJK)"
        )
    return code


def _person(principal: Principal) -> None:
    if principal.kind != "user" or principal.user_id is None:
        raise Forbidden("only a signed-in person can approve a device sign-in, not an API token")


def _random_user_code() -> str:
    return "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))


class DeviceFlow:
    """The three acts of the grant: start (the CLI), decide (a person), poll (the CLI)."""

    def __init__(
        self,
        grants: DeviceGrants,
        sessions: SessionIssuer,
        limiter: RateLimiter,
        clock: Clock,
        *,
        user_codes: Callable[[], str] = _random_user_code,
        device_secrets: Callable[[], str] = lambda: secrets.token_urlsafe(DEVICE_SECRET_BYTES),
    ) -> None:
        self._grants = grants
        self._sessions = sessions
        self._limiter = limiter
        self._clock = clock
        self._user_codes = user_codes
        self._device_secrets = device_secrets

    def start(self, verification_uri: str, source: str, client: str = "") -> DeviceAuthorization:
        """A code pair for the program `client` (its User-Agent) at `source`; `verification_uri` is
        the page where a person approves it (the dashboard's, or the API's own)."""
        self._hit("start", source)
        now = self._clock()
        for _ in range(CODE_ATTEMPTS):
            user_code = self._user_codes()
            device_code = f"{user_code}.{self._device_secrets()}"
            grant = DeviceGrant(
                user_code=user_code,
                device_code_hash=hash_device_code(device_code),
                created_at=now,
                expires_at=now + timedelta(seconds=EXPIRES_IN_SECONDS),
                requested_from=source,
                client=client[:CLIENT_MAX],
            )
            try:
                self._grants.add(grant, now)
            except Conflict:
                continue  # that user code is live: draw another
            return DeviceAuthorization(
                device_code,
                display_user_code(user_code),
                verification_uri,
                EXPIRES_IN_SECONDS,
                INTERVAL_SECONDS,
            )
        raise Conflict("could not draw a free user code; try again")

    def look(self, principal: Principal, user_code: str, source: str) -> DeviceGrant:
        """The sign-in showing `user_code`, for a person about to decide: who asked, and whether it
        is still pending (approved or denied ones are shown as such)."""
        _person(principal)
        self._hit("look", principal.user_id or "")
        self._hit("enter-ip", source)
        return self._live(normalize_user_code(user_code))

    def decide(self, principal: Principal, user_code: str, approve: bool, source: str) -> DeviceGrant:
        """A signed-in person approves (or denies) the sign-in showing `user_code`."""
        _person(principal)
        self._hit("enter", principal.user_id or "")
        self._hit("enter-ip", source)
        code = normalize_user_code(user_code)
        grant = self._live(code)
        status = APPROVED if approve else DENIED
        if grant.status != PENDING:
            if (grant.status, grant.user_id) == (status, principal.user_id):
                return grant  # the same answer twice (a double click) changes nothing
            raise Conflict(f"the sign-in {display_user_code(code)} was already {grant.status}")
        decided = replace(grant, status=status, user_id=principal.user_id, version=grant.version + 1)
        self._grants.replace(decided)
        return decided

    def poll(self, device_code: str, source: str) -> SessionTokens:
        self._hit("poll", source)
        grant = self._grant_of(device_code)
        now = self._clock()
        if grant.status == USED or grant.expired(now):
            raise ExpiredToken("this sign-in expired or was already used: run `railyard login` again")
        if grant.status == DENIED:
            raise AccessDenied("the sign-in was denied")
        if grant.status == APPROVED:
            assert grant.user_id is not None  # decide() records who approved
            try:
                self._grants.replace(
                    replace(grant, status=USED, last_polled_at=now, version=grant.version + 1)
                )
            except Conflict:  # another poll of the same code won
                raise ExpiredToken("this sign-in was already used: run `railyard login` again") from None
            return self._sessions.start(grant.user_id, method="device")
        last = grant.last_polled_at
        early = last is not None and (now - last).total_seconds() < grant.interval - POLL_LEEWAY_SECONDS
        interval = grant.interval + SLOW_DOWN_SECONDS if early else grant.interval
        try:
            self._grants.replace(
                replace(grant, last_polled_at=now, interval=interval, version=grant.version + 1)
            )
        except Conflict:  # two polls at once, or a decision just landed: the client retries later
            early = True
        if early:
            raise SlowDown(f"polling too fast: wait {interval} seconds between polls")
        raise AuthorizationPending("waiting for the sign-in to be approved")

    def _live(self, code: str) -> DeviceGrant:
        """The grant of a normalized user code that can still be decided or shown."""
        grant = self._grants.get(code)
        if grant is None or grant.expired(self._clock()) or grant.status == USED:
            raise NotFound(
                f"no pending sign-in has the code {display_user_code(code)}: it expired (codes last "
                f"{EXPIRES_IN_SECONDS // 60} minutes), was already used, or was never issued"
            )
        return grant

    def _grant_of(self, device_code: str) -> DeviceGrant:
        user_code, _, secret = str(device_code).partition(".")
        grant = self._grants.get(user_code) if secret and user_code.isalpha() else None
        if grant is None or not hmac.compare_digest(grant.device_code_hash, hash_device_code(device_code)):
            raise ExpiredToken("unknown or expired device code: run `railyard login` again")
        return grant

    def _hit(self, act: str, key: str) -> None:
        prefix, attempts, window = LIMITS[act]
        self._limiter.hit(f"{prefix}:{key}", attempts, window)
