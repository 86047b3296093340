"""In-memory fakes of the identity and session ports (chalicelib/domain/identity.py, sessions.py,
mfa.py, identity_ports.RateLimiter) with the adapters' contracts: version-conditioned saves,
all-or-nothing account creation, rotation that refuses a spent token or a revoked family."""

from __future__ import annotations

import base64
import dataclasses
import math
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from chalicelib.domain.accounts import Membership, User, Workspace
from chalicelib.domain.errors import Conflict, NotFound, RateLimited
from chalicelib.domain.identity import Credentials, NewAccount
from chalicelib.domain.sessions import (
    LIVE,
    REVOKED,
    USED,
    RefreshRecord,
    RefreshReused,
    SessionFamily,
    SessionRevoked,
)


class Clock:
    """A settable clock (datetime, as the domain's Clock) that also answers epoch seconds."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 12, 1, 12, 0, 10, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def epoch(self) -> float:
        return self.now.timestamp()

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def ids() -> Callable[[str], str]:
    counter = iter(range(1, 1_000_000))
    return lambda prefix: f"{prefix}_{next(counter):06d}"


class InMemoryIdentityStore:
    def __init__(self) -> None:
        self.users: dict[str, User] = {}
        self.emails: dict[str, str] = {}
        self.workspaces: dict[str, Workspace] = {}
        self.memberships: dict[tuple[str, str], Membership] = {}
        self.credentials: dict[str, Credentials] = {}

    def create_account(self, account: NewAccount) -> None:
        email = account.user.email
        if email is not None and email in self.emails:
            raise Conflict(f"an account with the email {email} exists already")
        if email is not None:
            self.emails[email] = account.user.id
        self.users[account.user.id] = account.user
        self.workspaces[account.workspace.id] = account.workspace
        m = account.membership
        self.memberships[(m.workspace_id, m.user_id)] = m
        self.credentials[account.user.id] = account.credentials

    def user_id_by_email(self, email: str) -> str | None:
        return self.emails.get(email)

    def get_user(self, user_id: str) -> User:
        if user_id not in self.users:
            raise NotFound(f"user {user_id} not found")
        return self.users[user_id]

    def save_user(self, user: User) -> None:
        _check_version(self.users.get(user.id), user.version)
        self.users[user.id] = user

    def get_credentials(self, user_id: str) -> Credentials:
        if user_id not in self.credentials:
            raise NotFound(f"user {user_id} not found")
        return self.credentials[user_id]

    def save_credentials(self, credentials: Credentials) -> None:
        _check_version(self.credentials.get(credentials.user_id), credentials.version)
        self.credentials[credentials.user_id] = credentials

    def memberships_of(self, user_id: str) -> list[Membership]:
        return sorted(
            (m for m in self.memberships.values() if m.user_id == user_id), key=lambda m: m.workspace_id
        )

    def get_workspaces(self, workspace_ids: Iterable[str]) -> list[Workspace]:
        return [self.workspaces[w] for w in workspace_ids if w in self.workspaces]


def _check_version(stored: Credentials | User | None, version: int) -> None:
    if (stored.version if stored else 0) != version - 1:
        raise Conflict("changed concurrently")


class InMemorySessionStore:
    def __init__(self) -> None:
        self.families: dict[str, SessionFamily] = {}
        self.refresh: dict[str, RefreshRecord] = {}

    def start(self, family: SessionFamily, first: RefreshRecord) -> None:
        self.families[family.id] = family
        self.refresh[first.token_hash] = first

    def get_refresh(self, token_hash: str) -> RefreshRecord | None:
        return self.refresh.get(token_hash)

    def rotate(self, spent: RefreshRecord, new: RefreshRecord) -> None:
        if self.families[spent.family_id].status != LIVE:
            raise SessionRevoked("the session was revoked")
        if self.refresh[spent.token_hash].status != LIVE:
            raise RefreshReused("already used")
        self.refresh[spent.token_hash] = dataclasses.replace(spent, status=USED)
        self.refresh[new.token_hash] = new

    def revoke(self, family_id: str) -> None:
        if family_id not in self.families:
            raise NotFound(f"session {family_id} not found")
        self.families[family_id] = dataclasses.replace(self.families[family_id], status=REVOKED)

    def live_sessions_of(self, user_id: str) -> list[str]:
        return [f.id for f in self.families.values() if f.user_id == user_id and f.status == LIVE]


class WindowLimiter:
    """The DynamoRateLimiter's fixed windows, in memory."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.hits: dict[tuple[str, int], int] = {}

    def hit(self, bucket: str, limit: int, window_seconds: int) -> None:
        now = self.clock()
        start = int(now // window_seconds * window_seconds)
        key = (bucket, start)
        self.hits[key] = self.hits.get(key, 0) + 1
        if self.hits[key] > limit:
            raise RateLimited(f"too many attempts ({bucket})", math.ceil(start + window_seconds - now))


class PlainHasher:
    """Not a hash: enough to test who calls verify with what (and that unknown users still do)."""

    def __init__(self) -> None:
        self.verified: list[str | None] = []

    def hash(self, password: str) -> str:
        return "plain$" + password

    def verify(self, hashed: str | None, password: str) -> bool:
        self.verified.append(hashed)
        return hashed == "plain$" + password

    def needs_rehash(self, hashed: str) -> bool:
        return False


class Base64Box:
    """A reversible stand-in for AES-GCM: what matters is that the store never holds the plain secret."""

    def seal(self, plaintext: str) -> str:
        return "sealed:" + base64.b64encode(plaintext[::-1].encode()).decode()

    def open(self, sealed: str) -> str:
        return base64.b64decode(sealed.removeprefix("sealed:")).decode()[::-1]
