"""Callers for tests that call use cases directly (no HTTP): the local admin of a workspace."""

from __future__ import annotations

from chalicelib.domain.policy import ALL_ACTIONS, Access, Action, Grant, Principal


def admin_of(workspace_id: str = "org_default") -> Principal:
    grant = Grant(workspace_id, ALL_ACTIONS)
    return Principal(kind="token", subject="tok_test", grants=(grant,), name="test")


def admin_access(workspace_id: str = "org_default", action: Action = Action.MANAGE) -> Access:
    """A caller allowed everything in `workspace_id` (the local platform's admin token)."""
    return Access(admin_of(workspace_id), action)
