"""The device authorization grant's state machine (chalicelib/domain/device_flow.py), on fakes."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.device_flow import (
    EXPIRES_IN_SECONDS,
    INTERVAL_SECONDS,
    LIMITS,
    SLOW_DOWN_SECONDS,
    USER_CODE_ALPHABET,
    AccessDenied,
    AuthorizationPending,
    DeviceFlow,
    ExpiredToken,
    SlowDown,
    normalize_user_code,
)
from chalicelib.domain.errors import BadRequest, Conflict, Forbidden, NotFound, RateLimited
from chalicelib.domain.policy import Grant, Principal
from tests.support.identity import MemoryDeviceGrants, MemoryRateLimiter, MemorySessions, MemoryUsers

URI = "http://127.0.0.1:8000/v1/auth/device"
IP = "10.0.0.1"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class World:
    def __init__(self) -> None:
        self.clock = Clock()
        self.users = MemoryUsers()
        self.sessions = MemorySessions(self.users)
        self.grants = MemoryDeviceGrants()
        self.limiter = MemoryRateLimiter()
        self.flow = DeviceFlow(self.grants, self.sessions, self.limiter, self.clock)
        alice = self.users.create_user("alice@example.com", "Alice", email_verified=True)
        self.alice = self.sessions.sessions[self.sessions.start(alice, method="password").access_token]
        self.sessions.started.clear()


@pytest.fixture
def w() -> World:
    return World()


def test_a_new_sign_in_shows_a_readable_code_and_polls_pending(w: World) -> None:
    started = w.flow.start(URI, IP)

    view = started.view()
    assert view["verificationUri"] == URI
    assert view["verificationUriComplete"] == f"{URI}?user_code={started.user_code}"
    assert (view["expiresIn"], view["interval"]) == (EXPIRES_IN_SECONDS, INTERVAL_SECONDS) == (600, 5)
    left, dash, right = started.user_code.partition("-")
    assert dash and len(left) == len(right) == 4
    assert set(left + right) <= set(USER_CODE_ALPHABET)
    stored = w.grants.get(left + right)
    assert stored is not None and started.device_code not in repr(stored)  # only its hash is kept
    with pytest.raises(AuthorizationPending):
        w.flow.poll(started.device_code, IP)


def test_polling_sooner_than_the_interval_slows_the_client_down_by_five_seconds(w: World) -> None:
    started = w.flow.start(URI, IP)
    with pytest.raises(AuthorizationPending):
        w.flow.poll(started.device_code, IP)

    w.clock.advance(2)
    with pytest.raises(SlowDown, match="wait 10 seconds"):
        w.flow.poll(started.device_code, IP)
    w.clock.advance(INTERVAL_SECONDS + 1)  # on time for the old interval, early for the new one
    with pytest.raises(SlowDown):
        w.flow.poll(started.device_code, IP)
    w.clock.advance(INTERVAL_SECONDS + SLOW_DOWN_SECONDS * 2)
    with pytest.raises(AuthorizationPending):
        w.flow.poll(started.device_code, IP)


def test_approval_yields_one_session_of_the_approver(w: World) -> None:
    started = w.flow.start(URI, IP)

    decided = w.flow.decide(w.alice, started.user_code.lower(), approve=True, source=IP)
    tokens = w.flow.poll(started.device_code, IP)

    assert decided.status == "approved"
    assert w.sessions.sessions[tokens.access_token].user_id == w.alice.user_id
    assert w.sessions.started == [(w.alice.user_id, "device")]
    w.clock.advance(INTERVAL_SECONDS)
    with pytest.raises(ExpiredToken, match="already used"):
        w.flow.poll(started.device_code, IP)
    assert len(w.sessions.started) == 1


def test_two_racing_polls_of_an_approved_code_get_one_session(w: World) -> None:
    started = w.flow.start(URI, IP)
    w.flow.decide(w.alice, started.user_code, approve=True, source=IP)
    barrier = threading.Barrier(8)
    outcomes: list[str] = []

    def poll() -> None:
        barrier.wait()
        try:
            w.flow.poll(started.device_code, IP)
            outcomes.append("session")
        except ExpiredToken:
            outcomes.append("expired")

    threads = [threading.Thread(target=poll) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["expired"] * 7 + ["session"]
    assert len(w.sessions.started) == 1


def test_a_denied_sign_in_is_access_denied_and_issues_nothing(w: World) -> None:
    started = w.flow.start(URI, IP)

    w.flow.decide(w.alice, started.user_code, approve=False, source=IP)

    with pytest.raises(AccessDenied):
        w.flow.poll(started.device_code, IP)
    with pytest.raises(Conflict, match="already denied"):
        w.flow.decide(w.alice, started.user_code, approve=True, source=IP)
    assert w.sessions.started == []


def test_after_ten_minutes_the_code_expires_for_the_cli_and_the_approver(w: World) -> None:
    started = w.flow.start(URI, IP)

    w.clock.advance(EXPIRES_IN_SECONDS)

    with pytest.raises(ExpiredToken):
        w.flow.poll(started.device_code, IP)
    with pytest.raises(NotFound, match="it expired"):
        w.flow.decide(w.alice, started.user_code, approve=True, source=IP)


def test_a_forged_device_code_for_a_real_user_code_is_refused(w: World) -> None:
    started = w.flow.start(URI, IP)
    user_code = started.user_code.replace("-", "")

    for forged in (f"{user_code}.guess", user_code, "nonsense", ""):
        with pytest.raises(ExpiredToken):
            w.flow.poll(forged, IP)


def test_only_a_signed_in_person_may_approve_not_an_api_token(w: World) -> None:
    started = w.flow.start(URI, IP)
    token = Principal(kind="token", subject="tok_1", grants=(Grant("ws_1", frozenset()),), token_id="tok_1")

    with pytest.raises(Forbidden, match="not an API token"):
        w.flow.decide(token, started.user_code, approve=True, source=IP)
    with pytest.raises(AuthorizationPending):
        w.flow.poll(started.device_code, IP)


def test_guessing_user_codes_is_rate_limited_per_person(w: World) -> None:
    _, attempts, _ = LIMITS["enter"]
    guesses = ("".join(p) for p in itertools.product("BCDF", repeat=8))
    for _ in range(attempts):
        with pytest.raises(NotFound):
            w.flow.decide(w.alice, next(guesses), approve=True, source=IP)

    with pytest.raises(RateLimited):
        w.flow.decide(w.alice, next(guesses), approve=True, source=IP)


def test_new_code_pairs_and_polls_are_rate_limited_per_source_address(w: World) -> None:
    _, attempts, _ = LIMITS["start"]
    for _ in range(attempts):
        w.flow.start(URI, IP)
    with pytest.raises(RateLimited):
        w.flow.start(URI, IP)
    w.flow.start(URI, "10.0.0.2")  # another address is not held back


def test_a_taken_user_code_is_drawn_again(w: World) -> None:
    codes = iter(["BCDFGHJK", "BCDFGHJK", "MNPQRTVW"])
    flow = DeviceFlow(w.grants, w.sessions, w.limiter, w.clock, user_codes=lambda: next(codes))

    first, second = flow.start(URI, IP), flow.start(URI, IP)

    assert (first.user_code, second.user_code) == ("BCDF-GHJK", "MNPQ-RTVW")


@pytest.mark.parametrize("typed", ["bcdf-ghjk", " BCDF GHJK ", "BCDFGHJK"])
def test_a_person_may_type_the_code_in_any_case_with_or_without_the_dash(typed: str) -> None:
    assert normalize_user_code(typed) == "BCDFGHJK"


@pytest.mark.parametrize("typed", ["BCDF-GHJ", "BCDF-GHJKL", "ABCD-EFGH", "BCDF-GHJ1"])
def test_a_malformed_code_is_a_bad_request_naming_the_field(typed: str) -> None:
    with pytest.raises(BadRequest, match="userCode"):
        normalize_user_code(typed)


def test_a_person_looking_up_a_code_sees_which_program_and_address_asked(w: World) -> None:
    started = w.flow.start(URI, IP, "railyard-cli/0.1 (Linux; laptop)")

    seen = w.flow.look(w.alice, started.user_code.lower(), "10.0.0.2")
    w.flow.decide(w.alice, started.user_code, False, "10.0.0.2")
    denied = w.flow.look(w.alice, started.user_code, "10.0.0.2")

    assert (seen.status, seen.requested_from, seen.client) == (
        "pending",
        IP,
        "railyard-cli/0.1 (Linux; laptop)",
    )
    assert denied.status == "denied"  # the page says it was decided already, not "unknown"


def test_a_used_code_cannot_be_looked_up_nor_by_a_token(w: World) -> None:
    started = w.flow.start(URI, IP, "x" * 500)
    assert len(w.grants.get(normalize_user_code(started.user_code)).client) == 200  # type: ignore[union-attr]
    w.flow.decide(w.alice, started.user_code, True, IP)
    w.flow.poll(started.device_code, IP)
    token = Principal(kind="token", subject="tok_1", grants=(Grant("ws_1", frozenset()),), token_id="tok_1")

    with pytest.raises(NotFound, match="already used"):
        w.flow.look(w.alice, started.user_code, IP)
    with pytest.raises(Forbidden, match="not an API token"):
        w.flow.look(token, started.user_code, IP)
