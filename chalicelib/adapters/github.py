"""GitHub's OAuth and REST endpoints over HTTP: the GitHubApi port (chalicelib/domain/github_signin.py).

urllib.request, because `requests` is not a runtime dependency (requirements.txt). The OAuth host
(RAILYARD_GITHUB_OAUTH_URL, https://github.com) serves /login/oauth/authorize and
/login/oauth/access_token; the API host (RAILYARD_GITHUB_API_URL, https://api.github.com) serves
/user and /user/emails. Tests point both at a fake GitHub on 127.0.0.1 (tests/support/fake_github.py).

GitHub answers a refused code with 200 and an `error` field; that and any 4xx become Unauthorized.
No answer or a 5xx become TransientError (503): the person can retry.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode

from chalicelib.domain.errors import TransientError, Unauthorized
from chalicelib.domain.github_signin import GitHubEmail, GitHubUser

TIMEOUT_SECONDS = 10
USER_AGENT = "railyard"  # GitHub's API refuses requests without one


class HttpGitHub:
    def __init__(self, client_id: str, client_secret: str, oauth_url: str, api_url: str) -> None:
        self.client_id = client_id
        self._secret = client_secret
        self._oauth = oauth_url.rstrip("/")
        self._api = api_url.rstrip("/")
        self.authorize_url = f"{self._oauth}/login/oauth/authorize"

    def exchange(self, code: str, code_verifier: str, redirect_uri: str) -> str:
        form = urlencode(
            {
                "client_id": self.client_id,
                "client_secret": self._secret,
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": code_verifier,
            }
        ).encode()
        answer = self._call(
            f"{self._oauth}/login/oauth/access_token",
            data=form,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            reason = (
                answer.get("error_description") or answer.get("error") if isinstance(answer, dict) else None
            )
            raise Unauthorized(f"GitHub refused the sign-in: {reason or 'no access token in its answer'}")
        return token

    def user(self, access_token: str) -> GitHubUser:
        data = self._call(f"{self._api}/user", token=access_token)
        try:
            return GitHubUser(id=int(data["id"]), login=str(data["login"]), name=data.get("name") or None)
        except (KeyError, TypeError, ValueError):
            raise TransientError("GitHub's /user answer lacks the account id or login") from None

    def emails(self, access_token: str) -> list[GitHubEmail]:
        data = self._call(f"{self._api}/user/emails", token=access_token)
        if not isinstance(data, list):
            raise TransientError("GitHub's /user/emails answer is not a list")
        return [
            GitHubEmail(str(e["email"]), bool(e.get("primary")), bool(e.get("verified")))
            for e in data
            if isinstance(e, dict) and e.get("email")
        ]

    def _call(
        self, url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None, token: str = ""
    ) -> Any:
        request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
        request.add_header("Accept", "application/json")
        request.add_header("User-Agent", USER_AGENT)
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            if 400 <= error.code < 500:
                raise Unauthorized(f"GitHub answered {error.code} to {url}") from None
            raise TransientError(f"GitHub answered {error.code} to {url}") from None
        except (urllib.error.URLError, TimeoutError, ValueError) as error:
            raise TransientError(f"GitHub could not be reached at {url}: {error}") from None
