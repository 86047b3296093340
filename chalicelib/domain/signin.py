"""Email + password sign-up and sign-in, the MFA second step, and the signed-in user's profile.

Sign-in answers the same Unauthorized, in about the same time, whether the email is unknown, has no
password (a GitHub user) or the password is wrong: the hasher verifies against a dummy hash when
there is nothing to verify, so neither the message nor the latency tells which emails exist. With
MFA on, a right password answers an `mfaToken` (a JWT for MFA_AUDIENCE, 5 minutes, useless as an
access token) that `verify` exchanges, with a code or a recovery code, for a session.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from chalicelib.domain.accounts import User, check_email
from chalicelib.domain.errors import Conflict, Forbidden, Unauthorized
from chalicelib.domain.identity import (
    Accounts,
    IdentityStore,
    PasswordHasher,
    WorkspaceRole,
    check_display_name,
    check_password,
)
from chalicelib.domain.identity_ports import RateLimiter, SessionIssuer, SessionTokens
from chalicelib.domain.ids import Clock, IdFactory
from chalicelib.domain.mfa import Mfa
from chalicelib.domain.sessions import Signer, epoch
from chalicelib.domain.signin_limits import LOGIN_PER_EMAIL, LOGIN_PER_IP, REGISTER_PER_IP

MFA_AUDIENCE = "railyard-mfa"
MFA_TOKEN_SECONDS = 5 * 60
WRONG_CREDENTIALS = "wrong email or password"


@dataclass(frozen=True)
class SignIn:
    """A sign-in's answer: a session, or the token of the MFA step still to do."""

    tokens: SessionTokens | None = None
    mfa_token: str | None = None

    def view(self) -> dict[str, object]:
        if self.tokens is not None:
            return self.tokens.view()
        return {"mfaRequired": True, "mfaToken": self.mfa_token, "expiresIn": MFA_TOKEN_SECONDS}


@dataclass(frozen=True)
class Profile:
    user: User
    workspaces: list[WorkspaceRole]
    mfa_enabled: bool


class PasswordSignIn:
    def __init__(
        self,
        accounts: Accounts,
        store: IdentityStore,
        hasher: PasswordHasher,
        sessions: SessionIssuer,
        signer: Signer,
        mfa: Mfa,
        limiter: RateLimiter,
        clock: Clock,
        ids: IdFactory,
    ) -> None:
        self._accounts = accounts
        self._store = store
        self._hasher = hasher
        self._sessions = sessions
        self._signer = signer
        self._mfa = mfa
        self._limiter = limiter
        self._clock = clock
        self._ids = ids

    def register(self, email: str, password: str, name: str, source_ip: str) -> tuple[str, SessionTokens]:
        REGISTER_PER_IP.hit(self._limiter, source_ip)
        address = check_email(email)
        check_password(password, address)
        user_id = self._accounts.create_user(
            address, name, email_verified=False, password_hash=self._hasher.hash(password)
        )
        return user_id, self._sessions.start(user_id, method="password")

    def login(self, email: str, password: str, source_ip: str) -> SignIn:
        LOGIN_PER_IP.hit(self._limiter, source_ip)
        address = email.strip().lower()
        LOGIN_PER_EMAIL.hit(self._limiter, address)
        user_id = self._accounts.find_by_email(address)
        credentials = self._store.get_credentials(user_id) if user_id is not None else None
        hashed = credentials.password_hash if credentials is not None else None
        if not self._hasher.verify(hashed, password) or credentials is None or hashed is None:
            raise Unauthorized(WRONG_CREDENTIALS)
        if self._hasher.needs_rehash(hashed):  # parameters were raised since: upgrade on the way in
            with contextlib.suppress(Conflict):
                self._store.save_credentials(credentials.bumped(password_hash=self._hasher.hash(password)))
        if credentials.mfa_enabled:
            return SignIn(mfa_token=self._mfa_token(credentials.user_id))
        return SignIn(tokens=self._sessions.start(credentials.user_id, method="password"))

    def verify(self, mfa_token: str, code: str | None, recovery_code: str | None) -> SessionTokens:
        claims = self._signer.verify(mfa_token, MFA_AUDIENCE)
        user_id = claims.get("sub")
        if not isinstance(user_id, str):
            raise Unauthorized("the MFA token names no user")
        self._mfa.second_factor(user_id, code, recovery_code)
        return self._sessions.start(user_id, method="mfa")

    def profile(self, user_id: str) -> Profile:
        user = self._store.get_user(user_id)
        credentials = self._store.get_credentials(user_id)
        return Profile(user, self._accounts.workspaces_of(user_id), credentials.mfa_enabled)

    def update_profile(
        self,
        user_id: str,
        *,
        name: str | None = None,
        password: str | None = None,
        current_password: str | None = None,
        session_id: str | None = None,
    ) -> Profile:
        """A password change needs the current password and ends every session but `session_id`."""
        user = self._store.get_user(user_id)
        if password is not None:
            LOGIN_PER_EMAIL.hit(self._limiter, user.email or user.id)  # guessing it is signing in
            credentials = self._store.get_credentials(user_id)
            if current_password is None or not self._hasher.verify(
                credentials.password_hash, current_password
            ):
                raise Forbidden("changing the password needs the current one, as 'currentPassword'")
            check_password(password, user.email)
            self._store.save_credentials(credentials.bumped(password_hash=self._hasher.hash(password)))
            self._sessions.end_other_sessions(user_id, keep=session_id)
        if name is not None:
            self._store.save_user(user.bumped(name=check_display_name(name)))
        return self.profile(user_id)

    def _mfa_token(self, user_id: str) -> str:
        now = epoch(self._clock)
        return self._signer.sign(
            {
                "aud": MFA_AUDIENCE,
                "sub": user_id,
                "iat": now,
                "exp": now + MFA_TOKEN_SECONDS,
                "jti": self._ids("jti"),
            }
        )
