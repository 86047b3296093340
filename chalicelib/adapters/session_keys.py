"""The session signing keys in AWS Secrets Manager, and the RS256 JWT `Signer` built on them (PyJWT).

Where the keys live: one secret per stage (`Settings.session_keys_secret`, e.g.
`railyard/prod/session-keys`) holding the key ring's JSON document (chalicelib/domain/keyring.py):
the RSA private keys (PEM) and the key that seals MFA secrets. Secrets Manager rather than SSM
Parameter Store because two 2048-bit PEM keys and their metadata outgrow a standard parameter's
4 KB. The first container that needs a key finds no secret and creates it with a fresh ring; of two
containers racing, CreateSecret lets one win and the other reads the winner's ring.

Each container reads the ring once and keeps it RING_CACHE_SECONDS; a token signed with a kid the
cached ring does not know (another container rotated since) makes it re-read the ring, at most once
per RELOAD_SECONDS, so a flood of forged kids costs one read per window. Verifying a token reads
nothing else: no DynamoDB, no network once the ring is cached.

Verification accepts RS256 only, checked before anything else: `alg: none`, HS256 (including the
classic confusion of an HMAC keyed with the public key), and every other algorithm are refused by
name. Then the kid must be a live key, and PyJWT checks the signature, `exp`, `iat` (both with
CLOCK_SKEW_SECONDS of leeway), `iss` and `aud`. Each refusal is Unauthorized with a message saying
which check failed.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from chalicelib.domain.errors import NotFound, Unauthorized
from chalicelib.domain.ids import new_id
from chalicelib.domain.keyring import CLOCK_SKEW_SECONDS, RING_CACHE_SECONDS, KeyRing, SigningKey

ALGORITHM = "RS256"
RSA_KEY_BITS = 2048
RELOAD_SECONDS = 30.0  # an unknown kid re-reads the ring at most this often
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti"]


def new_signing_key(now: int) -> SigningKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return SigningKey(new_id("key"), pem, now)


def new_ring(now: int) -> KeyRing:
    return KeyRing((new_signing_key(now),), base64.b64encode(os.urandom(32)).decode())


class SecretsManagerKeyStore:
    """The key ring's one secret: read (made on first use), and rotated."""

    def __init__(
        self, secret_name: str, client: Any | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self._name = secret_name
        self._client = client
        self._clock = clock

    @property
    def _sm(self) -> Any:
        if self._client is None:
            from chalicelib.adapters.aws import client

            self._client = client("secretsmanager")
        return self._client

    def load(self) -> KeyRing:
        from chalicelib.adapters.aws import error_code

        try:
            return self._read()
        except Exception as error:
            if error_code(error) != "ResourceNotFoundException":
                raise
        ring = new_ring(int(self._clock()))
        try:
            self._sm.create_secret(
                Name=self._name,
                Description="Railyard session signing keys (docs/decisions/0021)",
                SecretString=json.dumps(ring.to_document()),
            )
        except Exception as error:
            if error_code(error) != "ResourceExistsException":
                raise
            return self._read()  # another container made it first: use its ring
        return ring

    def rotate(self) -> KeyRing:
        """A new current key; the previous one keeps verifying (KeyRing.rotated). NotFound when the
        stage has no keys yet (a mistyped stage must not get a secret made for it)."""
        from chalicelib.adapters.aws import error_code

        now = int(self._clock())
        try:
            current = self._read()
        except Exception as error:
            if error_code(error) == "ResourceNotFoundException":
                raise NotFound(f"no session keys in {self._name}: the first sign-in makes them") from None
            raise
        ring = current.rotated(new_signing_key(now), now)
        self._sm.put_secret_value(SecretId=self._name, SecretString=json.dumps(ring.to_document()))
        return ring

    def _read(self) -> KeyRing:
        value = self._sm.get_secret_value(SecretId=self._name)
        return KeyRing.from_document(json.loads(value["SecretString"]))


class CachedKeyRing:
    """The ring as one container sees it: read once, kept RING_CACHE_SECONDS, re-read for a new kid."""

    def __init__(
        self,
        load: Callable[[], KeyRing],
        monotonic: Callable[[], float] = time.monotonic,
        max_age: float = RING_CACHE_SECONDS,
    ) -> None:
        self._load = load
        self._monotonic = monotonic
        self._max_age = max_age
        self._ring: KeyRing | None = None
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def ring(self) -> KeyRing:
        if self._ring is None or self._monotonic() - self._loaded_at >= self._max_age:
            self._reload()
        assert self._ring is not None
        return self._ring

    def ring_knowing(self, kid: str) -> KeyRing:
        """The ring, re-read first when it does not hold `kid` and was not read in RELOAD_SECONDS."""
        ring = self.ring()
        if all(key.kid != kid for key in ring.keys) and self._monotonic() - self._loaded_at >= RELOAD_SECONDS:
            self._reload()
            assert self._ring is not None
            ring = self._ring
        return ring

    def _reload(self) -> None:
        with self._lock:
            self._ring = self._load()
            self._loaded_at = self._monotonic()


class JwtSigner:
    """The `Signer` port (chalicelib/domain/sessions.py): RS256 JWTs with `kid`, issued by `issuer`."""

    def __init__(self, keys: CachedKeyRing, issuer: str, clock: Callable[[], float] = time.time) -> None:
        self._keys = keys
        self._issuer = issuer
        self._clock = clock
        self._private: dict[str, Any] = {}  # kid -> parsed private key (parsing a PEM costs ~1 ms)

    def sign(self, claims: dict[str, Any]) -> str:
        import jwt

        key = self._keys.ring().current
        return jwt.encode(
            {**claims, "iss": self._issuer}, self._private_key(key), ALGORITHM, headers={"kid": key.kid}
        )

    def verify(self, token: str, audience: str) -> dict[str, Any]:
        import jwt

        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise Unauthorized("the token is not a well-formed JWT") from None
        algorithm = header.get("alg")
        if algorithm != ALGORITHM:
            raise Unauthorized(f"the token's algorithm {algorithm!r} is not accepted: only {ALGORITHM} is")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthorized("the token names no signing key (kid)")
        key = self._keys.ring_knowing(kid).verifying(int(self._clock())).get(kid)
        if key is None:
            raise Unauthorized(f"the token's signing key {kid!r} is unknown or retired")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._private_key(key).public_key(),
                algorithms=[ALGORITHM],
                audience=audience,
                issuer=self._issuer,
                options={"require": REQUIRED_CLAIMS},
                leeway=CLOCK_SKEW_SECONDS,  # containers' clocks differ a little: `iat` may be ahead
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the token has expired: refresh the session or sign in again") from None
        except jwt.InvalidSignatureError:
            raise Unauthorized("the token's signature does not verify") from None
        except jwt.InvalidAudienceError:
            raise Unauthorized(f"the token is not for this use (audience not {audience!r})") from None
        except jwt.InvalidIssuerError:
            raise Unauthorized(f"the token was not issued by {self._issuer!r}") from None
        except jwt.MissingRequiredClaimError as error:
            raise Unauthorized(f"the token lacks the {error.claim!r} claim") from None
        except jwt.InvalidTokenError as error:
            raise Unauthorized(f"the token is not valid: {error}") from None
        return claims

    def jwks(self) -> dict[str, Any]:
        """The public keys that verify tokens now, as a JSON Web Key Set."""
        from jwt.algorithms import RSAAlgorithm

        keys = []
        for key in self._keys.ring().verifying(int(self._clock())).values():
            jwk = RSAAlgorithm.to_jwk(self._private_key(key).public_key(), as_dict=True)
            keys.append({**jwk, "kid": key.kid, "use": "sig", "alg": ALGORITHM})
        return {"keys": keys}

    def _private_key(self, key: SigningKey) -> Any:
        parsed = self._private.get(key.kid)
        if parsed is None:
            from cryptography.hazmat.primitives.serialization import load_pem_private_key

            parsed = load_pem_private_key(key.private_pem.encode(), password=None)
            self._private[key.kid] = parsed
        return parsed
