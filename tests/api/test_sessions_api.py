"""Sign-up, sign-in, sessions and MFA through the Chalice app, with DynamoDB and Secrets Manager on moto.

GIVEN a fresh table and no signing keys yet (the first sign-in makes them), WHEN a user registers,
signs in, refreshes, reuses a refresh token, signs out, turns MFA on and signs in with it, THEN each
answer is what a client relies on: tokens that work, a reused token that ends the session, a 401
with a Code for every forged or stale token, and a 429 with Retry-After for a brute force.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pyotp
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from jwt.algorithms import RSAAlgorithm

from chalicelib.adapters.credentials import AesGcmBox, Argon2Hasher, PyotpTotp
from chalicelib.adapters.session_keys import new_signing_key
from chalicelib.domain.mfa import Mfa
from chalicelib.domain.signin_limits import LOGIN_PER_EMAIL
from tests.api.conftest import Api

EMAIL = "ada@example.com"
PASSWORD = "correct horse battery"


@pytest.fixture
def users(api: Api) -> Api:
    """The API with cheap argon2 parameters (the defaults cost ~64 MiB and tens of ms per hash)."""
    api.container.password_hasher = Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1)
    return api


def register(api: Api, email: str = EMAIL, password: str = PASSWORD) -> dict[str, Any]:
    reply = api.send("POST", "/v1/auth/register", {"email": email, "password": password, "name": "Ada"}, None)
    assert reply.status == 201, reply.body
    return reply.body  # type: ignore[no-any-return]


def login(api: Api, email: str = EMAIL, password: str = PASSWORD) -> tuple[int, Any]:
    return api.call("POST", "/v1/auth/login", {"email": email, "password": password}, token=None)


def refresh(api: Api, refresh_token: str) -> tuple[int, Any]:
    return api.call("POST", "/v1/auth/refresh", {"refreshToken": refresh_token}, token=None)


def test_register_login_profile_refresh_reuse_and_logout(users: Api) -> None:
    registered = register(users)
    status, body = login(users)
    assert status == 200 and body["tokenType"] == "Bearer" and body["expiresIn"] == 900

    # The access token opens the profile: the user and the personal workspace they administer.
    status, profile = users.call("GET", "/v1/auth/profile", token=body["accessToken"])
    assert status == 200, profile
    assert profile["user"]["id"] == registered["userId"]
    assert profile["user"]["email"] == EMAIL and profile["user"]["name"] == "Ada"
    assert [(w["name"], w["role"]) for w in profile["workspaces"]] == [("ada", "admin")]
    assert "passwordHash" not in json.dumps(profile) and "argon2" not in json.dumps(profile)

    # A refresh rotates: new tokens, same session; the old access token still works until it expires.
    status, second = refresh(users, body["refreshToken"])
    assert status == 200, second
    assert second["sessionId"] == body["sessionId"]
    assert second["refreshToken"] != body["refreshToken"]
    assert users.call("GET", "/v1/auth/profile", token=second["accessToken"])[0] == 200

    # The spent refresh token again: 401, and the whole session is revoked, the new token too.
    status, reused = refresh(users, body["refreshToken"])
    assert status == 401 and reused["Code"] == "RefreshReused", reused
    status, after = refresh(users, second["refreshToken"])
    assert status == 401 and after["Code"] == "SessionRevoked", after

    # A new sign-in, then logout: its refresh token stops working at once.
    _, third = login(users)
    status, out = users.call("POST", "/v1/auth/logout", token=third["accessToken"])
    assert status == 200 and out == {"sessionId": third["sessionId"], "revoked": True}
    status, ended = refresh(users, third["refreshToken"])
    assert status == 401 and ended["Code"] == "SessionRevoked"


def test_changing_the_password_signs_out_every_other_session(users: Api) -> None:
    register(users)
    _, laptop = login(users)
    _, phone = login(users)
    status, body = users.call(
        "PATCH",
        "/v1/auth/profile",
        {"password": "a brand new passphrase", "currentPassword": PASSWORD},
        token=laptop["accessToken"],
    )
    assert status == 200, body
    # The phone signed in with the old password: its next refresh fails; the laptop's goes on.
    status, ended = refresh(users, phone["refreshToken"])
    assert status == 401 and ended["Code"] == "SessionRevoked", ended
    status, kept = refresh(users, laptop["refreshToken"])
    assert status == 200 and kept["sessionId"] == laptop["sessionId"], kept
    assert login(users)[0] == 401
    assert login(users, password="a brand new passphrase")[0] == 200


def test_wrong_email_and_wrong_password_answer_alike(users: Api) -> None:
    register(users)
    wrong_password = login(users, password="not the password")
    unknown_email = login(users, email="nobody@example.com")
    assert wrong_password[0] == unknown_email[0] == 401
    assert (
        wrong_password[1]
        == unknown_email[1]
        == {
            "Code": "Unauthorized",
            "Message": "wrong email or password",
        }
    )


def test_registration_refuses_weak_passwords_and_taken_emails(users: Api) -> None:
    short = users.call("POST", "/v1/auth/register", {"email": EMAIL, "password": "short"}, token=None)
    assert short[0] == 400 and "at least 10" in short[1]["Message"]
    same = users.call("POST", "/v1/auth/register", {"email": EMAIL, "password": EMAIL}, token=None)
    assert same[0] == 400 and "email" in same[1]["Message"]
    register(users)
    taken = users.call("POST", "/v1/auth/register", {"email": EMAIL.upper(), "password": PASSWORD}, None)
    assert taken[0] == 409


def test_profile_changes_name_and_password_only_with_the_current_one(users: Api) -> None:
    token = register(users)["accessToken"]
    change = {"password": "a brand new secret", "currentPassword": "wrong guess!"}
    status, body = users.call("PATCH", "/v1/auth/profile", change, token=token)
    assert status == 403, body
    change["currentPassword"] = PASSWORD
    status, body = users.call("PATCH", "/v1/auth/profile", {**change, "name": "Ada L."}, token=token)
    assert status == 200 and body["user"]["name"] == "Ada L."
    assert login(users)[0] == 401
    assert login(users, password="a brand new secret")[0] == 200


def test_api_tokens_cannot_use_the_user_routes(users: Api) -> None:
    status, body = users.call("GET", "/v1/auth/profile")  # the fixture's API token
    assert status == 403 and body["Code"] == "Forbidden"


class SteppedClock:
    """A clock that stays in one TOTP step until told to move to the next."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def next_step(self) -> None:
        self.now += timedelta(seconds=30)


