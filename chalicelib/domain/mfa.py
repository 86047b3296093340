"""TOTP multi-factor authentication: setting it up, turning it on and off, and checking a second factor.

Setup stores a new secret, sealed (`SecretBox`), and shows it once with its otpauth:// URI; it is
never returned again. Enabling needs a code from the authenticator (proof the user holds the secret)
and answers RECOVERY_CODES one-time recovery codes, shown once and stored as SHA-256 hashes (each
has 80 random bits, so a fast hash is enough). A second factor is a TOTP code of the current time
step or the one before or after (clock drift), never one already accepted (the last accepted step
is stored), or an unused recovery code, which is then deleted. Every check writes the credentials
back conditioned on their version, so two requests cannot both spend one code.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from chalicelib.domain.errors import BadRequest, Conflict, Unauthorized
from chalicelib.domain.identity import Credentials, IdentityStore
from chalicelib.domain.identity_ports import RateLimiter
from chalicelib.domain.ids import Clock
from chalicelib.domain.signin_limits import MFA_PER_USER

RECOVERY_CODES = 10
TOTP_ISSUER = "Railyard"
_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read off a screen, typed back


class Totp(Protocol):
    def new_secret(self) -> str: ...

    def uri(self, secret: str, account: str, issuer: str) -> str: ...

    def step_of(self, secret: str, code: str, at: datetime) -> int | None:
        """The time step (30 s) of `code` when it is valid at `at` (one step of drift either way)."""
        ...


class SecretBox(Protocol):
    """Authenticated encryption of small secrets at rest (chalicelib/adapters/secret_box.py)."""

    def seal(self, plaintext: str) -> str: ...

    def open(self, sealed: str) -> str: ...


@dataclass(frozen=True)
class MfaSetup:
    secret: str  # shown once, for typing into an authenticator
    uri: str  # otpauth://totp/... for a QR code


def new_recovery_code() -> str:
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(16))  # ~79 bits
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def hash_recovery_code(code: str) -> str:
    normalized = "".join(code.split()).replace("-", "").lower()
    return hashlib.sha256(normalized.encode()).hexdigest()


class Mfa:
    def __init__(
        self,
        store: IdentityStore,
        totp: Totp,
        box: SecretBox,
        limiter: RateLimiter,
        clock: Clock,
        recovery_code: Callable[[], str] = new_recovery_code,
    ) -> None:
        self._store = store
        self._totp = totp
        self._box = box
        self._limiter = limiter
        self._clock = clock
        self._recovery_code = recovery_code

    def setup(self, user_id: str) -> MfaSetup:
        """A new (pending) secret; replaces an earlier pending one. Conflict when MFA is on."""
        credentials = self._store.get_credentials(user_id)
        if credentials.mfa_enabled:
            raise Conflict("MFA is already enabled: disable it first to set up a new authenticator")
        user = self._store.get_user(user_id)
        secret = self._totp.new_secret()
        self._store.save_credentials(credentials.bumped(mfa_secret=self._box.seal(secret)))
        return MfaSetup(secret, self._totp.uri(secret, user.email or user.id, TOTP_ISSUER))

    def enable(self, user_id: str, code: str) -> list[str]:
        """Turns MFA on when `code` matches the pending secret; the recovery codes, shown once."""
        MFA_PER_USER.hit(self._limiter, user_id)
        credentials = self._store.get_credentials(user_id)
        if credentials.mfa_enabled:
            raise Conflict("MFA is already enabled")
        if credentials.mfa_secret is None:
            raise BadRequest("no authenticator is set up: call /v1/auth/mfa/setup first")
        step = self._totp.step_of(self._box.open(credentials.mfa_secret), code.strip(), self._clock())
        if step is None:
            raise BadRequest("the code does not match: check the authenticator app and its clock")
        codes = [self._recovery_code() for _ in range(RECOVERY_CODES)]
        self._store.save_credentials(
            credentials.bumped(
                mfa_enabled=True,
                mfa_last_step=step,
                recovery_codes=tuple(hash_recovery_code(c) for c in codes),
            )
        )
        return codes

    def disable(self, user_id: str, code: str | None, recovery_code: str | None) -> None:
        """Turns MFA off, given a current code or a recovery code."""
        MFA_PER_USER.hit(self._limiter, user_id)
        credentials = self._store.get_credentials(user_id)
        if not credentials.mfa_enabled:
            raise BadRequest("MFA is not enabled")
        self.check(credentials, code, recovery_code)  # raises; the write below spends nothing twice
        self._store.save_credentials(
            credentials.bumped(mfa_enabled=False, mfa_secret=None, mfa_last_step=0, recovery_codes=())
        )

    def second_factor(self, user_id: str, code: str | None, recovery_code: str | None) -> None:
        """Checks a sign-in's second step and spends what it used (the code's step, the recovery code)."""
        MFA_PER_USER.hit(self._limiter, user_id)
        credentials = self._store.get_credentials(user_id)
        if not credentials.mfa_enabled:
            raise Unauthorized("MFA is not enabled for this user: sign in again")
        self._store.save_credentials(self.check(credentials, code, recovery_code))

    def check(self, credentials: Credentials, code: str | None, recovery_code: str | None) -> Credentials:
        """The credentials with the accepted factor spent; Unauthorized when neither is valid."""
        if (code is None) == (recovery_code is None):
            raise BadRequest("send either 'code' (from the authenticator) or 'recoveryCode'")
        if recovery_code is not None:
            hashed = hash_recovery_code(recovery_code)
            if hashed not in credentials.recovery_codes:
                raise Unauthorized("the recovery code is not valid (each works once)")
            left = tuple(h for h in credentials.recovery_codes if h != hashed)
            return credentials.bumped(recovery_codes=left)
        assert code is not None and credentials.mfa_secret is not None
        step = self._totp.step_of(self._box.open(credentials.mfa_secret), code.strip(), self._clock())
        if step is None or step <= credentials.mfa_last_step:
            raise Unauthorized("the code is not valid (a code works once; wait for the next one)")
        return credentials.bumped(mfa_last_step=step)
