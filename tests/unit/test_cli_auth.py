"""`railyard login` / `whoami` / `logout` and the client's session renewal, against a fake Railyard
API over real HTTP on 127.0.0.1 that plays the device flow, refresh-token rotation (a reused
refresh token is refused) and logout."""

from __future__ import annotations

import json
import secrets
import stat
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from railyard.client import RailyardClient
from railyard.commands import auth
from railyard.settings import Config, load_config, save_config
from tests.support.cli_runs import run

API_TOKEN = "ry_ci_token"
ALICE = {"kind": "user", "name": "alice@example.com", "userId": "usr_1", "tokenId": None}


@dataclass
class FakeAuthApi:
    port: int = 0
    requests: list[tuple[str, str]] = field(default_factory=list)
    access: set[str] = field(default_factory=set)  # valid access tokens of alice's session
    refresh: str | None = None  # the one refresh token that works now
    refreshed: int = 0
    logged_out: bool = False
    polls: list[str] = field(default_factory=list)  # answers to come, then approval
    polled: int = 0
    user_code: str = "BCDF-GHJK"
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def new_session(self) -> dict[str, Any]:
        access, refresh = "acc_" + secrets.token_hex(6), "ref_" + secrets.token_hex(6)
        self.access = {access}
        self.refresh = refresh
        return {
            "accessToken": access,
            "refreshToken": refresh,
            "tokenType": "Bearer",
            "expiresIn": 900,
            "sessionId": "ses_1",
        }

    def route(self, method: str, path: str, bearer: str, body: dict[str, Any]) -> tuple[int, Any]:
        if (method, path) == ("POST", "/v1/auth/device/code"):
            return 200, {
                "deviceCode": "BCDFGHJK.secret",
                "userCode": self.user_code,
                "verificationUri": f"{self.url}/v1/auth/device",
                "verificationUriComplete": f"{self.url}/v1/auth/device?user_code={self.user_code}",
                "expiresIn": 600,
                "interval": 5,
            }
        if (method, path) == ("POST", "/v1/auth/device/token"):
            assert body == {"deviceCode": "BCDFGHJK.secret"} and not bearer
            self.polled += 1
            if self.polls:
                code = self.polls.pop(0)
                return 400, {"Code": code, "Message": f"fake: {code}"}
            return 200, self.new_session()
        if (method, path) == ("POST", "/v1/auth/refresh"):
            if body.get("refreshToken") != self.refresh or self.refresh is None:
                self.refresh = None  # reuse detection: the whole session ends
                self.access = set()
                return 401, {"Code": "Unauthorized", "Message": "refresh token reused or revoked"}
            self.refreshed += 1
            return 200, self.new_session()
        if bearer == API_TOKEN and (method, path) == ("GET", "/v1/whoami"):
            grant = {"workspaceId": "ws_1", "projectId": "prj_1", "role": None, "actions": ["deploy", "read"]}
            who = {"kind": "token", "name": "ci-deploy", "userId": None, "tokenId": "tok_1"}
            return 200, {"whoami": {**who, "sessionId": None, "grants": [grant]}}
        if bearer not in self.access:
            return 401, {"Code": "Unauthorized", "Message": "the access token expired"}
        if (method, path) == ("GET", "/v1/whoami"):
            grant = {"workspaceId": "ws_1", "role": "admin", "actions": ["read"]}
            return 200, {"whoami": {**ALICE, "sessionId": "ses_1", "grants": [grant]}}
        if (method, path) == ("POST", "/v1/auth/logout"):
            self.logged_out = True
            self.access, self.refresh = set(), None
            return 204, None
        return 404, {"Code": "NotFound", "Message": f"no route {method} {path}"}

    def expire_access(self) -> None:
        self.access = set()