def test_mfa_enable_then_sign_in_with_a_code_and_a_recovery_code_once(users: Api) -> None:
    c = users.container
    clock = SteppedClock()
    box = AesGcmBox(lambda: c.key_ring.ring().box_key)
    c.mfa = Mfa(c.identity_store, PyotpTotp(), box, c.rate_limiter, clock)
    registered = register(users)
    token = registered["accessToken"]

    status, setup = users.call("POST", "/v1/auth/mfa/setup", token=token)
    assert status == 200 and setup["otpauthUri"].startswith("otpauth://totp/")
    totp = pyotp.TOTP(setup["secret"])
    assert users.call("POST", "/v1/auth/mfa/enable", {"code": "000000"}, token=token)[0] == 400
    status, enabled = users.call("POST", "/v1/auth/mfa/enable", {"code": totp.at(clock())}, token=token)
    assert status == 200 and len(enabled["recoveryCodes"]) == 10
    stored = c.identity_store.get_credentials(registered["userId"])
    assert setup["secret"] not in json.dumps(stored.__dict__)  # sealed at rest

    # The password alone no longer signs in: it answers an MFA token, which is no access token.
    status, first = login(users)
    assert status == 200 and first["mfaRequired"] is True and "accessToken" not in first
    assert users.call("GET", "/v1/auth/profile", token=first["mfaToken"])[0] == 401

    # The code that enabled MFA was spent; the next step's code signs in, once.
    verify = {"mfaToken": first["mfaToken"], "code": totp.at(clock())}
    assert users.call("POST", "/v1/auth/verify", verify, token=None)[0] == 401
    clock.next_step()
    verify["code"] = totp.at(clock())
    status, session = users.call("POST", "/v1/auth/verify", verify, token=None)
    assert status == 200 and users.call("GET", "/v1/auth/profile", token=session["accessToken"])[0] == 200
    assert users.call("POST", "/v1/auth/verify", verify, token=None)[0] == 401

    # A recovery code works once.
    recovery = {"mfaToken": login(users)[1]["mfaToken"], "recoveryCode": enabled["recoveryCodes"][3]}
    assert users.call("POST", "/v1/auth/verify", recovery, token=None)[0] == 200
    status, again = users.call("POST", "/v1/auth/verify", recovery, token=None)
    assert status == 401 and "recovery code" in again["Message"]

    # Disabling needs a code; afterwards the password alone signs in again.
    clock.next_step()
    disable = {"code": totp.at(clock())}
    assert users.call("POST", "/v1/auth/mfa/disable", disable, token=session["accessToken"])[0] == 200
    assert "accessToken" in login(users)[1]


