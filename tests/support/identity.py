"""In-memory stand-ins for the identity ports (chalicelib/domain/identity_ports.py) and the device
grant store, for tests of the sign-in flows before (and independently of) the real users, sessions
and rate limits.

`MemorySessions` issues opaque access tokens and `SessionAwareAuth` makes the API accept them as
user principals (policy.Principal, kind "user", admin of the user's workspace), handing every
other bearer token to the real AuthService, so API tokens stay API tokens.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from chalicelib.domain.device_flow import DeviceGrant
from chalicelib.domain.errors import Conflict, RateLimited, Unauthorized
from chalicelib.domain.identity_ports import SessionTokens
from chalicelib.domain.policy import ROLE_ACTIONS, Grant, Principal


@dataclass
class User:
    id: str
    email: str | None
    display_name: str
    email_verified: bool
    workspace_id: str


@dataclass
class MemoryUsers:
    """UserRegistry: every user gets a personal workspace of which they are the admin."""

    users: dict[str, User] = field(default_factory=dict)

    def create_user(self, email: str | None, display_name: str, *, email_verified: bool) -> str:
        email = email.lower() if email else None
        if email is not None and self.find_by_email(email) is not None:
            raise Conflict(f"email {email} belongs to another user")
        user_id = f"usr_{len(self.users) + 1:04d}"
        self.users[user_id] = User(user_id, email, display_name, email_verified, f"ws_{user_id}")
        return user_id

    def find_by_email(self, email: str) -> str | None:
        return next((u.id for u in self.users.values() if u.email == email.lower()), None)


@dataclass
class MemorySessions:
    """SessionIssuer: opaque tokens; `started` records (user id, method) of every session."""

    users: MemoryUsers
    sessions: dict[str, Principal] = field(default_factory=dict)  # access token -> principal
    started: list[tuple[str, str]] = field(default_factory=list)

    def start(self, user_id: str, *, method: str) -> SessionTokens:
        user = self.users.users[user_id]
        session_id = f"ses_{len(self.started) + 1:04d}"
        access = "sess_" + secrets.token_urlsafe(16)
        self.sessions[access] = Principal(
            kind="user",
            subject=user_id,
            grants=(Grant(user.workspace_id, ROLE_ACTIONS["admin"]),),
            name=user.email or user.display_name,
            user_id=user_id,
            session_id=session_id,
        )
        self.started.append((user_id, method))
        return SessionTokens(access, "refresh_" + secrets.token_urlsafe(16), 900, session_id)

    def end_other_sessions(self, user_id: str, keep: str | None) -> int:
        ended = [
            token
            for token, principal in self.sessions.items()
            if principal.user_id == user_id and principal.session_id != keep
        ]
        for token in ended:
            del self.sessions[token]
        return len(ended)

    def sign_in(self, email: str, display_name: str = "Someone", token: str | None = None) -> str:
        """A verified user with a session; returns its access token (`token` when given)."""
        user_id = self.users.find_by_email(email) or self.users.create_user(
            email, display_name, email_verified=True
        )
        access = self.start(user_id, method="password").access_token
        if token is not None:
            self.sessions[token] = self.sessions.pop(access)
            access = token
        return access


@dataclass
class SessionAwareAuth:
    """`container.auth` for tests: user sessions of `sessions`, else the real AuthService."""

    sessions: MemorySessions
    fallback: Any

    def authenticate(self, authorization: str | None) -> Any:
        token = (authorization or "").removeprefix("Bearer ").strip()
        if token in self.sessions.sessions:
            return self.sessions.sessions[token]
        if token.startswith("sess_"):  # a session that ended: never an API token either
            raise Unauthorized("the session is not valid")
        return self.fallback.authenticate(authorization)

    def ensure_token(self, *args: Any, **kwargs: Any) -> None:
        self.fallback.ensure_token(*args, **kwargs)


@dataclass
class MemoryRateLimiter:
    """RateLimiter without windows moving: `limit` attempts per bucket, then RateLimited."""

    hits: dict[str, int] = field(default_factory=dict)

    def hit(self, bucket: str, limit: int, window_seconds: int) -> None:
        self.hits[bucket] = self.hits.get(bucket, 0) + 1
        if self.hits[bucket] > limit:
            raise RateLimited(f"too many attempts in {bucket}", window_seconds)


@dataclass
class MemoryDeviceGrants:
    """DeviceGrants with the adapter's conditions (absent-or-expired add, versioned replace)."""

    grants: dict[str, DeviceGrant] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, grant: DeviceGrant, now: datetime) -> None:
        with self.lock:
            held = self.grants.get(grant.user_code)
            if held is not None and not held.expired(now):
                raise Conflict(f"user code {grant.user_code} is in use")
            self.grants[grant.user_code] = grant

    def get(self, user_code: str) -> DeviceGrant | None:
        return self.grants.get(user_code)

    def replace(self, grant: DeviceGrant) -> None:
        with self.lock:
            held = self.grants.get(grant.user_code)
            if held is None or held.version != grant.version - 1:
                raise Conflict(f"the sign-in {grant.user_code} changed meanwhile")
            self.grants[grant.user_code] = replace(grant)
