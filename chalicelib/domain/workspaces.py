"""Workspaces and their people: creating one, members and their roles, invitations, ownership.

Roles are the policy's (chalicelib/domain/policy.py ROLE_ACTIONS: admin, member, deployer, viewer).
A signed-in user who creates a workspace is its admin and owner; an API token never creates one.

Last-admin protection: a workspace that has an admin always keeps one. Every change of members
(a role, a removal, an accepted invitation, a transfer) reads the workspace's members with ONE
strongly consistent Query of its item collection, which also returns the collection's `ROSTER` item
and its version, decides on that, then writes the member items together with the roster item bumped
and conditioned on the version it read, in one transaction. Two admins demoting each other at the
same moment both read version N; the first write makes it N+1, the second is cancelled on its
condition, reads again, sees one admin left and answers 409 LastAdmin.

Roles reach a user's session at its next refresh: the access JWT carries the user's
{workspace: role} (its `ws` claim, issued by sign-in) and is verified without reading the table, so
a changed or removed membership takes effect within the access token's lifetime (15 minutes). A
removed member's API tokens in that workspace are revoked at once (within the token cache's 30 s).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Protocol

from chalicelib.domain.accounts import ROLES, Workspace, check_email, new_token
from chalicelib.domain.authentication import hash_token
from chalicelib.domain.errors import BadRequest, Conflict, Forbidden, NotFound
from chalicelib.domain.ids import Clock, IdFactory, iso, parse_iso
from chalicelib.domain.policy import Access, Action, Principal
from chalicelib.domain.projects import check_name
from chalicelib.domain.resources import workspace_resource

ADMIN = "admin"
INVITATION_DAYS = 7
CHANGE_ATTEMPTS = 4  # re-read and re-decide this often when a concurrent change of members won


class LastAdmin(Conflict):
    """The change would leave a workspace without an admin (409)."""


class RosterChanged(Conflict):
    """Another change of the workspace's members was written since they were read (retried)."""


