"""Pure rules of workspaces, API tokens and the audit log (no AWS): last-admin guard, durations,
what of a request body the audit log keeps, which workspace an entry is filed under, the in-memory
rate limiter, and AuthService's once-per-window last-use write."""

from __future__ import annotations

import pytest

from chalicelib.adapters.memory_rate_limiter import InMemoryRateLimiter
from chalicelib.domain.api_tokens import parse_duration
from chalicelib.domain.audit import describe_request, filed_under
from chalicelib.domain.authentication import TOKEN_CACHE_SECONDS, AuthService, hash_token
from chalicelib.domain.errors import BadRequest, RateLimited
from chalicelib.domain.ids import utcnow
from chalicelib.domain.models import ApiToken
from chalicelib.domain.policy import Access, Action, Resource
from chalicelib.domain.workspaces import LastAdmin, Member, Roster, RosterChange, guard_last_admin
from tests.fakes import InMemoryRepository
from tests.support.principals import member_principal

ADMIN = Member("ws_1", "usr_a", "admin", "t")
MEMBER = Member("ws_1", "usr_b", "member", "t")


def test_a_change_may_move_the_admin_role_but_never_remove_the_last_one() -> None:
    roster = Roster("ws_1", None, (ADMIN, MEMBER), version=4)

    guard_last_admin(
        roster, RosterChange("ws_1", 4, put=(MEMBER.bumped(role="admin"), ADMIN.bumped(role="member")))
    )
    guard_last_admin(roster, RosterChange("ws_1", 4, delete=(MEMBER,)))
    with pytest.raises(LastAdmin):
        guard_last_admin(roster, RosterChange("ws_1", 4, put=(ADMIN.bumped(role="viewer"),)))
    with pytest.raises(LastAdmin):
        guard_last_admin(roster, RosterChange("ws_1", 4, delete=(ADMIN,)))
    # A workspace that has no admin (the local default, no members yet) can still take members.
    guard_last_admin(Roster("ws_1", None, (), 0), RosterChange("ws_1", 0, put=(MEMBER,)))


@pytest.mark.parametrize(
    ("text", "seconds"), [("30d", 2592000), ("12h", 43200), ("15m", 900), ("90s", 90), (3600, 3600)]
)
def test_durations_read_as_people_write_them(text: str | int, seconds: int) -> None:
    assert parse_duration(text) == seconds


def test_a_duration_that_is_not_one_is_a_bad_request_naming_it() -> None:
    with pytest.raises(BadRequest, match="expiresIn '1 week'"):
        parse_duration("1 week", "expiresIn")


def test_the_audit_log_keeps_names_of_what_was_sent_and_values_only_of_what_names_things() -> None:
    body = {
        "set": {"DB_PASSWORD": "s3cret", "API_KEY": "k"},
        "unset": ["OLD"],
        "token": "ry_secret",
        "password": "hunter2",
        "role": "deployer",
        "email": "bob@example.com",
        "actions": ["deploy"],
    }

    described = describe_request(body)

    assert described == {
        "set": ["API_KEY", "DB_PASSWORD"],
        "unset": ["OLD"],
        "token": "…",
        "password": "…",
        "role": "deployer",
        "email": "bob@example.com",
        "actions": ["deploy"],
    }
    assert describe_request(None) == {} and describe_request(["x"]) == {"body": "list"}


def test_an_entry_is_filed_where_it_happened_unless_that_would_show_a_stranger() -> None:
    bob = member_principal("usr_b", "bob@example.com", {"ws_mine": "admin"})
    theirs = Resource("service", "svc_1", "ws_theirs", "prj_1", "env_1", "svc_1")
    probe = Access(bob, Action.DEPLOY, checked=[theirs])

    assert filed_under(probe, 404, {}) == "ws_mine"
    assert filed_under(probe, 201, {}) == "ws_theirs"  # done there: it is that workspace's business
    assert filed_under(Access(bob, Action.MANAGE), 403, {"workspace_id": "ws_mine"}) == "ws_mine"
    several = member_principal("usr_c", "c@example.com", {"ws_1": "admin", "ws_2": "viewer"})
    assert filed_under(Access(several, Action.MANAGE), 400, {}) is None


def test_the_rate_limiter_says_when_to_come_back() -> None:
    now = [100.0]
    limiter = InMemoryRateLimiter(lambda: now[0])
    for _ in range(3):
        limiter.hit("k", 3, 60)
    now[0] += 45
    with pytest.raises(RateLimited) as refused:
        limiter.hit("k", 3, 60)
    assert refused.value.retry_after == 15
    limiter.hit("other", 3, 60)
    now[0] += 15
    limiter.hit("k", 3, 60)


def test_a_token_read_from_the_table_is_marked_used_once_per_cache_window() -> None:
    repo = InMemoryRepository()
    repo.save(ApiToken(hash_token("ry_x"), "ws_1", "ci", ("read",), "t", id="tok_1"))
    now = [0.0]
    auth = AuthService(repo, utcnow, lambda: now[0])

    for _ in range(5):
        auth.authenticate("Bearer ry_x")
    now[0] += TOKEN_CACHE_SECONDS
    auth.authenticate("Bearer ry_x")

    assert [used[0] for used in repo.tokens_used] == [hash_token("ry_x")] * 2
