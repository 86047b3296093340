"""API tokens people make for CI and scripts: create (shown once), list, revoke.

A token is scoped to a workspace, or narrowed to a project, an environment or a service of it, and
carries a list of actions (chalicelib/domain/policy.py). Making one is itself an action
(MANAGE_TOKENS) on that scope, and every action it carries must be one its creator may do there
now (`policy.decide` per action): a deployer cannot mint a manage-tokens token, and a token cannot
mint one broader than itself (a service-scoped token cannot even name its workspace: 404).
Scope ids must exist and belong to the workspace (404 otherwise, as for any resource one cannot see).
Every token may also READ its scope (a token that deploys a service sees it, and gets 403, not 404,
for what else it may not do there).

The secret (`ry_...`) is returned once; the table keeps only its SHA-256 (the item AuthService
reads) and a pointer from the token's id to it, so `DELETE /v1/tokens/{id}` finds it. A revoked
token is deleted at once; a container that cached it believes it at most AuthService's cache window
(30 s) longer, the one that revoked it forgets it at once. Creation is rate limited per caller.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from chalicelib.domain.accounts import MemberToken, new_token
from chalicelib.domain.authentication import hash_token
from chalicelib.domain.errors import BadRequest, NotFound
from chalicelib.domain.identity_ports import RateLimiter
from chalicelib.domain.ids import Clock, IdFactory, iso
from chalicelib.domain.models import ApiToken
from chalicelib.domain.policy import ALL_ACTIONS, Access, Action, Decision, Resource, decide, parse_actions
from chalicelib.domain.ports import Repository
from chalicelib.domain.resources import ResourceOf, project_resource, workspace_resource

DEFAULT_TOKEN_SECONDS = 90 * 86400  # a token without `expiresIn` lasts 90 days
MAX_TOKEN_SECONDS = 366 * 86400
MIN_TOKEN_SECONDS = 60
CREATE_LIMIT = 10  # tokens one caller may create per window
CREATE_WINDOW_SECONDS = 60
_DURATION = re.compile(r"^(\d{1,9})([smhd]?)$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str | int, what: str = "duration") -> int:
    """Seconds in `30d`, `12h`, `15m`, `90s` or a plain number of seconds."""
    match = _DURATION.match(str(text).strip().lower())
    if match is None:
        raise BadRequest(f"{what} {text!r} is not a duration like 30d, 12h, 15m or 3600 (seconds)")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


@dataclass(frozen=True)
class IssuedToken:
    """A token as its workspace sees it (never its secret; the hash stays in the adapter's hands)."""

    id: str
    token_hash: str
    workspace_id: str
    name: str
    actions: tuple[str, ...]
    created_at: str
    created_by: str | None = None  # the user who made it (directly, or through one of their tokens)
    project_id: str | None = None
    environment_id: str | None = None
    service_id: str | None = None
    expires_at: str | None = None
    last_used_at: str | None = None

    def resource(self) -> Resource:
        return Resource(
            "token", self.id, self.workspace_id, self.project_id, self.environment_id, self.service_id
        )


class TokenStore(Protocol):
    def add(self, token: ApiToken) -> None:
        """The token item and its id pointer, both new, in one write."""
        ...

    def tokens_of(self, workspace_id: str) -> list[IssuedToken]: ...

    def by_id(self, token_id: str) -> IssuedToken:
        """NotFound when no such token (or it was revoked)."""
        ...

    def delete(self, token: IssuedToken) -> None:
        """The token item and its pointer (no error when already gone)."""
        ...


class TokenCache(Protocol):
    def forget(self, token_hash: str) -> None: ...


@dataclass(frozen=True)
class TokenRequest:
    name: str
    actions: Sequence[str]
    project_id: str | None = None
    environment_id: str | None = None
    service_id: str | None = None
    expires_in: str | int | None = None  # a duration (30d); None: DEFAULT_TOKEN_SECONDS


@dataclass
class ApiTokenService:
    store: TokenStore
    repo: Repository
    cache: TokenCache
    limiter: RateLimiter
    clock: Clock
    ids: IdFactory
    secret: Callable[[], str] = field(default=new_token)
    create_limit: int = CREATE_LIMIT
    create_window: int = CREATE_WINDOW_SECONDS

    def create(self, who: Access, workspace_id: str, request: TokenRequest) -> tuple[IssuedToken, str]:
        scope = self._scope(workspace_id, request)
        who.require(scope)  # MANAGE_TOKENS on the scope the new token gets
        self.limiter.hit(f"token-create:{who.principal.subject}", self.create_limit, self.create_window)
        name = request.name.strip()
        if not 1 <= len(name) <= 64:
            raise BadRequest("a token's name must be 1-64 characters")
        if not request.actions:
            raise BadRequest("a token needs at least one action")
        # Every token sees what it is scoped to: one that may deploy a service can read it too.
        wanted = parse_actions(request.actions) | {Action.READ}
        for action in sorted(wanted):  # each must be the creator's to give, on this scope
            if decide(who.principal, action, scope) is not Decision.ALLOW:
                who.require(scope, action)  # raises the 403 naming the action
        seconds = DEFAULT_TOKEN_SECONDS
        if request.expires_in is not None:
            seconds = parse_duration(request.expires_in, "expiresIn")
        if not MIN_TOKEN_SECONDS <= seconds <= MAX_TOKEN_SECONDS:
            raise BadRequest(
                f"expiresIn must be between {MIN_TOKEN_SECONDS} s and {MAX_TOKEN_SECONDS // 86400} days"
            )
        now = self.clock()
        secret = self.secret()
        fields = {
            "token_hash": hash_token(secret),
            "org_id": workspace_id,
            "name": name,
            "scopes": ("*",) if wanted == ALL_ACTIONS else tuple(sorted(a.value for a in wanted)),
            "created_at": iso(now),
            "id": self.ids("tok"),
            "project_id": scope.project_id,
            "environment_id": scope.environment_id,
            "service_id": scope.service_id,
            "expires_at": iso(now + timedelta(seconds=seconds)),
        }
        user_id = who.principal.user_id
        token = MemberToken(**fields, user_id=user_id) if user_id else ApiToken(**fields)  # type: ignore[arg-type]
        self.store.add(token)
        who.checked.append(_issued(token, user_id).resource())
        return _issued(token, user_id), secret

    def list_tokens(self, who: Access, workspace_id: str) -> list[IssuedToken]:
        """The workspace's tokens the caller may manage (a project-scoped manager sees its project's)."""
        tokens = self.store.tokens_of(workspace_id)
        visible = [
            t for t in tokens if decide(who.principal, Action.MANAGE_TOKENS, t.resource()) is Decision.ALLOW
        ]
        if not visible:  # nothing to show: 404 / 403 unless the caller may manage the workspace's tokens
            who.require(workspace_resource(workspace_id))
        return sorted(visible, key=lambda t: t.id, reverse=True)

    def revoke(self, who: Access, token_id: str) -> IssuedToken:
        token = self.store.by_id(token_id)
        who.require(token.resource())
        self.store.delete(token)
        self.cache.forget(token.token_hash)
        return token

    def revoke_of_user(self, workspace_id: str, user_id: str) -> list[str]:
        """Revokes every token `user_id` created in the workspace (they left it)."""
        gone = [t for t in self.store.tokens_of(workspace_id) if t.created_by == user_id]
        for token in gone:
            self.store.delete(token)
            self.cache.forget(token.token_hash)
        return [t.id for t in gone]

    def _scope(self, workspace_id: str, request: TokenRequest) -> Resource:
        """The narrowest resource the request names, checked to exist in the workspace."""
        resources = ResourceOf(self.repo)
        try:
            if request.service_id:
                scope = resources.service(self.repo.get_service(request.service_id))
            elif request.environment_id:
                scope = resources.environment(self.repo.get_environment(request.environment_id))
            elif request.project_id:
                scope = project_resource(self.repo.get_project(request.project_id))
            else:
                return workspace_resource(workspace_id)
        except NotFound:
            scope = None
        named = request.service_id or request.environment_id or request.project_id
        if scope is None or scope.workspace_id != workspace_id:
            kind = "service" if request.service_id else "environment" if request.environment_id else "project"
            raise NotFound(f"{kind} {named} not found in workspace {workspace_id}")
        for asked, found, kind in (
            (request.project_id, scope.project_id, "project"),
            (request.environment_id, scope.environment_id, "environment"),
        ):
            if asked and asked != found:
                raise BadRequest(f"{scope.kind} {scope.id} is not in {kind} {asked}")
        return scope


def _issued(token: ApiToken, user_id: str | None) -> IssuedToken:
    return IssuedToken(
        id=token.id,
        token_hash=token.token_hash,
        workspace_id=token.org_id,
        name=token.name,
        actions=token.scopes,
        created_at=token.created_at,
        created_by=user_id,
        project_id=token.project_id,
        environment_id=token.environment_id,
        service_id=token.service_id,
        expires_at=token.expires_at,
    )