def _handler(fake: FakeAuthApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _handle(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            bearer = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            with fake.lock:
                fake.requests.append((self.command, self.path))
                status, answer = fake.route(self.command, self.path, bearer, json.loads(raw) if raw else {})
            data = json.dumps(answer).encode() if answer is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = _handle

    return Handler


@pytest.fixture
def fake() -> Iterator[FakeAuthApi]:
    state = FakeAuthApi()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def sleeps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Config under tmp_path, no developer environment, and polling that records instead of waiting."""
    monkeypatch.setenv("RAILYARD_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RAILYARD_API_URL", raising=False)
    monkeypatch.delenv("RAILYARD_TOKEN", raising=False)
    waited: list[float] = []
    monkeypatch.setattr(auth, "_sleep", waited.append)
    return waited


def stored(tmp_path: Path) -> dict[str, Any]:
    return json.loads((tmp_path / "home" / "config.json").read_text())  # type: ignore[no-any-return]


def test_login_runs_the_device_flow_at_the_interval_and_saves_the_session(
    fake: FakeAuthApi, sleeps: list[float], tmp_path: Path
) -> None:
    fake.polls = ["AuthorizationPending", "SlowDown", "AuthorizationPending"]

    result = run("login", "--api-url", fake.url)

    assert result.exit_code == 0, result.output
    assert f"{fake.url}/v1/auth/device?user_code=BCDF-GHJK" in result.output
    assert "code: BCDF-GHJK" in result.output
    assert "as alice@example.com (person)" in result.output
    assert sleeps == [5, 5, 10, 10]  # the interval, then 5 s more after SlowDown (RFC 8628)
    config = stored(tmp_path)
    assert config["session"]["access_token"] in fake.access
    assert config["session"]["refresh_token"] == fake.refresh
    assert "token" not in config  # one credential; `railyard dev` never re-registers a session
    assert stat.S_IMODE((tmp_path / "home" / "config.json").stat().st_mode) == 0o600


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The URLs login would open in a browser, on a terminal that could show one."""
    urls: list[str] = []
    monkeypatch.setattr(auth, "_can_open_browser", lambda: True)
    monkeypatch.setattr(auth, "_open_browser", lambda url: urls.append(url) or True)
    return urls


def test_login_opens_the_approval_page_in_a_browser_and_still_prints_it(
    fake: FakeAuthApi, sleeps: list[float], opened: list[str]
) -> None:
    result = run("login", "--api-url", fake.url)

    assert result.exit_code == 0, result.output
    assert opened == [f"{fake.url}/v1/auth/device?user_code=BCDF-GHJK"]
    assert opened[0] in result.output and "opened in your browser" in result.output


def test_login_with_no_browser_only_prints_the_page(
    fake: FakeAuthApi, sleeps: list[float], opened: list[str]
) -> None:
    result = run("login", "--api-url", fake.url, "--no-browser")

    assert result.exit_code == 0, result.output
    assert opened == []
    assert f"{fake.url}/v1/auth/device?user_code=BCDF-GHJK" in result.output


def test_without_a_terminal_no_browser_is_tried(
    fake: FakeAuthApi, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(auth, "_open_browser", lambda url: pytest.fail(f"opened {url}"))

    result = run("login", "--api-url", fake.url)  # CliRunner's stdin and stdout are no terminal

    assert result.exit_code == 0, result.output
    assert auth._can_open_browser() is False


@pytest.mark.parametrize(
    ("answer", "says"), [("AccessDenied", "denied"), ("ExpiredToken", "ExpiredToken: fake: ExpiredToken")]
)
def test_a_denied_or_expired_sign_in_saves_nothing(
    fake: FakeAuthApi, sleeps: list[float], tmp_path: Path, answer: str, says: str
) -> None:
    fake.polls = ["AuthorizationPending", answer]

    result = run("login", "--api-url", fake.url)

    assert result.exit_code == 1
    assert says in result.stderr
    assert not (tmp_path / "home" / "config.json").exists()


def test_login_keeps_a_working_token_of_the_same_api_and_starts_no_sign_in(
    fake: FakeAuthApi, sleeps: list[float]
) -> None:
    save_config(Config(api_url=fake.url, token=API_TOKEN))  # as `railyard dev` writes it

    result = run("login")

    assert result.exit_code == 0, result.output
    assert "Already logged in" in result.output and "ci-deploy (API token)" in result.output
    assert fake.requests == [("GET", "/v1/whoami")]


def test_login_signs_in_when_the_saved_token_is_for_another_api(
    fake: FakeAuthApi, sleeps: list[float]
) -> None:
    save_config(Config(api_url=fake.url.replace("127.0.0.1", "localhost"), token=API_TOKEN))

    result = run("login", "--api-url", fake.url)

    assert result.exit_code == 0, result.output
    assert fake.requests[0] == ("POST", "/v1/auth/device/code")  # the other API's token was not tried


def test_login_signs_in_when_the_saved_token_is_rejected(
    fake: FakeAuthApi, sleeps: list[float], tmp_path: Path
) -> None:
    save_config(Config(api_url=fake.url, token="ry_revoked"))

    result = run("login")

    assert result.exit_code == 0, result.output
    assert "no longer work" in result.output
    assert stored(tmp_path)["session"]["refresh_token"] == fake.refresh


def test_login_device_signs_in_even_with_a_working_token(
    fake: FakeAuthApi, sleeps: list[float], tmp_path: Path
) -> None:
    save_config(Config(api_url=fake.url, token=API_TOKEN))

    result = run("login", "--device")

    assert result.exit_code == 0, result.output
    assert fake.requests[-1] == ("GET", "/v1/whoami") and fake.requests[0] == ("POST", "/v1/auth/device/code")
    assert "token" not in stored(tmp_path)


def test_login_with_a_token_refuses_a_person_s_access_token(
    fake: FakeAuthApi, sleeps: list[float], tmp_path: Path
) -> None:
    access = fake.new_session()["accessToken"]

    refused = run("login", "--token", access, "--api-url", fake.url)
    accepted = run("login", "--token", API_TOKEN, "--api-url", fake.url)

    assert refused.exit_code == 1 and "not a sign-in session" in refused.stderr
    assert accepted.exit_code == 0, accepted.output
    assert stored(tmp_path) == {"api_url": fake.url, "token": API_TOKEN}


def test_an_expired_access_token_is_renewed_once_and_the_new_pair_saved(
    fake: FakeAuthApi, sleeps: list[float], tmp_path: Path
) -> None:
    run("login", "--api-url", fake.url)
    fake.expire_access()

    first = run("whoami")
    second = run("whoami")

    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert "alice@example.com (person)" in second.output and "workspace ws_1: admin" in second.output
    assert fake.refreshed == 1
    assert stored(tmp_path)["session"]["refresh_token"] == fake.refresh


def test_two_clients_renewing_at_once_spend_the_refresh_token_once(
    fake: FakeAuthApi, sleeps: list[float]
) -> None:
    run("login", "--api-url", fake.url)
    config = load_config()
    assert config is not None
    fake.expire_access()
    first, second = RailyardClient.for_config(config), RailyardClient.for_config(config)

    assert first.whoami()["name"] == second.whoami()["name"] == "alice@example.com"
    assert fake.refreshed == 1 and fake.refresh is not None  # no reuse: the session lives on
    assert second.token == first.token


def test_a_session_that_cannot_be_renewed_asks_to_log_in_again(
    fake: FakeAuthApi, sleeps: list[float]
) -> None:
    run("login", "--api-url", fake.url)
    fake.expire_access()
    fake.refresh = "something-else"

    result = run("whoami")

    assert result.exit_code == 1
    assert "SessionExpired" in result.stderr and "railyard login" in result.stderr


def test_logout_ends_the_session_on_the_server_and_forgets_it(
    fake: FakeAuthApi, sleeps: list[float], tmp_path: Path
) -> None:
    run("login", "--api-url", fake.url)

    result = run("logout")
    after = run("whoami")

    assert result.exit_code == 0, result.output
    assert fake.logged_out
    assert stored(tmp_path) == {"api_url": fake.url}
    assert after.exit_code == 1 and "not logged in" in after.stderr


def test_logout_of_an_api_token_forgets_it_and_says_it_stays_valid(
    fake: FakeAuthApi, sleeps: list[float], tmp_path: Path
) -> None:
    save_config(Config(api_url=fake.url, token=API_TOKEN))

    result = run("logout")

    assert result.exit_code == 0, result.output
    assert "stays valid until it is revoked" in result.output
    assert stored(tmp_path) == {"api_url": fake.url}
    assert fake.requests == []


def test_whoami_of_a_token_shows_its_scope_and_actions(fake: FakeAuthApi, sleeps: list[float]) -> None:
    save_config(Config(api_url=fake.url, token=API_TOKEN))

    result = run("whoami")

    assert result.exit_code == 0, result.output
    assert "ci-deploy (API token)" in result.output
    assert "workspace ws_1 / project prj_1: deploy, read" in result.output
