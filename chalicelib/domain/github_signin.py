"""Sign-in with GitHub: OAuth 2.0 authorization code with `state` and PKCE (S256).

`begin` draws a `state` and a `code_verifier`, keeps both server-side for STATE_TTL_SECONDS (one
use), and returns GitHub's authorize URL carrying the state and the verifier's S256 challenge.
`finish` takes the state back (a second use finds nothing), exchanges the code with the verifier
and the client secret, reads the GitHub user and their emails, and signs in the Railyard user
linked to that GitHub account, linking one first:

- an existing user is linked only through GitHub's primary email when GitHub says it is verified
  (otherwise anyone could claim another person's account by adding their address to GitHub);
- otherwise a new user is made (UserRegistry.create_user), with that verified email, or with no
  email at all when it is not verified (an unverified address must not hold a place in the
  registry its owner could not then sign up with).

GitHub itself is behind the `GitHubApi` port (chalicelib/adapters/github.py over HTTP).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol
from urllib.parse import urlencode

from chalicelib.domain.errors import BadRequest, Conflict
from chalicelib.domain.identity_ports import SessionIssuer, SessionTokens, UserRegistry
from chalicelib.domain.ids import Clock

STATE_TTL_SECONDS = 600
SCOPES = "read:user user:email"  # the profile and the email addresses, nothing else


@dataclass(frozen=True)
class PendingState:
    state: str
    code_verifier: str
    redirect_uri: str
    expires_at: datetime


@dataclass(frozen=True)
class GitHubUser:
    id: int
    login: str
    name: str | None


@dataclass(frozen=True)
class GitHubEmail:
    email: str
    primary: bool
    verified: bool


class GitHubApi(Protocol):
    authorize_url: str  # GitHub's /login/oauth/authorize
    client_id: str

    def exchange(self, code: str, code_verifier: str, redirect_uri: str) -> str:
        """The user's access token; Unauthorized when GitHub refuses the code."""
        ...

    def user(self, access_token: str) -> GitHubUser: ...

    def emails(self, access_token: str) -> list[GitHubEmail]: ...


class OAuthStates(Protocol):
    def add(self, pending: PendingState) -> None: ...

    def take(self, state: str) -> PendingState | None:
        """The pending state, deleted in the same step (None when unknown or already taken)."""
        ...


class GitHubLinks(Protocol):
    def user_for(self, github_id: int) -> str | None: ...

    def link(self, github_id: int, login: str, user_id: str, now: datetime) -> None:
        """Conflict when the GitHub account is already linked."""
        ...


def s256(code_verifier: str) -> str:
    """The PKCE S256 challenge of a verifier (RFC 7636 section 4.2)."""
    digest = hashlib.sha256(code_verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class GitHubSignIn:
    def __init__(
        self,
        github: GitHubApi,
        states: OAuthStates,
        links: GitHubLinks,
        users: UserRegistry,
        sessions: SessionIssuer,
        clock: Clock,
        *,
        random_text: Callable[[], str] = lambda: secrets.token_urlsafe(32),
    ) -> None:
        self._github = github
        self._states = states
        self._links = links
        self._users = users
        self._sessions = sessions
        self._clock = clock
        self._random = random_text

    def begin(self, redirect_uri: str) -> tuple[str, str]:
        """(GitHub's authorize URL, the state) for a browser to follow."""
        pending = PendingState(
            state=self._random(),
            code_verifier=self._random(),  # 43 characters of [A-Za-z0-9_-], as RFC 7636 asks
            redirect_uri=redirect_uri,
            expires_at=self._clock() + timedelta(seconds=STATE_TTL_SECONDS),
        )
        self._states.add(pending)
        query = urlencode(
            {
                "client_id": self._github.client_id,
                "redirect_uri": redirect_uri,
                "scope": SCOPES,
                "state": pending.state,
                "code_challenge": s256(pending.code_verifier),
                "code_challenge_method": "S256",
                "allow_signup": "true",
            }
        )
        return f"{self._github.authorize_url}?{query}", pending.state

    def finish(self, code: str, state: str, *, error: str | None = None) -> SessionTokens:
        """`error` is what GitHub sends instead of a code (the person declined: access_denied)."""
        if error:
            if state:
                self._states.take(state)  # that attempt is over either way
            raise BadRequest(f"GitHub sign-in was not completed: {error}")
        if not code or not state:
            raise BadRequest("the callback needs the query parameters 'code' and 'state' GitHub sends")
        pending = self._states.take(state)
        if pending is None or self._clock() >= pending.expires_at:
            raise BadRequest("unknown, expired or already used sign-in state: start the GitHub sign-in again")
        token = self._github.exchange(code, pending.code_verifier, pending.redirect_uri)
        return self._sessions.start(self._user_id(token), method="github")

    def _user_id(self, token: str) -> str:
        account = self._github.user(token)
        linked = self._links.user_for(account.id)
        if linked is not None:
            return linked
        primary = next((e for e in self._github.emails(token) if e.primary), None)
        verified = primary.email.lower() if primary is not None and primary.verified else None
        user_id = self._users.find_by_email(verified) if verified else None
        if user_id is None:
            user_id = self._users.create_user(
                verified, account.name or account.login, email_verified=bool(verified)
            )
        try:
            self._links.link(account.id, account.login, user_id, self._clock())
        except Conflict:  # a concurrent first sign-in of the same account linked it first
            winner = self._links.user_for(account.id)
            if winner is None:
                raise
            return winner
        return user_id
