"""Sessions: short-lived access JWTs, rotating refresh tokens, and verifying an access token.

A session is a refresh-token family (`SessionFamily`, its id is the JWTs' `sid`). Signing in starts
one; each refresh spends the presented refresh token (marked used) and returns a new access token and
a new refresh token of the same family, one generation further. Presenting a spent refresh token
again means two parties hold it (a copy leaked): the whole family is revoked (reuse detection), so
the thief's and the user's next refresh both fail and the user signs in again. Logout revokes the
family too. A revoked family's access tokens are not recalled: verifying one reads nothing, so they
work until they expire, at most ACCESS_TOKEN_SECONDS later (docs/decisions/0021). Changing the
password revokes every other session of the user the same way.

The access token's `ws` claim ({workspace id: role}) is read from the user's memberships when the
session starts and at every refresh; a role change reaches a session at its next refresh.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from chalicelib.domain.authentication import hash_token
from chalicelib.domain.errors import Unauthorized
from chalicelib.domain.identity import IdentityStore
from chalicelib.domain.identity_ports import RateLimiter, SessionTokens
from chalicelib.domain.ids import Clock, IdFactory, iso
from chalicelib.domain.models import Versioned
from chalicelib.domain.policy import ROLE_ACTIONS, Grant, Principal
from chalicelib.domain.signin_limits import REFRESH_PER_FAMILY

_log = logging.getLogger(__name__)

ACCESS_TOKEN_SECONDS = 15 * 60
REFRESH_TOKEN_SECONDS = 30 * 24 * 60 * 60
ACCESS_AUDIENCE = "railyard-api"  # an access token's `aud`; other tokens the signer makes differ
REFRESH_PREFIX = "ryr_"  # recognisable in a leaked-secret scan, as API tokens' "ry_"
LIVE, USED, REVOKED = "live", "used", "revoked"  # the records' `status`
SIGN_IN_METHODS = ("password", "mfa", "github", "device")


class SessionRevoked(Unauthorized):
    """The refresh token's session was revoked (logout, or a reused refresh token)."""


class RefreshReused(Unauthorized):
    """A refresh token was presented a second time: its whole session is now revoked."""


@dataclass(frozen=True)
class SessionFamily(Versioned):
    """One session: every refresh token issued since one sign-in."""

    id: str
    user_id: str
    email: str
    method: str
    created_at: str
    status: str = LIVE  # LIVE or REVOKED
    version: int = 1


@dataclass(frozen=True)
class RefreshRecord(Versioned):
    """One refresh token, stored only as its hash. `status` is LIVE until it is spent (USED)."""

    token_hash: str
    family_id: str
    user_id: str
    email: str
    generation: int
    created_at: str
    expires_at: int  # epoch seconds (also the table's TTL)
    status: str = LIVE
    version: int = 1


class Signer(Protocol):
    """Signs and checks the platform's JWTs (RS256, a key ring: chalicelib/adapters/session_keys.py)."""

    def sign(self, claims: dict[str, Any]) -> str:
        """A JWT of `claims` plus the issuer, signed with the current key (its `kid` in the header)."""
        ...

    def verify(self, token: str, audience: str) -> dict[str, Any]:
        """The claims of a token this platform signed for `audience`, unexpired; Unauthorized saying
        why otherwise (bad signature, expired, another algorithm, unknown kid, wrong iss/aud)."""
        ...


class SessionStore(Protocol):
    def start(self, family: SessionFamily, first: RefreshRecord) -> None:
        """Write the family and its first refresh token together."""
        ...

    def get_refresh(self, token_hash: str) -> RefreshRecord | None: ...

    def rotate(self, spent: RefreshRecord, new: RefreshRecord) -> None:
        """Mark `spent` USED and write `new`, all or nothing, only if `spent` is still LIVE and its
        family is not revoked: RefreshReused when another request spent it first, SessionRevoked
        when the family is revoked."""
        ...

    def revoke(self, family_id: str) -> None:
        """NotFound when there is no such session."""
        ...

    def live_sessions_of(self, user_id: str) -> list[str]:
        """The ids of `user_id`'s sessions that are not revoked (one Query)."""
        ...


def new_refresh_token() -> str:
    return REFRESH_PREFIX + secrets.token_urlsafe(32)


def epoch(clock: Clock) -> int:
    return int(clock().timestamp())


