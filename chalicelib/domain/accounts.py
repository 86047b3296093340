"""Accounts: workspaces, users, memberships and member tokens, and the first admin of an install.

A new install (an empty table in a fresh AWS account) has no token, so nobody can call its API.
`FirstAdminBootstrap` makes the one workspace, its admin user, the membership tying them and a
token for that member, in one all-or-nothing write that also records the install's `Installation`
(who was first, when). That record is written only if none exists, in the same write, so two
bootstraps racing each other cannot both win, and a second run refuses without changing anything.

The shapes are the ones issue 10 (teams, roles, scoped tokens) builds on (docs/decisions/0017):
- a `Workspace` is what the API calls the org: its id is the `org_id` every project and token
  carries, so the first admin's token can create projects at once through today's AuthService;
- a `Membership` gives a `User` one role per workspace (ROLES); the first admin's is "admin" and the
  workspace names its owner;
- a `MemberToken` is an ApiToken (stored and read exactly where today's tokens are, as a SHA-256)
  that also names the member it was issued to; readers that know only ApiToken drop that field.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from chalicelib.domain.authentication import hash_token
from chalicelib.domain.errors import BadRequest, Conflict, NotFound
from chalicelib.domain.ids import Clock, IdFactory, iso
from chalicelib.domain.models import ApiToken, Versioned
from chalicelib.domain.projects import check_name

# Issue 10's roles, most powerful first. The first admin is an "admin" and the workspace's owner.
ROLES = ("admin", "member", "deployer", "viewer")
FIRST_ADMIN_ROLE = "admin"
# Today every token may do everything (AuthService checks no scope yet); issue 10 narrows tokens to
# an action list and a resource, and a workspace admin's token keeps "*" on its workspace.
ALL_ACTIONS = ("*",)
DEFAULT_WORKSPACE = "default"
TOKEN_PREFIX = "ry_"  # as the local platform's tokens: recognisable in a leaked-secret scan
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s.]{2,}$")


@dataclass(frozen=True)
class Workspace(Versioned):
    """A tenant. `id` is the `org_id` of its projects and tokens."""

    id: str
    name: str
    owner_user_id: str
    created_at: str
    version: int = 1


@dataclass(frozen=True)
class User(Versioned):
    """A person. The email, when given, is unique across the install (the adapter reserves it in the
    same write). How they sign in (password, MFA) is their `Credentials` (chalicelib/domain/
    identity.py), a separate record no view of the user ever reads."""

    id: str
    email: str | None
    created_at: str
    version: int = 1
    name: str = ""  # what people see; defaults to the email's local part
    email_verified: bool = False  # True when a provider (GitHub) vouched for it


@dataclass(frozen=True)
class Membership(Versioned):
    """A user's role in one workspace."""

    workspace_id: str
    user_id: str
    role: str
    created_at: str
    version: int = 1

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise BadRequest(f"role {self.role!r} is not one of {', '.join(ROLES)}")


@dataclass(frozen=True, kw_only=True)
class MemberToken(ApiToken):
    """A token issued to a member of the workspace `org_id`, acting with that member's role."""

    user_id: str


@dataclass(frozen=True)
class Installation(Versioned):
    """The one record saying this install has its first admin (and who, and since when)."""

    bootstrapped_at: str
    workspace_id: str
    workspace_name: str
    user_id: str
    email: str | None
    token_name: str
    version: int = 1


@dataclass(frozen=True)
class FirstAdmin:
    """Everything the bootstrap writes, in one transaction."""

    installation: Installation
    workspace: Workspace
    user: User
    membership: Membership
    token: MemberToken


@dataclass(frozen=True)
class Bootstrapped:
    first_admin: FirstAdmin
    token: str  # the bearer token itself: shown once, never stored (only its hash is)


class AlreadyBootstrapped(Conflict):
    """The install has its first admin already; nothing was written."""

    def __init__(self, installation: Installation) -> None:
        self.installation = installation
        who = installation.email or installation.user_id
        super().__init__(
            f"already bootstrapped on {installation.bootstrapped_at} (workspace "
            f"{installation.workspace_name}, {installation.workspace_id}; admin {who}): its token "
            f"'{installation.token_name}' was shown once then. Log in with it; nothing was changed"
        )


class AccountStore(Protocol):
    """Where accounts live (the platform's table)."""

    def get_installation(self) -> Installation | None: ...

    def create_first_admin(self, first: FirstAdmin) -> None:
        """Write every record of `first`, or none. Raises AlreadyBootstrapped (with the stored
        Installation) when an installation exists at the moment of the write, and Conflict when
        another record already exists (an email taken)."""
        ...

    def add_token(self, token: MemberToken) -> None:
        """Store one more token (Conflict if its hash exists: never, for a random token)."""
        ...


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def check_email(email: str) -> str:
    normalized = email.strip().lower()
    if not _EMAIL.match(normalized) or len(normalized) > 254:
        raise BadRequest(f"{email!r} is not an email address")
    return normalized


class FirstAdminBootstrap:
    """Makes an install's first workspace and its admin, once."""

    def __init__(
        self, store: AccountStore, clock: Clock, ids: IdFactory, secret: Callable[[], str] = new_token
    ) -> None:
        self._store = store
        self._clock = clock
        self._ids = ids
        self._secret = secret

    def run(self, workspace_name: str = DEFAULT_WORKSPACE, email: str | None = None) -> Bootstrapped:
        name = check_name("workspace", workspace_name)
        address = check_email(email) if email is not None else None
        # A cheap early answer that writes nothing; the write below re-checks it atomically.
        existing = self._store.get_installation()
        if existing is not None:
            raise AlreadyBootstrapped(existing)
        now = iso(self._clock())
        user = User(self._ids("usr"), address, now)
        workspace = Workspace(self._ids("ws"), name, user.id, now)
        token = self._secret()
        token_name = f"first admin of {name}"
        first = FirstAdmin(
            installation=Installation(now, workspace.id, name, user.id, address, token_name),
            workspace=workspace,
            user=user,
            membership=Membership(workspace.id, user.id, FIRST_ADMIN_ROLE, now),
            token=MemberToken(
                token_hash=hash_token(token),
                org_id=workspace.id,
                name=token_name,
                scopes=ALL_ACTIONS,
                created_at=now,
                user_id=user.id,
            ),
        )
        self._store.create_first_admin(first)
        return Bootstrapped(first, token)


class BreakGlassToken:
    """A new token for the install's first admin, for an operator holding the AWS account (who
    could write one into the table anyway) when the bootstrap's token is lost. It makes no admin:
    the first admin and workspace stay as they are, and earlier tokens keep working."""

    def __init__(self, store: AccountStore, clock: Clock, secret: Callable[[], str] = new_token) -> None:
        self._store = store
        self._clock = clock
        self._secret = secret

    def issue(self) -> tuple[Installation, str]:
        installation = self._store.get_installation()
        if installation is None:
            raise NotFound("this install has no first admin yet: run `railyard admin bootstrap` first")
        now = iso(self._clock())
        token = self._secret()
        self._store.add_token(
            MemberToken(
                token_hash=hash_token(token),
                org_id=installation.workspace_id,
                name=f"break-glass token of {installation.workspace_name}, {now}",
                scopes=ALL_ACTIONS,
                created_at=now,
                user_id=installation.user_id,
            )
        )
        return installation, token
