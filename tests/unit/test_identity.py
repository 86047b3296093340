"""Users, password sign-in and MFA with in-memory stores: the rules a user meets, without AWS.

Sessions are real (`Sessions` on in-memory stores) and so is the TOTP code maker (pyotp, pure); the
password hasher is a stand-in that records what it was asked to verify.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pyotp
import pytest

from chalicelib.adapters.credentials import Argon2Hasher, PyotpTotp
from chalicelib.adapters.session_keys import CachedKeyRing, JwtSigner, new_ring
from chalicelib.domain.errors import BadRequest, Conflict, Forbidden, RateLimited, Unauthorized
from chalicelib.domain.identity import Accounts, check_password, personal_workspace_name
from chalicelib.domain.keyring import KeyRing
from chalicelib.domain.mfa import RECOVERY_CODES, Mfa, hash_recovery_code
from chalicelib.domain.sessions import AccessTokens, Sessions
from chalicelib.domain.signin import WRONG_CREDENTIALS, PasswordSignIn
from chalicelib.domain.signin_limits import LOGIN_PER_EMAIL, MFA_PER_USER, REGISTER_PER_IP
from tests.support.identity_fakes import (
    Base64Box,
    Clock,
    InMemoryIdentityStore,
    InMemorySessionStore,
    PlainHasher,
    WindowLimiter,
    ids,
)

PASSWORD = "correct horse battery"
IP = "203.0.113.7"


@pytest.fixture(scope="module")
def ring() -> KeyRing:
    return new_ring(int(time.time()))


@dataclass
class World:
    clock: Clock
    store: InMemoryIdentityStore
    hasher: PlainHasher
    accounts: Accounts
    mfa: Mfa
    sign_in: PasswordSignIn
    verifier: AccessTokens


@pytest.fixture
def world(ring: KeyRing) -> Iterator[World]:
    clock = Clock(datetime.now(UTC).replace(microsecond=0))  # PyJWT checks iat/exp on the real clock
    store, hasher, make_ids = InMemoryIdentityStore(), PlainHasher(), ids()
    limiter = WindowLimiter(clock.epoch)
    signer = JwtSigner(CachedKeyRing(lambda: ring), "railyard:test")
    sessions = Sessions(InMemorySessionStore(), store, signer, limiter, clock, make_ids)
    accounts = Accounts(store, clock, make_ids)
    mfa = Mfa(store, PyotpTotp(), Base64Box(), limiter, clock)
    sign_in = PasswordSignIn(accounts, store, hasher, sessions, signer, mfa, limiter, clock, make_ids)
    yield World(clock, store, hasher, accounts, mfa, sign_in, AccessTokens(signer))


def test_a_new_user_gets_a_personal_workspace_they_administer(world: World) -> None:
    user_id = world.accounts.create_user(" Ada.Lovelace@Example.com ", "", email_verified=True)
    user = world.store.get_user(user_id)
    assert user.email == "ada.lovelace@example.com" and user.name == "ada.lovelace" and user.email_verified
    [membership] = world.store.memberships_of(user_id)
    assert membership.role == "admin"
    assert world.store.workspaces[membership.workspace_id].name == "ada-lovelace"
    assert world.store.workspaces[membership.workspace_id].owner_user_id == user_id
    assert world.accounts.find_by_email("ADA.LOVELACE@example.com") == user_id
    with pytest.raises(Conflict):
        world.accounts.create_user("ada.lovelace@example.com", "Other", email_verified=False)
    assert world.accounts.create_user(None, "Octocat", email_verified=False)  # GitHub without an email


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("short", "at least 10"),
        ("x" * 300, "at most"),
        ("ada@example.com", "email"),
        ("ADA@example.com", "email"),
        ("  ada", "at least 10"),
    ],
)
def test_the_password_policy(password: str, why: str) -> None:
    with pytest.raises(BadRequest, match=why):
        check_password(password, "ada@example.com")


def test_the_password_policy_refuses_the_emails_local_part() -> None:
    with pytest.raises(BadRequest, match="email"):
        check_password("adalovelace", "adalovelace@example.com")
    assert check_password("adalovelace!", "adalovelace@example.com")


def test_workspace_names_from_emails() -> None:
    assert personal_workspace_name("Ada.Lovelace+x@example.com") == "ada-lovelace-x"
    assert personal_workspace_name("___@example.com") == "personal"
    assert personal_workspace_name(None) == "personal"


def test_sign_in_answers_alike_for_unknown_emails_and_wrong_passwords(world: World) -> None:
    world.sign_in.register("ada@example.com", PASSWORD, "Ada", IP)
    messages = []
    for email, password in (("ada@example.com", "wrong password"), ("bob@example.com", PASSWORD)):
        with pytest.raises(Unauthorized) as refused:
            world.sign_in.login(email, password, IP)
        messages.append(str(refused.value))
    assert messages == [WRONG_CREDENTIALS, WRONG_CREDENTIALS]
    # The unknown email was still "verified" (against nothing): it costs as much as a wrong password.
    assert world.hasher.verified[-1] is None and len(world.hasher.verified) == 2


def test_sign_in_returns_a_session_whose_token_names_the_user(world: World) -> None:
    user_id, _ = world.sign_in.register("ada@example.com", PASSWORD, "Ada", IP)
    answer = world.sign_in.login("ADA@example.com", PASSWORD, IP)
    assert answer.tokens is not None and answer.mfa_token is None
    assert world.verifier.verify(answer.tokens.access_token).user_id == user_id


def test_brute_force_on_one_email_is_limited_and_the_window_passes(world: World) -> None:
    world.sign_in.register("ada@example.com", PASSWORD, "Ada", IP)
    for _ in range(LOGIN_PER_EMAIL.attempts):
        with pytest.raises(Unauthorized):
            world.sign_in.login("ada@example.com", "guess guess", IP)
    with pytest.raises(RateLimited) as limited:
        world.sign_in.login("ada@example.com", PASSWORD, IP)  # even the right password
    world.clock.advance(limited.value.retry_after)
    assert world.sign_in.login("ada@example.com", PASSWORD, IP).tokens is not None


def test_registrations_from_one_address_are_limited(world: World) -> None:
    for n in range(REGISTER_PER_IP.attempts):
        world.sign_in.register(f"user{n}@example.com", PASSWORD, "", IP)
    with pytest.raises(RateLimited):
        world.sign_in.register("one-more@example.com", PASSWORD, "", IP)
    world.sign_in.register("elsewhere@example.com", PASSWORD, "", "198.51.100.1")


def test_changing_the_password_needs_the_current_one(world: World) -> None:
    user_id, _ = world.sign_in.register("ada@example.com", PASSWORD, "Ada", IP)
    with pytest.raises(Forbidden):
        world.sign_in.update_profile(user_id, password="new password!", current_password="nope nope")
    with pytest.raises(BadRequest, match="at least"):
        world.sign_in.update_profile(user_id, password="short", current_password=PASSWORD)
    world.sign_in.update_profile(user_id, password="new password!", current_password=PASSWORD)
    assert world.sign_in.login("ada@example.com", "new password!", IP).tokens is not None


def enable_mfa(world: World, user_id: str) -> tuple[pyotp.TOTP, list[str]]:
    setup = world.mfa.setup(user_id)
    assert setup.secret not in str(world.store.get_credentials(user_id))  # sealed at rest
    totp = pyotp.TOTP(setup.secret)
    codes = world.mfa.enable(user_id, totp.at(world.clock()))
    return totp, codes


def test_mfa_sign_in_needs_a_fresh_code_or_an_unused_recovery_code(world: World) -> None:
    user_id, _ = world.sign_in.register("ada@example.com", PASSWORD, "Ada", IP)
    totp, codes = enable_mfa(world, user_id)
    assert len(set(codes)) == RECOVERY_CODES
    stored = world.store.get_credentials(user_id).recovery_codes
    assert set(stored) == {hash_recovery_code(c) for c in codes} and not set(codes) & set(stored)

    answer = world.sign_in.login("ada@example.com", PASSWORD, IP)
    assert answer.tokens is None and answer.mfa_token is not None
    with pytest.raises(Unauthorized, match="works once"):  # the code that enabled MFA is spent
        world.sign_in.verify(answer.mfa_token, totp.at(world.clock()), None)
    world.clock.advance(30)
    session = world.sign_in.verify(answer.mfa_token, totp.at(world.clock()), None)
    assert world.verifier.verify(session.access_token).user_id == user_id
    with pytest.raises(Unauthorized):
        world.sign_in.verify(answer.mfa_token, totp.at(world.clock()), None)

    world.sign_in.verify(answer.mfa_token, None, codes[0].upper().replace("-", " "))
    with pytest.raises(Unauthorized, match="recovery code"):
        world.sign_in.verify(answer.mfa_token, None, codes[0])
    with pytest.raises(BadRequest, match="either"):
        world.sign_in.verify(answer.mfa_token, "123456", codes[1])
    with pytest.raises(Unauthorized, match="not for this use"):  # an access token is no MFA token
        world.sign_in.verify(session.access_token, None, codes[1])


def test_mfa_codes_are_rate_limited_per_user(world: World) -> None:
    user_id, _ = world.sign_in.register("ada@example.com", PASSWORD, "Ada", IP)
    enable_mfa(world, user_id)  # one attempt
    mfa_token = world.sign_in.login("ada@example.com", PASSWORD, IP).mfa_token
    assert mfa_token is not None
    for _ in range(MFA_PER_USER.attempts - 1):
        with pytest.raises(Unauthorized):
            world.sign_in.verify(mfa_token, "000000", None)
    with pytest.raises(RateLimited):
        world.sign_in.verify(mfa_token, "000000", None)


def test_mfa_setup_enable_and_disable_rules(world: World) -> None:
    user_id, _ = world.sign_in.register("ada@example.com", PASSWORD, "Ada", IP)
    with pytest.raises(BadRequest, match="setup first"):
        world.mfa.enable(user_id, "123456")
    setup = world.mfa.setup(user_id)
    assert setup.uri.startswith("otpauth://totp/Railyard:ada%40example.com?secret=")
    with pytest.raises(BadRequest, match="does not match"):
        world.mfa.enable(user_id, "000000")
    _, codes = enable_mfa(world, user_id)  # a second setup replaces the pending secret
    with pytest.raises(Conflict):
        world.mfa.setup(user_id)
    with pytest.raises(Unauthorized):
        world.mfa.disable(user_id, "000000", None)
    world.mfa.disable(user_id, None, codes[5])
    credentials = world.store.get_credentials(user_id)
    assert not credentials.mfa_enabled and credentials.mfa_secret is None and not credentials.recovery_codes
    assert world.sign_in.login("ada@example.com", PASSWORD, IP).tokens is not None


def test_argon2id_hashes_verify_and_refuse() -> None:
    hasher = Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1)
    hashed = hasher.hash(PASSWORD)
    assert hashed.startswith("$argon2id$") and PASSWORD not in hashed
    assert hasher.verify(hashed, PASSWORD) and not hasher.verify(hashed, PASSWORD + "!")
    assert not hasher.verify(None, PASSWORD) and not hasher.verify("garbage", PASSWORD)
    assert Argon2Hasher().needs_rehash(hashed)  # weaker than the defaults: upgraded at next sign-in
