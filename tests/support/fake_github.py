"""A fake GitHub on 127.0.0.1 (a free port) playing the OAuth app flow and two REST endpoints.

- GET /login/oauth/authorize: the person consents at once: 302 to redirect_uri with a fresh code
  and the state. The code remembers the client id, redirect_uri and PKCE challenge it was made for.
- POST /login/oauth/access_token (form): checks client_id + client_secret, that the code exists and
  is unused (single use, as GitHub's), that redirect_uri is the authorize request's, and that
  S256(code_verifier) is the challenge. GitHub's way: a refusal is 200 with an `error` field.
- GET /user and /user/emails with `Authorization: Bearer <token>` from the exchange.

`account` and `emails` are the GitHub user the next sign-in is. `exchanges` lists every token
request's outcome ("ok" or the error), so a test can see what GitHub was asked.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.support.loopback_http import serving

CLIENT_ID = "Iv1.fakeclientid"
CLIENT_SECRET = "fake-client-secret"


@dataclass
class FakeGitHub:
    url: str = ""
    account: dict[str, Any] = field(default_factory=lambda: {"id": 4242, "login": "octo", "name": "Octo Cat"})
    emails: list[dict[str, Any]] = field(
        default_factory=lambda: [{"email": "octo@example.com", "primary": True, "verified": True}]
    )
    codes: dict[str, dict[str, str]] = field(default_factory=dict)  # code -> authorize request
    tokens: set[str] = field(default_factory=set)
    exchanges: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def consent(self, query: dict[str, str]) -> str:
        code = secrets.token_hex(10)
        with self.lock:
            self.codes[code] = query
        return code

    def exchange(self, form: dict[str, str]) -> dict[str, str]:
        outcome = self._check(form)
        self.exchanges.append(outcome)
        if outcome != "ok":
            return {"error": outcome, "error_description": f"fake GitHub: {outcome}"}
        token = "gho_" + secrets.token_hex(12)
        self.tokens.add(token)
        return {"access_token": token, "token_type": "bearer", "scope": "read:user,user:email"}

    def _check(self, form: dict[str, str]) -> str:
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return "incorrect_client_credentials"
        with self.lock:
            asked = self.codes.pop(form.get("code", ""), None)  # single use
        if asked is None or asked.get("client_id") != CLIENT_ID:
            return "bad_verification_code"
        if form.get("redirect_uri") != asked.get("redirect_uri"):
            return "redirect_uri_mismatch"
        verifier = form.get("code_verifier", "")
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if asked.get("code_challenge_method") != "S256" or digest != asked.get("code_challenge"):
            return "incorrect_code_verifier"
        return "ok"


def _handler(fake: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _json(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self) -> bool:
            token = self.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            if token in fake.tokens:
                return True
            self._json(401, {"message": "Bad credentials"})
            return False

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/login/oauth/authorize":
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                code = fake.consent(query)
                self.send_response(302)
                location = query["redirect_uri"] + "?" + urlencode({"code": code, "state": query["state"]})
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif parts.path == "/user" and self._authorized():
                self._json(200, fake.account)
            elif parts.path == "/user/emails" and self._authorized():
                self._json(200, [{**e, "visibility": "private"} for e in fake.emails])
            elif parts.path not in ("/user", "/user/emails"):
                self._json(404, {"message": "Not Found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            if urlsplit(self.path).path != "/login/oauth/access_token":
                return self._json(404, {"message": "Not Found"})
            self._json(200, fake.exchange(form))

    return Handler


@contextmanager
def running_fake_github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub()
    with serving(_handler(fake), "fake-github") as url:
        fake.url = url
        yield fake