class Sessions:
    """Starts, refreshes and ends sessions: the `SessionIssuer` (chalicelib/domain/identity_ports.py)."""

    def __init__(
        self,
        store: SessionStore,
        identities: IdentityStore,
        signer: Signer,
        limiter: RateLimiter,
        clock: Clock,
        ids: IdFactory,
        secret: Callable[[], str] = new_refresh_token,
    ) -> None:
        self._store = store
        self._identities = identities
        self._signer = signer
        self._limiter = limiter
        self._clock = clock
        self._ids = ids
        self._secret = secret

    def start(self, user_id: str, *, method: str) -> SessionTokens:
        if method not in SIGN_IN_METHODS:
            raise ValueError(f"unknown sign-in method {method!r}")
        user = self._identities.get_user(user_id)
        family = SessionFamily(self._ids("ses"), user.id, user.email or "", method, iso(self._clock()))
        token, record = self._refresh_record(family.id, user.id, family.email, generation=1)
        self._store.start(family, record)
        return self._tokens(record, token)

    def refresh(self, refresh_token: str) -> SessionTokens:
        spent = self._store.get_refresh(hash_token(refresh_token.strip()))
        if spent is None:
            raise Unauthorized("the refresh token is not valid")
        REFRESH_PER_FAMILY.hit(self._limiter, spent.family_id)
        if spent.expires_at <= epoch(self._clock):
            raise Unauthorized("the refresh token has expired: sign in again")
        if spent.status != LIVE:
            self._revoke(spent.family_id, "a refresh token was used twice")
            raise RefreshReused(
                "this refresh token was already used, so a copy of it may be in other hands: its "
                "session is revoked; sign in again"
            )
        token, record = self._refresh_record(
            spent.family_id, spent.user_id, spent.email, generation=spent.generation + 1
        )
        try:
            self._store.rotate(spent, record)
        except RefreshReused:
            # Another request spent it between our read and our write: the same reuse, seen late.
            self._revoke(spent.family_id, "a refresh token was used twice")
            raise
        return self._tokens(record, token)

    def logout(self, session_id: str) -> None:
        self._revoke(session_id, "signed out")

    def end_other_sessions(self, user_id: str, keep: str | None) -> int:
        """Revoke every session of `user_id` but `keep` (a password change: whoever signed in with
        the old password is signed out at their next refresh); answers how many ended."""
        ended = [sid for sid in self._store.live_sessions_of(user_id) if sid != keep]
        for family_id in ended:
            self._revoke(family_id, "the password changed")
        return len(ended)

    def _revoke(self, family_id: str, reason: str) -> None:
        self._store.revoke(family_id)
        _log.info("session %s revoked: %s", family_id, reason)

    def _refresh_record(
        self, family_id: str, user_id: str, email: str, *, generation: int
    ) -> tuple[str, RefreshRecord]:
        token = self._secret()
        record = RefreshRecord(
            token_hash=hash_token(token),
            family_id=family_id,
            user_id=user_id,
            email=email,
            generation=generation,
            created_at=iso(self._clock()),
            expires_at=epoch(self._clock) + REFRESH_TOKEN_SECONDS,
        )
        return token, record

    def _tokens(self, record: RefreshRecord, refresh_token: str) -> SessionTokens:
        now = epoch(self._clock)
        roles = {m.workspace_id: m.role for m in self._identities.memberships_of(record.user_id)}
        access = self._signer.sign(
            {
                "aud": ACCESS_AUDIENCE,
                "sub": record.user_id,
                "sid": record.family_id,
                "email": record.email,
                "ws": roles,
                "iat": now,
                "exp": now + ACCESS_TOKEN_SECONDS,
                "jti": self._ids("jti"),
            }
        )
        return SessionTokens(access, refresh_token, ACCESS_TOKEN_SECONDS, record.family_id)


class AccessTokens:
    """The `AccessTokenVerifier`: a valid access JWT becomes a user Principal, from its claims alone."""

    def __init__(self, signer: Signer) -> None:
        self._signer = signer

    def verify(self, token: str) -> Principal:
        claims = self._signer.verify(token, ACCESS_AUDIENCE)
        subject, session, roles = claims.get("sub"), claims.get("sid"), claims.get("ws")
        if not isinstance(subject, str) or not isinstance(session, str) or not isinstance(roles, dict):
            raise Unauthorized("the access token lacks its sub, sid or ws claim")
        grants = []
        for workspace_id, role in roles.items():
            if role not in ROLE_ACTIONS:
                raise Unauthorized(f"the access token names an unknown role {role!r}")
            grants.append(Grant(str(workspace_id), ROLE_ACTIONS[role]))
        return Principal(
            kind="user",
            subject=subject,
            grants=tuple(grants),
            name=str(claims.get("email") or ""),
            user_id=subject,
            session_id=session,
        )
