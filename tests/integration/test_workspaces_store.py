"""The workspace store on DynamoDB (moto): last-admin protection under concurrency, and the list of
every workspace the local platform restores."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from chalicelib.adapters.dynamo.schema import create_table
from chalicelib.adapters.workspaces_store import DynamoWorkspaceStore
from chalicelib.domain.accounts import Workspace
from chalicelib.domain.errors import Conflict
from chalicelib.domain.ids import new_id, utcnow
from chalicelib.domain.policy import Access, Action
from chalicelib.domain.reconcile import every_workspace
from chalicelib.domain.workspaces import LastAdmin, Member, Roster, RosterChange, WorkspaceService
from tests.support.principals import member_principal

TABLE = "railyard-test-workspaces"


class NoTokens:
    def revoke_of_user(self, workspace_id: str, user_id: str) -> list[str]:
        return []


class Interleaved(DynamoWorkspaceStore):
    """Both changes read the roster before either writes (the race), and their writes reach moto one
    at a time (moto undoes other threads' writes when it cancels a transaction: LOCAL_AWS_FACTS.md),
    so what decides is the roster condition, not moto's isolation."""

    def __init__(self, table: str, racers: int) -> None:
        super().__init__(table)
        self._read_together = threading.Barrier(racers, timeout=10)
        self._first_reads = racers
        self._lock = threading.Lock()

    def roster(self, workspace_id: str) -> Roster:
        found = super().roster(workspace_id)
        with self._lock:
            first = self._first_reads > 0
            self._first_reads -= 1
        if first:
            self._read_together.wait()
        return found

    def change(self, change: RosterChange) -> None:
        with self._lock:
            super().change(change)


@pytest.fixture
def store(aws: int) -> DynamoWorkspaceStore:
    create_table(TABLE)
    return DynamoWorkspaceStore(TABLE)


def _workspace_with_admins(store: DynamoWorkspaceStore, *admins: str) -> str:
    now = "2026-12-01T12:00:00.000Z"
    workspace = Workspace(new_id("ws"), "acme", admins[0], now)
    store.create(workspace, Member(workspace.id, admins[0], "admin", now, f"{admins[0]}@example.com"))
    for other in admins[1:]:
        roster = store.roster(workspace.id)
        store.change(
            RosterChange(workspace.id, roster.version, put=(Member(workspace.id, other, "admin", now),))
        )
    return workspace.id


def _as_admin(user_id: str, workspace_id: str) -> Access:
    return Access(
        member_principal(user_id, f"{user_id}@example.com", {workspace_id: "admin"}), Action.MANAGE_MEMBERS
    )


def test_two_admins_demoting_each_other_at_once_leave_exactly_one_admin(store: DynamoWorkspaceStore) -> None:
    workspace_id = _workspace_with_admins(store, "usr_a", "usr_b")
    racing = WorkspaceService(Interleaved(TABLE, racers=2), NoTokens(), utcnow, new_id)

    def demote(caller: str, target: str) -> Any:
        try:
            return racing.change_role(_as_admin(caller, workspace_id), workspace_id, target, "member")
        except Conflict as error:
            return error

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(demote, ["usr_a", "usr_b"], ["usr_b", "usr_a"]))

    assert sorted(type(o).__name__ for o in outcomes) == ["LastAdmin", "Member"]
    roster = store.roster(workspace_id)
    assert roster.admins() == 1 and roster.version == 3  # created (1), b added (2), one demotion (3)


def test_two_admins_leaving_at_once_leave_exactly_one_admin(store: DynamoWorkspaceStore) -> None:
    workspace_id = _workspace_with_admins(store, "usr_a", "usr_b")
    racing = WorkspaceService(Interleaved(TABLE, racers=2), NoTokens(), utcnow, new_id)

    def leave(user: str) -> Any:
        try:
            return racing.remove(_as_admin(user, workspace_id), workspace_id, user)
        except Conflict as error:
            return error

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(leave, ["usr_a", "usr_b"]))

    assert sorted(type(o).__name__ for o in outcomes) == ["LastAdmin", "list"]
    assert [m.role for m in store.roster(workspace_id).members] == ["admin"]


def test_a_stale_roster_write_is_refused_and_changes_nothing(store: DynamoWorkspaceStore) -> None:
    workspace_id = _workspace_with_admins(store, "usr_a")
    stale = store.roster(workspace_id)
    store.change(
        RosterChange(workspace_id, stale.version, put=(Member(workspace_id, "usr_c", "viewer", "t"),))
    )

    with pytest.raises(Conflict):
        store.change(RosterChange(workspace_id, stale.version, delete=(stale.member("usr_a"),)))

    assert store.roster(workspace_id).admins() == 1
    with pytest.raises(LastAdmin):
        WorkspaceService(store, NoTokens(), utcnow, new_id).remove(
            _as_admin("usr_a", workspace_id), workspace_id, "usr_a"
        )


def test_every_workspace_is_one_query_of_the_directory_and_the_local_default(
    store: DynamoWorkspaceStore,
) -> None:
    made = {_workspace_with_admins(store, f"usr_{n}") for n in range(3)}

    listed = every_workspace(store, "org_default")

    assert listed[0] == "org_default" and set(listed[1:]) == made and len(listed) == 4