@dataclass(frozen=True)
class Member:
    """A user's role in a workspace, with the email shown in member lists (copied when they join,
    so listing members is one Query)."""

    workspace_id: str
    user_id: str
    role: str
    created_at: str
    email: str | None = None
    version: int = 1

    def bumped(self, **changes: object) -> Member:
        return replace(self, version=self.version + 1, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Roster:
    """A workspace's members as one strongly consistent read, and the version of the roster item
    that every change of members is conditioned on (0: no change was ever written through it)."""

    workspace_id: str
    workspace: Workspace | None  # None: no record (the local platform's default workspace has none)
    members: tuple[Member, ...]
    version: int

    def member(self, user_id: str) -> Member:
        for member in self.members:
            if member.user_id == user_id:
                return member
        raise NotFound(f"user {user_id} is not a member of workspace {self.workspace_id}")

    def admins(self) -> int:
        return sum(1 for m in self.members if m.role == ADMIN)


@dataclass(frozen=True)
class Invitation:
    """An invitation to join a workspace with a role; its secret is shown once, stored hashed."""

    id: str
    token_hash: str
    workspace_id: str
    email: str
    role: str
    invited_by: str  # the inviter's principal subject (user id, or token id)
    created_at: str
    expires_at: str
    version: int = 1


@dataclass(frozen=True)
class RosterChange:
    """One all-or-nothing write of members, conditioned on the roster version it was decided on."""

    workspace_id: str
    expected_version: int
    put: tuple[Member, ...] = ()
    delete: tuple[Member, ...] = ()
    workspace: Workspace | None = None  # the workspace record changed too (its owner)
    consume: Invitation | None = None  # an invitation deleted in the same write


@dataclass(frozen=True)
class WorkspaceView:
    id: str
    name: str
    role: str | None  # the caller's role; None for an API token (its actions say what it may do)
    owner_user_id: str | None = None


class WorkspaceStore(Protocol):
    def create(self, workspace: Workspace, admin: Member) -> None:
        """The workspace, its first admin and its roster, all new, in one write."""
        ...

    def roster(self, workspace_id: str) -> Roster:
        """The workspace record, its members and roster version: one strongly consistent Query."""
        ...

    def memberships_of(self, user_id: str) -> list[Member]: ...

    def workspaces(self, workspace_ids: list[str]) -> dict[str, Workspace]:
        """The records of these workspaces that exist."""
        ...

    def change(self, change: RosterChange) -> None:
        """Raises RosterChanged when the roster's version is no longer `expected_version`, Conflict
        when another condition fails (a member added twice); writes nothing then."""
        ...

    def add_invitation(self, invitation: Invitation) -> None: ...

    def get_invitation(self, token_hash: str) -> Invitation: ...

    def all_workspace_ids(self) -> list[str]:
        """Every workspace of the install that has a record (the local platform restores them all)."""
        ...


class MemberTokens(Protocol):
    def revoke_of_user(self, workspace_id: str, user_id: str) -> list[str]:
        """Revoke the API tokens `user_id` created in the workspace; returns their ids."""
        ...


def check_role(role: str) -> str:
    if role not in ROLES:
        raise BadRequest(f"role {role!r} is not one of {', '.join(ROLES)}")
    return role


def _signed_in_user(principal: Principal, doing: str) -> str:
    if principal.kind != "user" or principal.user_id is None:
        raise Forbidden(f"{doing} needs a signed-in user (`railyard login`), not an API token")
    return principal.user_id


def guard_last_admin(roster: Roster, change: RosterChange) -> None:
    """Refuse a change after which a workspace that had an admin has none."""
    if roster.admins() == 0:
        return
    after = {m.user_id: m for m in roster.members}
    for gone in change.delete:
        after.pop(gone.user_id, None)
    for member in change.put:
        after[member.user_id] = member
    if not any(m.role == ADMIN for m in after.values()):
        raise LastAdmin(
            f"workspace {roster.workspace_id} must keep an admin: make another member admin first "
            "(`railyard workspace role <user> admin`), then retry"
        )


@dataclass
class WorkspaceService:
    store: WorkspaceStore
    tokens: MemberTokens
    clock: Clock
    ids: IdFactory
    secret: Callable[[], str] = field(default=new_token)

    # --- workspaces ----------------------------------------------------------------------------

    def create(self, who: Access, name: str) -> tuple[Workspace, Member]:
        """A new workspace whose admin and owner is the signed-in caller."""
        user_id = _signed_in_user(who.principal, "creating a workspace")
        now = iso(self.clock())
        workspace = Workspace(self.ids("ws"), check_name("workspace", name), user_id, now)
        admin = Member(workspace.id, user_id, ADMIN, now, email=who.principal.name or None)
        self.store.create(workspace, admin)
        who.checked.append(workspace_resource(workspace.id))  # the audit log files it there
        return workspace, admin

    def list_mine(self, who: Access) -> list[WorkspaceView]:
        """A user's workspaces with their role; a token's own workspace."""
        principal = who.principal
        if principal.kind == "user" and principal.user_id is not None:
            roles: dict[str, str | None] = {
                m.workspace_id: m.role for m in self.store.memberships_of(principal.user_id)
            }
        else:
            roles = dict.fromkeys(principal.workspace_ids)
        records = self.store.workspaces(list(roles))
        views = []
        for workspace_id, role in roles.items():
            record = records.get(workspace_id)
            name = record.name if record else workspace_id
            views.append(WorkspaceView(workspace_id, name, role, record.owner_user_id if record else None))
        return sorted(views, key=lambda v: (v.name, v.id))

    # --- members -------------------------------------------------------------------------------

    def members(self, who: Access, workspace_id: str) -> Roster:
        who.require(workspace_resource(workspace_id))
        return self.store.roster(workspace_id)

    def change_role(self, who: Access, workspace_id: str, user_id: str, role: str) -> Member:
        who.require(workspace_resource(workspace_id))
        check_role(role)

        def plan(roster: Roster) -> RosterChange:
            member = roster.member(user_id)
            if member.role == role:
                return RosterChange(workspace_id, roster.version)
            return RosterChange(workspace_id, roster.version, put=(member.bumped(role=role),))

        change = self._apply(workspace_id, plan)
        return change.put[0] if change.put else self.store.roster(workspace_id).member(user_id)

    def remove(self, who: Access, workspace_id: str, user_id: str) -> list[str]:
        """Removes a member (or the caller leaves) and revokes the member's API tokens there."""
        leaving = who.principal.kind == "user" and who.principal.user_id == user_id
        # Anyone who can see a workspace may leave it; removing someone else manages members.
        who.require(workspace_resource(workspace_id), Action.READ if leaving else None)
        self._apply(
            workspace_id,
            lambda roster: RosterChange(workspace_id, roster.version, delete=(roster.member(user_id),)),
        )
        return self.tokens.revoke_of_user(workspace_id, user_id)

    def transfer(self, who: Access, workspace_id: str, user_id: str) -> Member:
        """Makes a member the workspace's owner (and an admin if they were not)."""
        who.require(workspace_resource(workspace_id))

        def plan(roster: Roster) -> RosterChange:
            member = roster.member(user_id)
            put = () if member.role == ADMIN else (member.bumped(role=ADMIN),)
            record = roster.workspace
            moved = None
            if record is not None and record.owner_user_id != user_id:
                moved = replace(record, owner_user_id=user_id, version=record.version + 1)
            return RosterChange(workspace_id, roster.version, put=put, workspace=moved)

        change = self._apply(workspace_id, plan)
        return change.put[0] if change.put else self.store.roster(workspace_id).member(user_id)

    def _apply(self, workspace_id: str, plan: Callable[[Roster], RosterChange]) -> RosterChange:
        for attempt in range(1, CHANGE_ATTEMPTS + 1):
            roster = self.store.roster(workspace_id)
            change = plan(roster)
            guard_last_admin(roster, change)
            if not (change.put or change.delete or change.workspace or change.consume):
                return change
            try:
                self.store.change(change)
                return change
            except RosterChanged:
                if attempt == CHANGE_ATTEMPTS:
                    raise
        raise AssertionError("unreachable")

    # --- invitations ---------------------------------------------------------------------------

    def invite(self, who: Access, workspace_id: str, email: str, role: str) -> tuple[Invitation, str]:
        """An invitation for `email` with `role`; returns it and its secret (shown once)."""
        who.require(workspace_resource(workspace_id))
        now = self.clock()
        secret = self.secret()
        invitation = Invitation(
            id=self.ids("inv"),
            token_hash=hash_token(secret),
            workspace_id=workspace_id,
            email=check_email(email),
            role=check_role(role),
            invited_by=who.principal.subject,
            created_at=iso(now),
            expires_at=iso(now + timedelta(days=INVITATION_DAYS)),
        )
        self.store.add_invitation(invitation)
        return invitation, secret

    def accept(self, who: Access, secret: str) -> Member:
        """The signed-in user whose email the invitation names joins its workspace."""
        user_id = _signed_in_user(who.principal, "accepting an invitation")
        invitation = self.store.get_invitation(hash_token(secret))
        expires = parse_iso(invitation.expires_at)
        if expires is None or expires <= self.clock():
            raise NotFound(f"this invitation expired at {invitation.expires_at}: ask for a new one")
        if (who.principal.name or "").lower() != invitation.email:
            raise Forbidden("this invitation is for another email address")
        workspace_id = invitation.workspace_id
        member = Member(workspace_id, user_id, invitation.role, iso(self.clock()), email=invitation.email)

        def plan(roster: Roster) -> RosterChange:
            if any(m.user_id == user_id for m in roster.members):
                raise Conflict(f"you are a member of workspace {workspace_id} already")
            return RosterChange(workspace_id, roster.version, put=(member,), consume=invitation)

        self._apply(workspace_id, plan)
        who.checked.append(workspace_resource(workspace_id))
        return member
