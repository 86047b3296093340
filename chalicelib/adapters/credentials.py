"""The sign-in secrets' primitives: argon2id password hashes (argon2-cffi), TOTP codes (pyotp), and
AES-GCM sealing of MFA secrets at rest (cryptography), behind the domain's ports
(identity.PasswordHasher, mfa.Totp, mfa.SecretBox). Each library is imported on first use.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import os
from collections.abc import Callable
from datetime import datetime
from typing import Any

TOTP_STEP_SECONDS = 30
TOTP_DRIFT_STEPS = 1  # a code of the step before or after the current one is accepted too
_SEALED_PREFIX = "v1."


class Argon2Hasher:
    """argon2id with argon2-cffi's defaults (RFC 9106's low-memory profile) unless told otherwise
    (tests use cheaper parameters; `needs_rehash` upgrades old hashes at the next sign-in)."""

    def __init__(self, **parameters: Any) -> None:
        self._parameters: dict[str, Any] = parameters
        self._hasher: Any = None
        self._dummy: str | None = None

    @property
    def _h(self) -> Any:
        if self._hasher is None:
            from argon2 import PasswordHasher

            self._hasher = PasswordHasher(**self._parameters)
        return self._hasher

    def hash(self, password: str) -> str:
        return str(self._h.hash(password))

    def verify(self, hashed: str | None, password: str) -> bool:
        from argon2.exceptions import InvalidHashError, VerificationError

        if hashed is None:
            # Nothing to check: spend the same time as a real check, then refuse.
            if self._dummy is None:
                self._dummy = self.hash(base64.b64encode(os.urandom(18)).decode())
            hashed, password = self._dummy, password + "\x00"
            with contextlib.suppress(VerificationError, InvalidHashError):
                self._h.verify(hashed, password)
            return False
        try:
            return bool(self._h.verify(hashed, password))
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, hashed: str) -> bool:
        return bool(self._h.check_needs_rehash(hashed))


class PyotpTotp:
    """RFC 6238 codes: 6 digits, 30 s steps, SHA-1 (what every authenticator app speaks)."""

    def new_secret(self) -> str:
        import pyotp

        return str(pyotp.random_base32())

    def uri(self, secret: str, account: str, issuer: str) -> str:
        import pyotp

        return str(pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer))

    def step_of(self, secret: str, code: str, at: datetime) -> int | None:
        import pyotp

        totp = pyotp.TOTP(secret, interval=TOTP_STEP_SECONDS)
        step = totp.timecode(at)
        for offset in range(-TOTP_DRIFT_STEPS, TOTP_DRIFT_STEPS + 1):
            if hmac.compare_digest(totp.generate_otp(step + offset), code):
                return int(step + offset)
        return None


class AesGcmBox:
    """Seals short secrets with AES-256-GCM under the key ring's `box_key` (read when first needed)."""

    def __init__(self, key: Callable[[], str]) -> None:
        self._key = key

    def seal(self, plaintext: str) -> str:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        nonce = os.urandom(12)
        sealed = AESGCM(base64.b64decode(self._key())).encrypt(nonce, plaintext.encode(), None)
        return _SEALED_PREFIX + base64.b64encode(nonce + sealed).decode()

    def open(self, sealed: str) -> str:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if not sealed.startswith(_SEALED_PREFIX):
            raise ValueError("not a sealed secret of this platform")
        raw = base64.b64decode(sealed.removeprefix(_SEALED_PREFIX))
        return AESGCM(base64.b64decode(self._key())).decrypt(raw[:12], raw[12:], None).decode()
