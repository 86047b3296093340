"""Who may do what to which resource: the one policy function every route goes through.

A `Principal` is an authenticated caller: a signed-in user (an access JWT whose claims carry the
user's workspace roles) or an API token (a hashed record carrying its scope and actions). Each gives
the principal `Grant`s: a workspace, optionally narrowed to a project, an environment or a service,
and the actions allowed there. A `Resource` says where the thing acted on lives (its workspace, and
project / environment / service when it has them), read from the item itself, so checking a request
costs no read beyond the item the request needs anyway.

`decide(principal, action, resource)` answers:
- ALLOW when a grant covering the resource allows the action;
- FORBIDDEN (403) when the principal may see the resource but not do this to it;
- HIDDEN (404) when no grant lets the principal see it: a caller learns nothing about resources of
  other workspaces or outside its token's scope, not even that they exist.

Roles are Railway's: admin (everything), member (everything but the workspace's people and audit),
deployer (see, read logs, deploy), viewer (see, read logs). A token's actions are a subset of what its
issuer's role allowed when it was created.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum, StrEnum

from chalicelib.domain.errors import BadRequest, Forbidden, NotFound


class Action(StrEnum):
    READ = "read"  # see projects, environments, services, deployments, releases, domains
    READ_LOGS = "read-logs"
    DEPLOY = "deploy"  # deploy, redeploy, roll back, cancel, run a cron job now
    READ_VARIABLES = "read-variables"  # names and values of ordinary variables (never sealed values)
    WRITE_VARIABLES = "write-variables"
    MANAGE = "manage"  # create and change projects, environments, services, settings, domains
    MANAGE_TOKENS = "manage-tokens"  # create, list and revoke API tokens within one's own scope
    MANAGE_MEMBERS = "manage-members"  # invite, change roles, remove, transfer ownership
    READ_AUDIT = "read-audit"


ALL_ACTIONS: frozenset[Action] = frozenset(Action)
_VIEW = frozenset({Action.READ, Action.READ_LOGS})

ROLE_ACTIONS: dict[str, frozenset[Action]] = {
    "admin": ALL_ACTIONS,
    "member": ALL_ACTIONS - {Action.MANAGE_MEMBERS, Action.READ_AUDIT},
    "deployer": _VIEW | {Action.DEPLOY},
    "viewer": _VIEW,
}
ROLES = tuple(ROLE_ACTIONS)  # most powerful first


def parse_actions(names: Iterable[str]) -> frozenset[Action]:
    """Action names as a token stores or a user types them; "*" is every action."""
    actions: set[Action] = set()
    for name in names:
        if name == "*":
            return ALL_ACTIONS
        try:
            actions.add(Action(name))
        except ValueError:
            known = ", ".join(a.value for a in Action)
            raise BadRequest(f"unknown action {name!r}; actions are: {known}") from None
    return frozenset(actions)


@dataclass(frozen=True)
class Resource:
    """Where the thing acted on lives. `kind` and `id` name it in a 404's message."""

    kind: str
    id: str
    workspace_id: str
    project_id: str | None = None
    environment_id: str | None = None
    service_id: str | None = None


@dataclass(frozen=True)
class Grant:
    """Actions allowed on a workspace, or on one project / environment / service of it."""

    workspace_id: str
    actions: frozenset[Action]
    project_id: str | None = None
    environment_id: str | None = None
    service_id: str | None = None

    def covers(self, resource: Resource) -> bool:
        """A grant covers its own scope and everything below it, nothing above or beside it."""
        if resource.workspace_id != self.workspace_id:
            return False
        for granted, asked in (
            (self.project_id, resource.project_id),
            (self.environment_id, resource.environment_id),
            (self.service_id, resource.service_id),
        ):
            if granted is not None and granted != asked:
                return False
        return True


@dataclass(frozen=True)
class Principal:
    """An authenticated caller. `kind` is "user", "token" or "anonymous" (public routes only)."""

    kind: str
    subject: str  # the user id, or the token id
    grants: tuple[Grant, ...] = ()
    name: str = ""  # for people and the audit log: an email, or a token's name
    user_id: str | None = None  # the user, or the user a token was issued by
    token_id: str | None = None
    session_id: str | None = None  # a user session's refresh-token family

    @property
    def workspace_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(g.workspace_id for g in self.grants))

    def default_workspace(self) -> str:
        """The workspace meant when a request names none: the caller's only one."""
        workspaces = self.workspace_ids
        if len(workspaces) != 1:
            raise BadRequest(
                "you belong to several workspaces (or none): name one with 'workspaceId'"
                if workspaces
                else "you belong to no workspace: create one with `railyard workspace create`"
            )
        return workspaces[0]


ANONYMOUS = Principal(kind="anonymous", subject="anonymous")


class Decision(Enum):
    ALLOW = "allow"
    FORBIDDEN = "forbidden"
    HIDDEN = "hidden"


def decide(principal: Principal, action: Action, resource: Resource) -> Decision:
    covering = [g for g in principal.grants if g.covers(resource)]
    if any(action in g.actions for g in covering):
        return Decision.ALLOW
    if any(Action.READ in g.actions for g in covering):
        return Decision.FORBIDDEN
    return Decision.HIDDEN


def require(principal: Principal, action: Action, resource: Resource) -> None:
    decision = decide(principal, action, resource)
    if decision is Decision.HIDDEN:
        raise NotFound(f"{resource.kind} {resource.id} not found")
    if decision is Decision.FORBIDDEN:
        raise Forbidden(f"you may not {action.value} on {resource.kind} {resource.id}")


@dataclass(frozen=True)
class Access:
    """What a use case gets from its route: who is calling and the action the route performs.

    A use case loads the item it needs (one read) and calls `require` with that item's resource;
    no use case compares roles or workspace ids itself."""

    principal: Principal
    action: Action
    extra: dict[str, str] = field(default_factory=dict, compare=False)  # source IP, user agent
    # Every resource a check was asked about, in order: the audit log names the last one.
    checked: list[Resource] = field(default_factory=list, compare=False)

    def require(self, resource: Resource, action: Action | None = None) -> None:
        self.checked.append(resource)
        require(self.principal, action or self.action, resource)

    def sees(self, resource: Resource) -> bool:
        return decide(self.principal, Action.READ, resource) is not Decision.HIDDEN
