"""Callers for tests that call use cases directly (no HTTP): the local admin of a workspace, and a
signed-in user with roles in workspaces (what a session's access JWT `ws` claim gives)."""

from __future__ import annotations

from collections.abc import Mapping

from chalicelib.domain.policy import ALL_ACTIONS, ROLE_ACTIONS, Access, Action, Grant, Principal


def admin_of(workspace_id: str = "org_default") -> Principal:
    grant = Grant(workspace_id, ALL_ACTIONS)
    return Principal(kind="token", subject="tok_test", grants=(grant,), name="test")


def admin_access(workspace_id: str = "org_default", action: Action = Action.MANAGE) -> Access:
    """A caller allowed everything in `workspace_id` (the local platform's admin token)."""
    return Access(admin_of(workspace_id), action)


def member_principal(user_id: str, email: str, roles: Mapping[str, str]) -> Principal:
    """A signed-in user with `roles` ({workspace id: role}), as a session's access token says."""
    grants = tuple(Grant(workspace, ROLE_ACTIONS[role]) for workspace, role in roles.items())
    return Principal(kind="user", subject=user_id, grants=grants, name=email, user_id=user_id)