def _claims(api: Api, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": api.container.settings.token_issuer,
        "aud": "railyard-api",
        "sub": "usr_forged",
        "sid": "ses_forged",
        "ws": {api.container.settings.org_id: "admin"},
        "iat": now,
        "exp": now + 600,
        "jti": "jti_forged",
    }
    claims.update(changes)
    return claims


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _hs256_with_public_key(api: Api) -> str:
    """The algorithm-confusion attack: an HMAC keyed with the server's (public) RSA key."""
    key = api.container.signer.jwks()["keys"][0]
    public_key = RSAAlgorithm.from_jwk(json.dumps(key))
    public_pem = public_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)  # type: ignore[union-attr]
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": key["kid"]}).encode())
    payload = _b64(json.dumps(_claims(api)).encode())
    signature = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def test_forged_expired_and_confused_tokens_get_401_saying_why(users: Api) -> None:
    register(users)  # makes the key ring
    ring = users.container.key_ring.ring()
    kid = ring.current.kid
    real_key = ring.current.private_pem
    other = new_signing_key(int(time.time())).private_pem
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    unsigned = f"{header}.{_b64(json.dumps(_claims(users)).encode())}."

    def signed(**changes: Any) -> str:
        return jwt.encode(_claims(users, **changes), real_key, "RS256", headers={"kid": kid})

    cases = {
        "signature does not verify": jwt.encode(_claims(users), other, "RS256", headers={"kid": kid}),
        "expired": signed(iat=int(time.time()) - 3600, exp=int(time.time()) - 1800),
        "'none' is not accepted": unsigned,
        "'HS256' is not accepted": _hs256_with_public_key(users),
        "unknown or retired": jwt.encode(_claims(users), real_key, "RS256", headers={"kid": "key_nope"}),
        "not issued by": signed(iss="someone-else"),
        "audience": signed(aud="railyard-mfa"),
    }
    for why, token in cases.items():
        status, body = users.call("GET", "/v1/projects", token=token)
        assert status == 401 and body["Code"] == "Unauthorized", (why, body)
        assert why in body["Message"], (why, body)
    # The same claims signed properly are accepted: the refusals above are about the token, not the claims.
    assert users.call("GET", "/v1/projects", token=signed())[0] == 200


def test_rotation_keeps_old_tokens_valid_and_jwks_lists_both_keys(users: Api) -> None:
    before = register(users)
    old_kid = jwt.get_unverified_header(before["accessToken"])["kid"]
    users.container.session_keys.rotate()
    users.container.key_ring._ring = None  # this container reads the rotated ring now, not in 5 minutes

    after = login(users)[1]
    assert jwt.get_unverified_header(after["accessToken"])["kid"] != old_kid
    for token in (before["accessToken"], after["accessToken"]):
        assert users.call("GET", "/v1/auth/profile", token=token)[0] == 200
    status, jwks = users.call("GET", "/.well-known/jwks.json", token=None)
    assert status == 200
    kids = [key["kid"] for key in jwks["keys"]]
    assert old_kid in kids and len(kids) == 2
    assert all(key["alg"] == "RS256" and key["kty"] == "RSA" and "d" not in key for key in jwks["keys"])


def test_brute_force_login_is_rate_limited_with_retry_after(users: Api) -> None:
    register(users)
    for _ in range(LOGIN_PER_EMAIL.attempts):
        assert login(users, password="guess guess guess")[0] == 401
    reply = users.send("POST", "/v1/auth/login", {"email": EMAIL, "password": PASSWORD}, token=None)
    assert reply.status == 429 and reply.body["Code"] == "RateLimited"
    assert 1 <= int(reply.headers["Retry-After"]) <= LOGIN_PER_EMAIL.window_seconds
    # Another account from the same address is not locked out by it.
    register(users, email="grace@example.com")
    assert login(users, email="grace@example.com")[0] == 200
