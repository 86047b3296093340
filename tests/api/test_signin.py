"""Sign-in routes through the Chalice app on moto: the device flow (its grants and rate limits in
the real table), GET /v1/whoami, and GitHub OAuth against a fake GitHub over real HTTP.

Users and sessions are in-memory stand-ins of the identity ports (tests/support/identity.py): a
session's access token is accepted as a user principal; API tokens go through the real AuthService.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from chalice.test import Client

from chalicelib import wiring
from chalicelib.adapters.dynamo.schema import create_table
from chalicelib.config import Settings
from chalicelib.domain.authentication import AuthService
from chalicelib.domain.device_flow import LIMITS
from tests.support.fake_github import CLIENT_ID, CLIENT_SECRET, FakeGitHub, running_fake_github
from tests.support.identity import MemorySessions, MemoryUsers, SessionAwareAuth

API_TOKEN = "ry_api_token"


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str]


class SignIn:
    def __init__(self, client: Client, users: MemoryUsers, sessions: MemorySessions) -> None:
        self.client = client
        self.users = users
        self.sessions = sessions

    def send(self, method: str, path: str, body: Any = None, token: str | None = None) -> Reply:
        headers = {"Content-Type": "application/json", "Host": "127.0.0.1:8000"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        payload = json.dumps(body).encode() if body is not None else b""
        response = getattr(self.client.http, method.lower())(path, headers=headers, body=payload)
        text = response.body.decode() if isinstance(response.body, bytes) else str(response.body or "")
        ctype = response.headers.get("Content-Type", "")
        parsed = json.loads(text) if text and ctype.startswith("application/json") else text
        return Reply(response.status_code, parsed, dict(response.headers))


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    with running_fake_github() as fake:
        yield fake


@pytest.fixture
def signin(aws: int, fake_github: FakeGitHub, monkeypatch: pytest.MonkeyPatch) -> Iterator[SignIn]:
    from app import app

    monkeypatch.setenv("RAILYARD_GITHUB_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("RAILYARD_GITHUB_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("RAILYARD_GITHUB_OAUTH_URL", fake_github.url)
    monkeypatch.setenv("RAILYARD_GITHUB_API_URL", fake_github.url + "/")
    settings = Settings.from_env()
    create_table(settings.table_name)
    users = MemoryUsers()
    sessions = MemorySessions(users)
    container = wiring.Container(settings, session_issuer=sessions, user_registry=users)
    real_auth = AuthService(container.repository, container.clock)
    real_auth.ensure_token(API_TOKEN, settings.org_id, "ci-deploy", scopes=("read", "deploy"))
    container.auth = SessionAwareAuth(sessions, real_auth)  # type: ignore[assignment]
    wiring.use(container)
    with Client(app) as client:
        yield SignIn(client, users, sessions)
    wiring.use(None)


# -- device flow ------------------------------------------------------------------------------------


def test_device_sign_in_approved_by_a_person_gives_the_cli_their_session_once(signin: SignIn) -> None:
    alice = signin.sessions.sign_in("alice@example.com", "Alice")

    started = signin.send("POST", "/v1/auth/device/code")
    pending = signin.send("POST", "/v1/auth/device/token", {"deviceCode": started.body["deviceCode"]})
    approved = signin.send(
        "POST", "/v1/auth/device/approve", {"userCode": started.body["userCode"], "approve": True}, alice
    )
    granted = signin.send("POST", "/v1/auth/device/token", {"deviceCode": started.body["deviceCode"]})
    again = signin.send("POST", "/v1/auth/device/token", {"deviceCode": started.body["deviceCode"]})

    assert started.status == 200
    assert started.body["verificationUri"] == "http://127.0.0.1:8000/v1/auth/device"
    assert started.body["verificationUriComplete"].endswith(f"?user_code={started.body['userCode']}")
    assert (started.body["expiresIn"], started.body["interval"]) == (600, 5)
    assert (pending.status, pending.body["Code"]) == (400, "AuthorizationPending")
    assert (approved.status, approved.body["status"]) == (200, "approved")
    assert granted.status == 200 and granted.body["tokenType"] == "Bearer"
    assert set(granted.body) == {"accessToken", "refreshToken", "tokenType", "expiresIn", "sessionId"}
    assert (again.status, again.body["Code"]) == (400, "ExpiredToken")
    me = signin.send("GET", "/v1/whoami", token=granted.body["accessToken"])
    assert me.body["whoami"]["kind"] == "user"
    assert me.body["whoami"]["name"] == "alice@example.com"
    assert me.body["whoami"]["grants"][0]["role"] == "admin"


def test_an_api_token_may_not_approve_a_device_sign_in(signin: SignIn) -> None:
    started = signin.send("POST", "/v1/auth/device/code")

    refused = signin.send(
        "POST", "/v1/auth/device/approve", {"userCode": started.body["userCode"], "approve": True}, API_TOKEN
    )
    anonymous = signin.send(
        "POST", "/v1/auth/device/approve", {"userCode": started.body["userCode"], "approve": True}
    )

    assert (refused.status, refused.body["Code"]) == (403, "Forbidden")
    assert anonymous.status == 401
    still = signin.send("POST", "/v1/auth/device/token", {"deviceCode": started.body["deviceCode"]})
    assert still.body["Code"] == "AuthorizationPending"


def test_a_denied_device_sign_in_is_access_denied(signin: SignIn) -> None:
    bob = signin.sessions.sign_in("bob@example.com")
    started = signin.send("POST", "/v1/auth/device/code")

    signin.send(
        "POST", "/v1/auth/device/approve", {"userCode": started.body["userCode"], "approve": False}, bob
    )
    polled = signin.send("POST", "/v1/auth/device/token", {"deviceCode": started.body["deviceCode"]})

    assert (polled.status, polled.body["Code"]) == (400, "AccessDenied")
    assert signin.sessions.started == [(signin.users.find_by_email("bob@example.com"), "password")]


def test_polling_twice_at_once_is_slow_down(signin: SignIn) -> None:
    started = signin.send("POST", "/v1/auth/device/code")
    body = {"deviceCode": started.body["deviceCode"]}

    first = signin.send("POST", "/v1/auth/device/token", body)
    second = signin.send("POST", "/v1/auth/device/token", body)

    assert (first.body["Code"], second.body["Code"]) == ("AuthorizationPending", "SlowDown")
    assert (second.status, "10 seconds" in second.body["Message"]) == (400, True)


def test_guessing_codes_ends_in_429_with_retry_after(signin: SignIn) -> None:
    mallory = signin.sessions.sign_in("mallory@example.com")
    _, attempts, _ = LIMITS["enter"]
    answers = [
        signin.send("POST", "/v1/auth/device/approve", {"userCode": f"BCDF-GHJ{c}", "approve": True}, mallory)
        for c in "BCDFGHJKMNPQ"[: attempts + 1]
    ]

    assert [a.status for a in answers] == [404] * attempts + [429]
    assert int(answers[-1].headers["Retry-After"]) > 0


def test_bad_device_requests_are_400_naming_the_field(signin: SignIn) -> None:
    missing = signin.send("POST", "/v1/auth/device/token", {})
    unknown = signin.send("POST", "/v1/auth/device/token", {"deviceCode": "BCDFGHJK.nope"})
    alice = signin.sessions.sign_in("alice@example.com")
    not_bool = signin.send(
        "POST", "/v1/auth/device/approve", {"userCode": "BCDF-GHJK", "approve": "yes"}, alice
    )

    assert (missing.status, "deviceCode" in missing.body["Message"]) == (400, True)
    assert (unknown.status, unknown.body["Code"]) == (400, "ExpiredToken")
    assert (not_bool.status, "approve" in not_bool.body["Message"]) == (400, True)


@pytest.mark.parametrize(
    ("dashboard_url", "page"),
    [
        ("/dashboard", "http://127.0.0.1:8000/dashboard/device/"),  # railyard dev: the API's origin
        ("https://d1.cloudfront.net/dashboard/", "https://d1.cloudfront.net/dashboard/device/"),
    ],
)
def test_with_a_dashboard_the_cli_is_sent_to_its_approval_page(
    signin: SignIn, dashboard_url: str, page: str
) -> None:
    container = wiring.container()
    container.settings = replace(container.settings, dashboard_url=dashboard_url)

    started = signin.send("POST", "/v1/auth/device/code")

    assert started.body["verificationUri"] == page
    assert started.body["verificationUriComplete"] == f"{page}?user_code={started.body['userCode']}"


def test_a_person_sees_which_program_asked_for_a_code_before_approving_it(signin: SignIn) -> None:
    alice = signin.sessions.sign_in("alice@example.com", "Alice")
    started = signin.send("POST", "/v1/auth/device/code")  # the test client's User-Agent

    seen = signin.send("GET", f"/v1/auth/device/request?userCode={started.body['userCode']}", token=alice)
    by_token = signin.send(
        "GET", f"/v1/auth/device/request?userCode={started.body['userCode']}", token=API_TOKEN
    )
    unknown = signin.send("GET", "/v1/auth/device/request?userCode=BCDF-GHJK", token=alice)

    assert seen.status == 200, seen.body
    assert seen.body["userCode"] == started.body["userCode"] and seen.body["status"] == "pending"
    assert set(seen.body) == {"userCode", "status", "requestedAt", "expiresAt", "requestedFrom", "client"}
    assert (by_token.status, by_token.body["Code"]) == (403, "Forbidden")
    assert (unknown.status, unknown.body["Code"]) == (404, "NotFound")
    assert "expired" in unknown.body["Message"] and "already used" in unknown.body["Message"]


def test_the_approval_page_is_self_contained_html_that_cannot_be_framed(signin: SignIn) -> None:
    page = signin.send("GET", "/v1/auth/device")

    assert page.status == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    for needed in ('<label for="email">', '<label for="password">', '<label for="code">', 'role="status"'):
        assert needed in page.body
    for outside in ("src=", "href=", "http://", "https://"):
        assert outside not in page.body
    for path in ("/v1/auth/login", "/v1/auth/verify", "/v1/auth/device/approve"):
        assert path in page.body


# -- whoami -------------------------------------------------------------------------------------------


def test_whoami_of_an_api_token_names_it_with_its_actions(signin: SignIn) -> None:
    me = signin.send("GET", "/v1/whoami", token=API_TOKEN)

    assert me.status == 200
    assert me.body["whoami"]["kind"] == "token"
    assert me.body["whoami"]["name"] == "ci-deploy"
    assert me.body["whoami"]["grants"][0]["actions"] == ["deploy", "read"]
    assert signin.send("GET", "/v1/whoami").status == 401


# -- GitHub ---------------------------------------------------------------------------------------------


def _authorize(signin: SignIn, fake: FakeGitHub) -> tuple[str, str, dict[str, str]]:
    """Starts a GitHub sign-in and consents on the fake: (code, state, the authorize query)."""
    started = signin.send("GET", "/v1/auth/github/start")
    assert started.status == 200, started.body
    url = started.body["authorizeUrl"]
    assert url.startswith(fake.url + "/login/oauth/authorize?")
    consent = requests.get(url, allow_redirects=False, timeout=5)
    callback = parse_qs(urlsplit(consent.headers["Location"]).query)
    assert callback["state"] == [started.body["state"]]
    asked = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    return callback["code"][0], callback["state"][0], asked


def _callback(signin: SignIn, code: str, state: str) -> Reply:
    return signin.send("GET", f"/v1/auth/github/callback?code={code}&state={state}")


def test_github_sign_in_makes_a_user_and_the_next_one_finds_them(
    signin: SignIn, fake_github: FakeGitHub
) -> None:
    code, state, asked = _authorize(signin, fake_github)
    first = _callback(signin, code, state)
    second = _callback(signin, *_authorize(signin, fake_github)[:2])

    assert asked["code_challenge_method"] == "S256" and len(asked["code_challenge"]) == 43
    assert asked["redirect_uri"] == "http://127.0.0.1:8000/v1/auth/github/callback"
    assert "code_verifier" not in asked and asked["client_id"] == CLIENT_ID
    assert first.status == 200, first.body
    assert second.status == 200, second.body
    assert fake_github.exchanges == ["ok", "ok"]
    (user,) = signin.users.users.values()
    assert (user.email, user.email_verified, user.display_name) == ("octo@example.com", True, "Octo Cat")
    assert signin.sessions.started == [(user.id, "github"), (user.id, "github")]
    me = signin.send("GET", "/v1/whoami", token=second.body["accessToken"])
    assert me.body["whoami"]["userId"] == user.id


def test_a_verified_primary_email_links_the_existing_account(signin: SignIn, fake_github: FakeGitHub) -> None:
    existing = signin.users.create_user("Octo@Example.com", "Octo", email_verified=True)

    answer = _callback(signin, *_authorize(signin, fake_github)[:2])

    assert answer.status == 200
    assert signin.sessions.started == [(existing, "github")]


def test_an_unverified_email_never_links_an_existing_account(signin: SignIn, fake_github: FakeGitHub) -> None:
    victim = signin.users.create_user("victim@example.com", "Victim", email_verified=True)
    fake_github.account = {"id": 666, "login": "mallory", "name": None}
    fake_github.emails = [{"email": "victim@example.com", "primary": True, "verified": False}]

    answer = _callback(signin, *_authorize(signin, fake_github)[:2])

    assert answer.status == 200
    (signed_in, method) = signin.sessions.started[0]
    assert signed_in != victim and method == "github"
    newcomer = signin.users.users[signed_in]
    assert (newcomer.email, newcomer.display_name) == (None, "mallory")


def test_a_wrong_or_replayed_state_is_refused_before_github_is_asked(
    signin: SignIn, fake_github: FakeGitHub
) -> None:
    code, state, _ = _authorize(signin, fake_github)

    wrong = _callback(signin, code, "not-the-state")
    good = _callback(signin, code, state)
    code2, _, _ = _authorize(signin, fake_github)
    replayed = _callback(signin, code2, state)

    assert (wrong.status, wrong.body["Code"]) == (400, "BadRequest")
    assert "state" in wrong.body["Message"]
    assert good.status == 200
    assert (replayed.status, "already used" in replayed.body["Message"]) == (400, True)
    assert fake_github.exchanges == ["ok"]  # the refused ones never reached the token endpoint


def test_a_code_injected_into_another_sign_in_fails_pkce(signin: SignIn, fake_github: FakeGitHub) -> None:
    # An attacker's code (made for the attacker's challenge) sent with the victim's state: the
    # server exchanges it with the victim's verifier, which GitHub refuses.
    stolen_code, _, _ = _authorize(signin, fake_github)
    _, victim_state, _ = _authorize(signin, fake_github)

    answer = _callback(signin, stolen_code, victim_state)

    assert (answer.status, answer.body["Code"]) == (401, "Unauthorized")
    assert "incorrect_code_verifier" in answer.body["Message"]
    assert fake_github.exchanges == ["incorrect_code_verifier"]
    assert signin.sessions.started == []


def test_github_declining_ends_the_attempt(signin: SignIn, fake_github: FakeGitHub) -> None:
    _, state, _ = _authorize(signin, fake_github)

    declined = signin.send("GET", f"/v1/auth/github/callback?error=access_denied&state={state}")

    assert (declined.status, "access_denied" in declined.body["Message"]) == (400, True)


def test_unconfigured_github_sign_in_is_404_naming_the_settings(
    signin: SignIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAILYARD_GITHUB_CLIENT_ID")
    monkeypatch.delenv("RAILYARD_GITHUB_CLIENT_SECRET")
    wiring.use(wiring.Container(Settings.from_env()))

    answer = signin.send("GET", "/v1/auth/github/start")

    assert answer.status == 404
    assert "RAILYARD_GITHUB_CLIENT_ID" in answer.body["Message"]
