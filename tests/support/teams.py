"""Workspaces with people in them, for the API tests of workspaces, tokens and the audit log.

Sessions (the identity work's RS256 JWTs) are stood in for by `Sessions`: each user signs in once
and gets a JWT-shaped bearer; every request rebuilds the user's principal from their memberships in
the table, i.e. as if their session were refreshed right before it (a real session sees a changed
role at its next refresh). The clock and AuthService's monotonic clock are the test's to move.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.adapters.memory_rate_limiter import InMemoryRateLimiter
from chalicelib.adapters.workspaces_store import DynamoWorkspaceStore
from chalicelib.domain.authentication import AuthService
from chalicelib.domain.errors import Unauthorized
from chalicelib.domain.ids import new_id
from chalicelib.domain.policy import Principal
from tests.api.conftest import Api, Reply
from tests.support.principals import member_principal

USER_AGENT = "teams-test/1.0"


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime(2026, 12, 1, 12, 0, tzinfo=UTC))
    seconds: float = 1000.0  # AuthService's monotonic clock

    def __call__(self) -> datetime:
        return self.now

    def monotonic(self) -> float:
        return self.seconds

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        self.seconds += seconds


class Sessions:
    """An AccessTokenVerifier: "ses.<n>.sig" -> the user's principal, roles read at each request."""

    def __init__(self, store: DynamoWorkspaceStore) -> None:
        self._store = store
        self._users: dict[str, tuple[str, str]] = {}

    def sign_in(self, email: str) -> tuple[str, str]:
        user_id = new_id("usr")
        bearer = f"ses.{len(self._users)}.sig"
        self._users[bearer] = (user_id, email)
        return user_id, bearer

    def verify(self, token: str) -> Principal:
        if token not in self._users:
            raise Unauthorized("the session token is not valid")
        user_id, email = self._users[token]
        roles = {m.workspace_id: m.role for m in self._store.memberships_of(user_id)}
        return member_principal(user_id, email, roles)


@dataclass
class User:
    id: str
    email: str
    bearer: str


class Teams:
    def __init__(self, api: Api) -> None:
        self.api = api
        c = api.container
        self.clock = Clock()
        self.store = DynamoWorkspaceStore(c.settings.table_name)
        self.sessions = Sessions(self.store)
        c.clock = self.clock
        c.auth = AuthService(c.repository, self.clock, self.clock.monotonic, sessions=self.sessions)
        c.rate_limiter = InMemoryRateLimiter(self.clock.monotonic)

    def user(self, email: str) -> User:
        user_id, bearer = self.sessions.sign_in(email)
        return User(user_id, email, bearer)

    def send(self, method: str, path: str, body: Any = None, who: User | str | None = None) -> Reply:
        bearer = who.bearer if isinstance(who, User) else who
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        payload = json.dumps(body).encode() if body is not None else b""
        response = getattr(self.api.client.http, method.lower())(path, headers=headers, body=payload)
        text = response.body.decode() if isinstance(response.body, bytes) else str(response.body or "")
        return Reply(response.status_code, json.loads(text) if text else None, text, response.headers)

    def ok(self, method: str, path: str, body: Any = None, who: User | str | None = None) -> Any:
        reply = self.send(method, path, body, who)
        assert reply.status < 300, f"{method} {path}: {reply.status} {reply.text}"
        return reply.body

    def workspace(self, owner: User, name: str, **people: tuple[User, str]) -> str:
        """A workspace `owner` created, with each of `people` ({label: (user, role)}) invited and joined."""
        workspace_id = self.ok("POST", "/v1/workspaces", {"name": name}, owner)["workspace"]["id"]
        for user, role in people.values():
            self.join(owner, workspace_id, user, role)
        return str(workspace_id)

    def join(self, admin: User, workspace_id: str, user: User, role: str) -> None:
        invited = self.ok(
            "POST", f"/v1/workspaces/{workspace_id}/invitations", {"email": user.email, "role": role}, admin
        )
        self.ok("POST", "/v1/invitations/accept", {"token": invited["token"]}, user)

    def service_in(self, who: User, workspace_id: str, project: str, *services: str) -> dict[str, Any]:
        """A project of the workspace with the named services in its production environment."""
        made = self.ok("POST", "/v1/projects", {"name": project, "workspaceId": workspace_id}, who)
        env = made["environments"][0]
        ids = {
            name: self.ok("POST", f"/v1/environments/{env['id']}/services", {"name": name}, who)["service"][
                "id"
            ]
            for name in services
        }
        return {"project": made["project"]["id"], "environment": env["id"], "services": ids}


@dataclass
class Acme:
    """Workspace acme (alice admin, bob member, carol deployer, dave and zed viewers) and globex
    (erin admin)."""

    teams: Teams
    acme: str
    globex: str
    alice: User
    bob: User
    carol: User
    dave: User
    erin: User
    zed: User

    def by_role(self, role: str) -> User:
        return {"admin": self.alice, "member": self.bob, "deployer": self.carol, "viewer": self.dave}[role]
