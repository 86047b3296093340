"""Users and what they sign in with: the account records a new user gets, the password policy, and
the `UserRegistry` every sign-in method (password, GitHub, the CLI's device flow) makes users through.

A new user always comes with a personal workspace of which they are the admin (docs/decisions/0021):
the user, their email claim, the workspace, the admin membership and their `Credentials` are written
in one transaction, so there is never a user without a workspace or an email claimed by nobody.

`Credentials` hold the sign-in secrets (an argon2id password hash, the sealed TOTP secret, hashes of
unused recovery codes) in their own record beside the user: views of a user never read it, so no
profile or list can leak them by accident.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from chalicelib.domain.accounts import FIRST_ADMIN_ROLE, Membership, User, Workspace, check_email
from chalicelib.domain.errors import BadRequest
from chalicelib.domain.ids import Clock, IdFactory, iso
from chalicelib.domain.models import Versioned

PASSWORD_MIN_LENGTH = 10
# argon2 hashes any length, but hashing a megabyte per sign-in attempt is a cheap denial of service.
PASSWORD_MAX_LENGTH = 256
NAME_MAX_LENGTH = 100
PERSONAL_WORKSPACE = "personal"  # when the email's local part makes no valid workspace name
_NOT_NAME = re.compile(r"[^a-z0-9-]+")


@dataclass(frozen=True)
class Credentials(Versioned):
    """How one user proves who they are. Never part of a response."""

    user_id: str
    password_hash: str | None = None  # argon2id (PHC string); None: signs in another way (GitHub)
    mfa_secret: str | None = None  # the TOTP secret, sealed (SecretBox); pending until mfa_enabled
    mfa_enabled: bool = False
    mfa_last_step: int = 0  # the TOTP time step last accepted: a code works once
    recovery_codes: tuple[str, ...] = ()  # SHA-256 of each unused recovery code
    version: int = 1


@dataclass(frozen=True)
class NewAccount:
    """Everything a new user is, written all or nothing."""

    user: User
    workspace: Workspace
    membership: Membership
    credentials: Credentials


@dataclass(frozen=True)
class WorkspaceRole:
    """One workspace of a user, as their profile shows it."""

    workspace_id: str
    name: str
    role: str


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...

    def verify(self, hashed: str | None, password: str) -> bool:
        """True when `password` matches `hashed`. With `hashed` None it still spends the time of
        one verification (against a dummy hash) and answers False: a sign-in for an unknown email
        takes as long as one with a wrong password."""
        ...

    def needs_rehash(self, hashed: str) -> bool: ...


class IdentityStore(Protocol):
    """Where users and their credentials live (chalicelib/adapters/identity_store.py)."""

    def create_account(self, account: NewAccount) -> None:
        """Write every record of `account` or none; Conflict when the email is taken."""
        ...

    def user_id_by_email(self, email: str) -> str | None: ...

    def get_user(self, user_id: str) -> User:
        """NotFound when there is no such user."""
        ...

    def save_user(self, user: User) -> None:
        """Conditioned on the version before `user.version` (Conflict otherwise)."""
        ...

    def get_credentials(self, user_id: str) -> Credentials:
        """NotFound when there is no such user."""
        ...

    def save_credentials(self, credentials: Credentials) -> None:
        """Conditioned on the version before `credentials.version` (Conflict otherwise)."""
        ...

    def memberships_of(self, user_id: str) -> list[Membership]: ...

    def get_workspaces(self, workspace_ids: Iterable[str]) -> list[Workspace]: ...


def check_password(password: str, email: str | None) -> str:
    """The password policy: long enough, not absurdly long, and not the email (nor its local part)."""
    if len(password) < PASSWORD_MIN_LENGTH:
        raise BadRequest(f"the password must be at least {PASSWORD_MIN_LENGTH} characters long")
    if len(password) > PASSWORD_MAX_LENGTH:
        raise BadRequest(f"the password must be at most {PASSWORD_MAX_LENGTH} characters long")
    if email is not None:
        lowered = password.strip().lower()
        if lowered in (email.lower(), email.lower().split("@", 1)[0]):
            raise BadRequest("the password must not be your email address")
    return password


def check_display_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned or len(cleaned) > NAME_MAX_LENGTH:
        raise BadRequest(f"the name must be 1 to {NAME_MAX_LENGTH} characters")
    return cleaned


def personal_workspace_name(email: str | None) -> str:
    """A workspace name (lowercase letters, digits, dashes) from the email's local part."""
    local = (email or "").split("@", 1)[0].lower()
    name = _NOT_NAME.sub("-", local).strip("-")[:32].strip("-")
    return name or PERSONAL_WORKSPACE


class Accounts:
    """The `UserRegistry` (chalicelib/domain/identity_ports.py) on an IdentityStore."""

    def __init__(self, store: IdentityStore, clock: Clock, ids: IdFactory) -> None:
        self._store = store
        self._clock = clock
        self._ids = ids

    def create_user(
        self,
        email: str | None,
        display_name: str,
        *,
        email_verified: bool,
        password_hash: str | None = None,
    ) -> str:
        address = check_email(email) if email is not None else None
        name = check_display_name(display_name or (address or "").split("@", 1)[0] or "user")
        now = iso(self._clock())
        user = User(self._ids("usr"), address, now, name=name, email_verified=email_verified)
        workspace = Workspace(self._ids("ws"), personal_workspace_name(address), user.id, now)
        self._store.create_account(
            NewAccount(
                user=user,
                workspace=workspace,
                membership=Membership(workspace.id, user.id, FIRST_ADMIN_ROLE, now),
                credentials=Credentials(user.id, password_hash=password_hash),
            )
        )
        return user.id

    def find_by_email(self, email: str) -> str | None:
        return self._store.user_id_by_email(email.strip().lower())

    def workspaces_of(self, user_id: str) -> list[WorkspaceRole]:
        """The user's workspaces and roles: one Query for the memberships, one batch read for names."""
        memberships = self._store.memberships_of(user_id)
        names = {w.id: w.name for w in self._store.get_workspaces(m.workspace_id for m in memberships)}
        return [
            WorkspaceRole(m.workspace_id, names.get(m.workspace_id, m.workspace_id), m.role)
            for m in memberships
        ]
