"""Routes for workspaces, their members and invitations (chalicelib/domain/workspaces.py).

Creating a workspace and accepting an invitation act on no existing workspace, so their routes'
action is READ (every signed-in caller has it somewhere) and the use case itself refuses API
tokens: only a signed-in user becomes an admin or a member. Invitations are not idempotent routes on
purpose: a replayed answer would be stored, secret included, in the idempotency record.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint
from pydantic import Field

from chalicelib.api.routing import Context, route
from chalicelib.api.schemas import _Body, parse
from chalicelib.domain.accounts import Workspace
from chalicelib.domain.policy import Action
from chalicelib.domain.workspaces import Member, WorkspaceView

bp = Blueprint(__name__)


class WorkspaceCreate(_Body):
    name: str = Field(min_length=1, max_length=32)


class InvitationCreate(_Body):
    email: str = Field(min_length=3, max_length=254)
    role: str = Field(default="member", max_length=16)


class InvitationAccept(_Body):
    token: str = Field(min_length=8, max_length=256)


class MemberPatch(_Body):
    role: str = Field(max_length=16)


class OwnershipTransfer(_Body):
    userId: str = Field(min_length=1, max_length=64)


def workspace_view(workspace: Workspace | WorkspaceView, role: str | None = None) -> dict[str, Any]:
    if isinstance(workspace, WorkspaceView):
        return {
            "id": workspace.id,
            "name": workspace.name,
            "role": workspace.role,
            "ownerUserId": workspace.owner_user_id,
        }
    return {"id": workspace.id, "name": workspace.name, "role": role, "ownerUserId": workspace.owner_user_id}


def member_view(member: Member) -> dict[str, Any]:
    return {
        "userId": member.user_id,
        "email": member.email,
        "role": member.role,
        "joinedAt": member.created_at,
    }


@route(
    bp,
    "/v1/workspaces",
    "POST",
    request_model=WorkspaceCreate,
    status=201,
    action=Action.READ,
    people_only=True,
)
def create_workspace(ctx: Context) -> tuple[int, Any]:
    """Create a workspace; the signed-in caller becomes its admin (API tokens cannot)."""
    workspace, admin = ctx.c.workspaces.create(ctx.who, parse(WorkspaceCreate, ctx.body).name)
    return 201, {"workspace": workspace_view(workspace, admin.role), "member": member_view(admin)}


@route(bp, "/v1/workspaces", action=Action.READ)
def list_workspaces(ctx: Context) -> tuple[int, Any]:
    """The caller's workspaces and its role in each."""
    return 200, {"workspaces": [workspace_view(w) for w in ctx.c.workspaces.list_mine(ctx.who)]}


@route(bp, "/v1/workspaces/{workspace_id}/members", action=Action.READ)
def list_members(ctx: Context, workspace_id: str) -> tuple[int, Any]:
    """Members of a workspace with their roles."""
    roster = ctx.c.workspaces.members(ctx.who, workspace_id)
    return 200, {"members": [member_view(m) for m in roster.members]}


@route(
    bp,
    "/v1/workspaces/{workspace_id}/members/{user_id}",
    "PATCH",
    request_model=MemberPatch,
    action=Action.MANAGE_MEMBERS,
)
def change_role(ctx: Context, workspace_id: str, user_id: str) -> tuple[int, Any]:
    """Change a member's role (409 LastAdmin if it would leave no admin)."""
    member = ctx.c.workspaces.change_role(ctx.who, workspace_id, user_id, parse(MemberPatch, ctx.body).role)
    return 200, {"member": member_view(member)}


@route(bp, "/v1/workspaces/{workspace_id}/members/{user_id}", "DELETE", action=Action.MANAGE_MEMBERS)
def remove_member(ctx: Context, workspace_id: str, user_id: str) -> tuple[int, Any]:
    """Remove a member, or leave (your own user id); revokes their API tokens in the workspace."""
    revoked = ctx.c.workspaces.remove(ctx.who, workspace_id, user_id)
    return 200, {"removed": user_id, "revokedTokens": revoked}


@route(
    bp,
    "/v1/workspaces/{workspace_id}/transfer",
    "POST",
    request_model=OwnershipTransfer,
    action=Action.MANAGE_MEMBERS,
)
def transfer_ownership(ctx: Context, workspace_id: str) -> tuple[int, Any]:
    """Make a member the workspace's owner (and an admin)."""
    member = ctx.c.workspaces.transfer(ctx.who, workspace_id, parse(OwnershipTransfer, ctx.body).userId)
    return 200, {"owner": member_view(member)}


@route(
    bp,
    "/v1/workspaces/{workspace_id}/invitations",
    "POST",
    request_model=InvitationCreate,
    status=201,
    action=Action.MANAGE_MEMBERS,
)
def invite(ctx: Context, workspace_id: str) -> tuple[int, Any]:
    """Invite an email address with a role; the invitation token is shown only in this answer."""
    body = parse(InvitationCreate, ctx.body)
    invitation, secret = ctx.c.workspaces.invite(ctx.who, workspace_id, body.email, body.role)
    view = {
        "id": invitation.id,
        "email": invitation.email,
        "role": invitation.role,
        "expiresAt": invitation.expires_at,
    }
    return 201, {"invitation": view, "token": secret, "accept": "railyard workspace join <token>"}


@route(
    bp,
    "/v1/invitations/accept",
    "POST",
    request_model=InvitationAccept,
    action=Action.READ,
    people_only=True,
)
def accept_invitation(ctx: Context) -> tuple[int, Any]:
    """Join the workspace of an invitation sent to your email (your session shows it after a refresh)."""
    member = ctx.c.workspaces.accept(ctx.who, parse(InvitationAccept, ctx.body).token)
    return 200, {"member": member_view(member), "workspaceId": member.workspace_id}
