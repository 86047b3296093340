"""Sessions and access tokens with in-memory stores and a key ring held in memory (no AWS, no table).

The signer is the real RS256 one (pure CPU once its ring is loaded): the point of these tests is
that a token verifies, or is refused for the right reason, from the token and the ring alone.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import jwt
import pytest

from chalicelib.adapters.session_keys import CachedKeyRing, JwtSigner, new_ring, new_signing_key
from chalicelib.domain.accounts import Membership
from chalicelib.domain.authentication import hash_token
from chalicelib.domain.errors import RateLimited, Unauthorized
from chalicelib.domain.identity import Accounts
from chalicelib.domain.keyring import RETIRED_KEY_SECONDS, KeyRing
from chalicelib.domain.policy import ROLE_ACTIONS, Action
from chalicelib.domain.sessions import (
    ACCESS_TOKEN_SECONDS,
    REFRESH_TOKEN_SECONDS,
    AccessTokens,
    RefreshReused,
    SessionRevoked,
    Sessions,
)
from chalicelib.domain.signin_limits import REFRESH_PER_FAMILY
from tests.support.identity_fakes import (
    Clock,
    InMemoryIdentityStore,
    InMemorySessionStore,
    WindowLimiter,
    ids,
)

ISSUER = "railyard:test:123456789012"


@pytest.fixture(scope="module")
def ring() -> KeyRing:
    return new_ring(int(time.time()))


@dataclass
class World:
    clock: Clock
    identities: InMemoryIdentityStore
    store: InMemorySessionStore
    signer: JwtSigner
    sessions: Sessions
    verifier: AccessTokens
    user_id: str
    workspace_id: str


@pytest.fixture
def world(ring: KeyRing) -> Iterator[World]:
    # The domain's clock sets iat/exp, PyJWT checks them against the real time: start at now.
    clock = Clock(datetime.now(UTC).replace(microsecond=0))
    identities, store, make_ids = InMemoryIdentityStore(), InMemorySessionStore(), ids()
    signer = JwtSigner(CachedKeyRing(lambda: ring), ISSUER)
    sessions = Sessions(store, identities, signer, WindowLimiter(clock.epoch), clock, make_ids)
    user_id = Accounts(identities, clock, make_ids).create_user(
        "ada@example.com", "Ada", email_verified=False
    )
    workspace_id = identities.memberships_of(user_id)[0].workspace_id
    yield World(clock, identities, store, signer, sessions, AccessTokens(signer), user_id, workspace_id)


def test_a_session_token_carries_the_users_roles_and_verifies_without_any_store(world: World) -> None:
    tokens = world.sessions.start(world.user_id, method="password")
    # A verifier built from the signer alone: there is no store it could read.
    principal = AccessTokens(world.signer).verify(tokens.access_token)
    assert principal.kind == "user" and principal.user_id == principal.subject == world.user_id
    assert principal.session_id == tokens.session_id and principal.name == "ada@example.com"
    assert [(g.workspace_id, g.actions) for g in principal.grants] == [
        (world.workspace_id, ROLE_ACTIONS["admin"])
    ]
    claims = jwt.decode(tokens.access_token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == ACCESS_TOKEN_SECONDS == tokens.expires_in
    assert {"iss", "aud", "sub", "sid", "ws", "iat", "exp", "jti"} <= set(claims)
    assert jwt.get_unverified_header(tokens.access_token)["kid"] == world.signer._keys.ring().current.kid


def test_refresh_rotates_and_rereads_roles(world: World) -> None:
    first = world.sessions.start(world.user_id, method="password")
    # The user is made a viewer of another workspace: the next refresh's token says so.
    world.identities.memberships[("ws_other", world.user_id)] = Membership(
        "ws_other", world.user_id, "viewer", "now"
    )
    second = world.sessions.refresh(first.refresh_token)
    assert second.session_id == first.session_id and second.refresh_token != first.refresh_token
    grants = {g.workspace_id: g.actions for g in world.verifier.verify(second.access_token).grants}
    assert grants["ws_other"] == frozenset({Action.READ, Action.READ_LOGS})


def test_reusing_a_refresh_token_revokes_the_whole_family(world: World) -> None:
    first = world.sessions.start(world.user_id, method="password")
    second = world.sessions.refresh(first.refresh_token)
    with pytest.raises(RefreshReused):
        world.sessions.refresh(first.refresh_token)
    with pytest.raises(SessionRevoked):
        world.sessions.refresh(second.refresh_token)
    # Another session of the same user is untouched.
    other = world.sessions.start(world.user_id, method="password")
    assert world.sessions.refresh(other.refresh_token).session_id == other.session_id


def test_a_refresh_that_loses_the_race_to_another_counts_as_reuse(world: World) -> None:
    first = world.sessions.start(world.user_id, method="password")
    spent = world.store.get_refresh(hash_token(first.refresh_token))
    assert spent is not None
    world.sessions.refresh(first.refresh_token)  # the other request wins...
    world.store.get_refresh = lambda token_hash: spent  # type: ignore[method-assign]  # ...this one read it before
    with pytest.raises(RefreshReused):
        world.sessions.refresh(first.refresh_token)
    assert world.store.families[first.session_id].status == "revoked"


def test_logout_ends_refresh_but_not_the_access_tokens_already_out(world: World) -> None:
    tokens = world.sessions.start(world.user_id, method="password")
    world.sessions.logout(tokens.session_id)
    with pytest.raises(SessionRevoked):
        world.sessions.refresh(tokens.refresh_token)
    # Documented: verifying reads nothing, so the access token lives out its 15 minutes.
    assert world.verifier.verify(tokens.access_token).session_id == tokens.session_id


def test_expired_and_unknown_refresh_tokens_are_refused(world: World) -> None:
    tokens = world.sessions.start(world.user_id, method="password")
    with pytest.raises(Unauthorized, match="not valid"):
        world.sessions.refresh("ryr_never-issued")
    world.clock.advance(REFRESH_TOKEN_SECONDS + 1)
    with pytest.raises(Unauthorized, match="expired"):
        world.sessions.refresh(tokens.refresh_token)


def test_refreshing_a_family_is_rate_limited(world: World) -> None:
    tokens = world.sessions.start(world.user_id, method="password")
    for _ in range(REFRESH_PER_FAMILY.attempts):
        tokens = world.sessions.refresh(tokens.refresh_token)
    with pytest.raises(RateLimited) as limited:
        world.sessions.refresh(tokens.refresh_token)
    assert 1 <= limited.value.retry_after <= REFRESH_PER_FAMILY.window_seconds


def test_a_rotated_ring_keeps_verifying_old_tokens_until_they_cannot_be_live(ring: KeyRing) -> None:
    now = int(time.time())
    rotated = ring.rotated(new_signing_key(now), now)
    assert rotated.current.kid != ring.current.kid and rotated.box_key == ring.box_key
    assert set(rotated.verifying(now)) == {ring.current.kid, rotated.current.kid}
    later = now + RETIRED_KEY_SECONDS
    assert set(rotated.verifying(later)) == {rotated.current.kid}
    # The next rotation after that drops the long-retired key from the ring altogether.
    again = rotated.rotated(new_signing_key(later), later)
    assert [k.kid for k in again.keys] == [again.current.kid, rotated.current.kid]
    assert KeyRing.from_document(again.to_document()) == again


def test_tokens_of_the_previous_key_verify_after_a_rotation(ring: KeyRing) -> None:
    holder = {"ring": ring}
    signer = JwtSigner(CachedKeyRing(lambda: holder["ring"]), ISSUER)
    claims = {"aud": "a", "sub": "usr_1", "jti": "j", "iat": int(time.time()), "exp": int(time.time()) + 60}
    old = signer.sign(claims)
    now = int(time.time())
    holder["ring"] = ring.rotated(new_signing_key(now), now)
    fresh = JwtSigner(CachedKeyRing(lambda: holder["ring"]), ISSUER)  # a container started after
    assert fresh.verify(old, "a")["sub"] == "usr_1"
    assert jwt.get_unverified_header(fresh.sign(claims))["kid"] != jwt.get_unverified_header(old)["kid"]
    retired_long_ago = JwtSigner(
        CachedKeyRing(lambda: holder["ring"]), ISSUER, clock=lambda: now + RETIRED_KEY_SECONDS + 1
    )
    with pytest.raises(Unauthorized, match="unknown or retired"):
        retired_long_ago.verify(old, "a")


def test_an_unknown_kid_rereads_the_ring_at_most_once_per_window(ring: KeyRing) -> None:
    loads: list[float] = []
    monotonic = [0.0]

    def load() -> KeyRing:
        loads.append(monotonic[0])
        return ring

    signer = JwtSigner(CachedKeyRing(load, monotonic=lambda: monotonic[0]), ISSUER)
    forged = jwt.encode({"sub": "x"}, ring.current.private_pem, "RS256", headers={"kid": "key_unknown"})
    for _ in range(5):
        with pytest.raises(Unauthorized, match="unknown"):
            signer.verify(forged, "a")
    assert len(loads) == 1  # the first read; the forged kids within 30 s cost nothing more
    monotonic[0] = 31.0
    with pytest.raises(Unauthorized, match="unknown"):
        signer.verify(forged, "a")
    assert len(loads) == 2


def test_an_mfa_token_is_not_an_access_token(world: World) -> None:
    mfa = world.signer.sign(
        {
            "aud": "railyard-mfa",
            "sub": world.user_id,
            "jti": "j",
            "iat": int(time.time()),
            "exp": int(time.time()) + 60,
        }
    )
    with pytest.raises(Unauthorized, match="audience"):
        world.verifier.verify(mfa)
