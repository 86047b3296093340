"""DynamoDB adapter for the `WorkspaceStore` port (chalicelib/domain/workspaces.py), in the platform's
one table with dynamo/items.py's item shape (`kind`, `version`, JSON `body`, gsi1 keys) and the account
records' keys (chalicelib/adapters/accounts.py).

Item layout (adds to the tables of dynamo/__init__.py and accounts.py)
-------------------------------------------------------------
| entity     | pk                     | sk           | gsi1pk        | gsi1sk             | TTL       |
|------------|------------------------|--------------|---------------|--------------------|-----------|
| Workspace  | WORKSPACE#<id>         | WORKSPACE    | WORKSPACES    | WORKSPACE#<id>     | -         |
| roster     | WORKSPACE#<id>         | ROSTER       | -             | -                  | -         |
| Member     | WORKSPACE#<wid>        | MEMBER#<uid> | USER#<uid>    | MEMBER#<wid>       | -         |
| Invitation | INVITE#<sha256>        | INVITE       | -             | -                  | expiry    |

A workspace's record, its roster item and its members share the partition WORKSPACE#<id>: one
strongly consistent Query reads all three (what a change of members decides on). The roster item
holds only a version: every change of members bumps it under the condition that it is still the
version read (docs/decisions/0025). Workspaces this module creates carry gsi1 keys under the one
partition WORKSPACES, so "every workspace" is a Query, not a Scan (a few writes per workspace's
life: far below a partition's limits).

Access patterns
---------------
| access pattern              | method            | served by                                        |
|-----------------------------|-------------------|--------------------------------------------------|
| members of a workspace      | roster            | Query WORKSPACE#<id> (consistent)                |
| workspaces of a user        | memberships_of    | gsi1 USER#<uid> / MEMBER#...                     |
| workspace records by id     | workspaces        | BatchGetItem WORKSPACE#<id> / WORKSPACE          |
| every workspace             | all_workspace_ids | gsi1 WORKSPACES / WORKSPACE#...                  |
| create a workspace          | create            | TransactWriteItems: record, admin, roster (new)  |
| change members              | change            | TransactWriteItems conditioned on the roster     |
| invitation by secret        | get_invitation    | Get INVITE#<sha256> / INVITE                     |
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.dynamo.table import OnTable, _Table
from chalicelib.domain.accounts import Workspace
from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.ids import parse_iso
from chalicelib.domain.workspaces import Invitation, Member, Roster, RosterChange, RosterChanged

if TYPE_CHECKING:
    from pynamodb.expressions.condition import Condition
    from pynamodb.models import Model

WORKSPACE = "WORKSPACE"
WORKSPACES = "WORKSPACES"  # the gsi1pk every workspace record is listed under
ROSTER = "ROSTER"
MEMBER = "MEMBER"
USER = "USER"
INVITE = "INVITE"
_CONDITIONAL_CHECK_FAILED = "ConditionalCheckFailed"
_TRANSACTION_CONFLICT = "TransactionConflict"


@dataclass(frozen=True)
class Op:
    """One item of a transaction: put (with attributes) or delete, under a condition."""

    what: str  # how an error names it
    pk: str
    sk: str
    attributes: dict[str, Any] | None  # None: delete
    condition: Condition | None


def new_item() -> Condition:
    from pynamodb.expressions.operand import Path

    return Path("pk").does_not_exist()


def at_version(version: int) -> Condition:
    """The stored item is at `version` (0: there is none)."""
    from pynamodb.expressions.operand import Path

    return Path("pk").does_not_exist() if version == 0 else Path("version") == version


def body_of(entity: Any) -> dict[str, Any]:
    """An entity's attributes in dynamo/items.py's item shape: `version` on top, the rest in `body`."""
    body = dataclasses.asdict(entity)
    return {"version": body.pop("version"), "body": body}


def decode(cls: type[Any], item: Model) -> Any:
    """The entity an item holds; fields this code does not know are dropped (a newer writer's)."""
    values = item.attribute_values
    known = {f.name for f in dataclasses.fields(cls)}
    body = {name: value for name, value in values["body"].items() if name in known}
    return cls(**body, version=int(values["version"]))


def transact(table: _Table, ops: list[Op]) -> list[str | None]:
    """Writes every op or none; returns [] or, when cancelled, each op's cancellation reason in the
    order of `ops`. (PynamoDB sends a transaction's deletes before its puts, and DynamoDB answers
    reasons in the order sent, so they are mapped back.)"""
    from pynamodb.exceptions import TransactWriteError
    from pynamodb.transactions import TransactWrite

    sent = [op for op in ops if op.attributes is None] + [op for op in ops if op.attributes is not None]
    try:
        with TransactWrite(connection=table.connection) as transaction:
            for op in sent:
                if op.attributes is None:
                    item = table.item(op.pk, op.sk)
                    transaction.delete(item, condition=op.condition, add_version_condition=False)
                else:
                    transaction.save(table.item(op.pk, op.sk, **op.attributes), condition=op.condition)
    except TransactWriteError as error:
        codes = [reason.code if reason else None for reason in error.cancellation_reasons or []]
        if not codes:
            raise
        by_op = {id(op): code for op, code in zip(sent, codes, strict=False)}
        return [by_op.get(id(op)) for op in ops]
    return []


def _member_op(member: Member, condition: Condition | None) -> Op:
    return Op(
        f"member {member.user_id}",
        f"{WORKSPACE}#{member.workspace_id}",
        f"{MEMBER}#{member.user_id}",
        {
            "kind": MEMBER,
            "gsi1pk": f"{USER}#{member.user_id}",
            "gsi1sk": f"{MEMBER}#{member.workspace_id}",
            **body_of(member),
        },
        condition,
    )


def _workspace_op(workspace: Workspace) -> Op:
    condition = new_item() if workspace.version == 1 else at_version(workspace.version - 1)
    attributes = {
        "kind": WORKSPACE,
        "gsi1pk": WORKSPACES,
        "gsi1sk": f"{WORKSPACE}#{workspace.id}",
        **body_of(workspace),
    }
    return Op(f"workspace {workspace.id}", f"{WORKSPACE}#{workspace.id}", WORKSPACE, attributes, condition)


def _roster_op(workspace_id: str, expected: int) -> Op:
    attributes = {"kind": ROSTER, "version": expected + 1, "body": {}}
    return Op("roster", f"{WORKSPACE}#{workspace_id}", ROSTER, attributes, at_version(expected))


class DynamoWorkspaceStore(OnTable):
    def create(self, workspace: Workspace, admin: Member) -> None:
        ops = [_workspace_op(workspace), _member_op(admin, new_item()), _roster_op(workspace.id, 0)]
        if transact(self._t, ops):
            raise Conflict(f"workspace {workspace.id} already exists")

    def roster(self, workspace_id: str) -> Roster:
        record: Workspace | None = None
        members: list[Member] = []
        version = 0
        for item in self._t.item.query(f"{WORKSPACE}#{workspace_id}", consistent_read=True):
            kind = item.attribute_values.get("kind")
            if kind == WORKSPACE:
                record = decode(Workspace, item)
            elif kind == ROSTER:
                version = int(item.attribute_values["version"])
            elif kind == MEMBER:
                members.append(decode(Member, item))
        return Roster(workspace_id, record, tuple(sorted(members, key=lambda m: m.created_at)), version)

    def memberships_of(self, user_id: str) -> list[Member]:
        from pynamodb.expressions.operand import Path

        found = self._t.item.query(
            f"{USER}#{user_id}",
            range_key_condition=Path("gsi1sk").startswith(f"{MEMBER}#"),
            index_name="gsi1",
        )
        return [decode(Member, item) for item in found]

    def workspaces(self, workspace_ids: list[str]) -> dict[str, Workspace]:
        keys = [(f"{WORKSPACE}#{w}", WORKSPACE) for w in dict.fromkeys(workspace_ids)]
        if not keys:
            return {}
        found = [decode(Workspace, item) for item in self._t.item.batch_get(keys, consistent_read=True)]
        return {w.id: w for w in found}

    def change(self, change: RosterChange) -> None:
        ops = [_roster_op(change.workspace_id, change.expected_version)]
        ops += [
            _member_op(m, new_item() if m.version == 1 else at_version(m.version - 1)) for m in change.put
        ]
        ops += [
            Op(
                f"member {m.user_id}",
                f"{WORKSPACE}#{m.workspace_id}",
                f"{MEMBER}#{m.user_id}",
                None,
                at_version(m.version),
            )
            for m in change.delete
        ]
        if change.workspace is not None:
            ops.append(_workspace_op(change.workspace))
        if change.consume is not None:
            ops.append(Op("invitation", f"{INVITE}#{change.consume.token_hash}", INVITE, None, _exists()))
        reasons = transact(self._t, ops)
        if not reasons:
            return
        if (
            reasons[0] in (_CONDITIONAL_CHECK_FAILED, _TRANSACTION_CONFLICT)
            or _TRANSACTION_CONFLICT in reasons
        ):
            raise RosterChanged(f"the members of workspace {change.workspace_id} changed meanwhile")
        failed = [
            op.what for op, reason in zip(ops, reasons, strict=False) if reason == _CONDITIONAL_CHECK_FAILED
        ]
        if "invitation" in failed:
            raise NotFound("this invitation was used or withdrawn")
        raise Conflict(f"{', '.join(failed) or 'a member'} changed meanwhile; nothing was written")

    def add_invitation(self, invitation: Invitation) -> None:
        expires = parse_iso(invitation.expires_at)
        item = self._t.item(
            f"{INVITE}#{invitation.token_hash}",
            INVITE,
            kind=INVITE,
            expires_at=int(expires.timestamp()) if expires else None,
            **body_of(invitation),
        )
        item.save(condition=new_item())

    def get_invitation(self, token_hash: str) -> Invitation:
        item = self._t.item
        try:
            found = item.get(f"{INVITE}#{token_hash}", INVITE, consistent_read=True)
        except item.DoesNotExist:
            raise NotFound("no such invitation (it was used, withdrawn, or the link is wrong)") from None
        return decode(Invitation, found)  # type: ignore[no-any-return]

    def all_workspace_ids(self) -> list[str]:
        from pynamodb.expressions.operand import Path

        found: Iterable[Model] = self._t.item.query(
            WORKSPACES, range_key_condition=Path("gsi1sk").startswith(f"{WORKSPACE}#"), index_name="gsi1"
        )
        return [str(item.attribute_values["gsi1sk"]).removeprefix(f"{WORKSPACE}#") for item in found]


def _exists() -> Condition:
    from pynamodb.expressions.operand import Path

    return Path("pk").exists()
