"""DynamoDB adapter for the `AccountStore` port (chalicelib/domain/accounts.py), in the platform's
one table, with the item shape of chalicelib/adapters/dynamo/ (`kind`, `version`, JSON `body`,
`gsi1pk`/`gsi1sk`) through the same PynamoDB model.

Item layout (adds to the table in chalicelib/adapters/dynamo/__init__.py)
--------------------------------------------------------
| entity        | pk                         | sk             | gsi1pk       | gsi1sk           |
|---------------|----------------------------|----------------|--------------|------------------|
| Installation  | INSTALLATION#first-admin   | INSTALLATION   | -            | -                |
| Workspace     | WORKSPACE#<id>             | WORKSPACE      | -            | -                |
| Membership    | WORKSPACE#<wid>            | MEMBER#<uid>   | USER#<uid>   | MEMBER#<wid>     |
| User          | USER#<id>                  | USER           | -            | -                |
| email claim   | EMAIL#<lowercase email>    | EMAIL          | -            | -                |
| MemberToken   | as ApiToken in dynamo/: TOKEN#<sha256> / TOKEN, gsi1 ORG#<wid> / TOKEN#... |

A membership lives in its workspace's item collection, so "members of a workspace" is one strongly
consistent Query on the table (what last-admin protection needs), and under its user in gsi1, so
"workspaces of a user" is one Query on the index. Its `kind` is MEMBER; its sort key adds the user.
An email is claimed by its own item so that two users can never share one (a condition on a
non-key attribute could not say that). The workspace id is the `org_id` of the projects and tokens
listed under `ORG#<id>` in gsi1.

Access patterns (issue 10 adds the rest)
----------------------------------------
| access pattern            | method              | served by                                     |
|---------------------------|---------------------|-----------------------------------------------|
| has a first admin?        | get_installation    | Get INSTALLATION#first-admin / INSTALLATION   |
| make the first admin      | create_first_admin  | one TransactWriteItems, every item new        |
| one more member token     | add_token           | Put TOKEN#<sha256> / TOKEN if it does not exist |

Every item of the first admin is written in one transaction, each conditioned on not existing, the
Installation item first: two bootstraps racing each other cannot both win, and a loser writes
nothing. A transaction DynamoDB cancels for a concurrent one (TransactionConflict) is retried; its
next attempt meets the winner's Installation and refuses.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import TYPE_CHECKING, Any, TypeVar, cast

from chalicelib.adapters.dynamo.items import _attributes
from chalicelib.adapters.dynamo.layout import _keys
from chalicelib.adapters.dynamo.table import _bind, _Table
from chalicelib.adapters.workspaces_store import WORKSPACES
from chalicelib.domain.accounts import (
    AlreadyBootstrapped,
    FirstAdmin,
    Installation,
    Membership,
    MemberToken,
    User,
    Workspace,
)
from chalicelib.domain.errors import Conflict

if TYPE_CHECKING:
    from pynamodb.models import Model

INSTALLATION = "INSTALLATION"
FIRST_ADMIN = "first-admin"
WORKSPACE = "WORKSPACE"
MEMBER = "MEMBER"
USER = "USER"
EMAIL = "EMAIL"
_CONDITIONAL_CHECK_FAILED = "ConditionalCheckFailed"
_TRANSACTION_CONFLICT = "TransactionConflict"
CONFLICT_ATTEMPTS = 4


@dataclasses.dataclass(frozen=True)
class _Row:
    """One item to write: its keys, its kind and what it says."""

    what: str  # how an error names it
    pk: str
    sk: str
    kind: str
    attributes: dict[str, Any]
    gsi1pk: str | None = None
    gsi1sk: str | None = None


def _rows(first: FirstAdmin) -> list[_Row]:
    """Where each record of the first admin lives (the layout table above), Installation first."""
    installation = _Row(
        "installation",
        f"{INSTALLATION}#{FIRST_ADMIN}",
        INSTALLATION,
        INSTALLATION,
        _fields(first.installation),
    )
    accounts = account_rows(first.user, first.workspace, first.membership)
    return [installation, *accounts, _token_row(first.token)]


def account_rows(user: User, workspace: Workspace, membership: Membership) -> list[_Row]:
    """A user, their workspace and membership, and their email claim: what every new account writes
    (the first admin here; every signed-up user in chalicelib/adapters/identity_store.py)."""
    rows = [
        _Row(
            f"workspace {workspace.id}",
            f"{WORKSPACE}#{workspace.id}",
            WORKSPACE,
            WORKSPACE,
            _fields(workspace),
            # Listed with every workspace (adapters/workspaces_store.py), so a restart of the local
            # platform brings back the live services of workspaces made by sign-up or bootstrap.
            gsi1pk=WORKSPACES,
            gsi1sk=f"{WORKSPACE}#{workspace.id}",
        ),
        _Row(
            f"membership of {membership.user_id} in {membership.workspace_id}",
            f"{WORKSPACE}#{membership.workspace_id}",
            f"{MEMBER}#{membership.user_id}",
            MEMBER,
            _fields(membership),
            gsi1pk=f"{USER}#{membership.user_id}",
            gsi1sk=f"{MEMBER}#{membership.workspace_id}",
        ),
        _Row(f"user {user.id}", f"{USER}#{user.id}", USER, USER, _fields(user)),
    ]
    if user.email is not None:
        rows.append(
            _Row(
                f"a user with email {user.email}",
                f"{EMAIL}#{user.email}",
                EMAIL,
                EMAIL,
                {"body": {"user_id": user.id}, "version": 1},
            )
        )
    return rows


def _token_row(token: MemberToken) -> _Row:
    """A token goes where every ApiToken goes (dynamo/layout.py), so the API's AuthService finds it."""
    keys = _keys(token)
    return _Row("token", keys.pk, keys.sk, keys.sk, _attributes(token), keys.gsi1pk, keys.gsi1sk)


class DynamoAccountStore:
    """The `AccountStore` port on the platform's table `table_name` in `region`."""

    def __init__(self, table_name: str, region: str | None = None) -> None:
        self._table_name = table_name
        self._region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        self._bound: _Table | None = None

    @property
    def _t(self) -> _Table:
        if self._bound is None:
            # As dynamo._table, but in the region the operator named rather than the environment's.
            endpoint = (
                os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or os.environ.get("AWS_ENDPOINT_URL") or None
            )
            self._bound = _bind(self._table_name, self._region, endpoint)
        return self._bound

    def get_installation(self) -> Installation | None:
        item = self._t.item
        try:
            found = item.get(f"{INSTALLATION}#{FIRST_ADMIN}", INSTALLATION, consistent_read=True)
        except item.DoesNotExist:
            return None
        return _installation(found)

    def create_first_admin(self, first: FirstAdmin) -> None:
        from pynamodb.exceptions import TransactWriteError

        rows = _rows(first)
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                self._write_all(rows)
                return
            except TransactWriteError as error:
                reasons = [reason.code if reason else None for reason in error.cancellation_reasons or []]
                if _CONDITIONAL_CHECK_FAILED in reasons:
                    raise self._refusal(rows, reasons) from error
                if _TRANSACTION_CONFLICT not in reasons or attempt == CONFLICT_ATTEMPTS:
                    raise
                time.sleep(0.1 * attempt)  # another bootstrap's transaction holds an item

    def add_token(self, token: MemberToken) -> None:
        from pynamodb.exceptions import TransactWriteError

        try:
            self._write_all([_token_row(token)])
        except TransactWriteError as error:
            reasons = [reason.code if reason else None for reason in error.cancellation_reasons or []]
            if _CONDITIONAL_CHECK_FAILED in reasons:
                raise Conflict("token already exists") from error
            raise

    def _write_all(self, rows: list[_Row]) -> None:
        from pynamodb.expressions.operand import Path
        from pynamodb.transactions import TransactWrite

        table = self._t
        with TransactWrite(connection=table.connection) as transaction:
            for row in rows:
                item = table.item(
                    row.pk, row.sk, kind=row.kind, gsi1pk=row.gsi1pk, gsi1sk=row.gsi1sk, **row.attributes
                )
                transaction.save(item, condition=Path("pk").does_not_exist())

    def _refusal(self, rows: list[_Row], reasons: list[str | None]) -> Conflict:
        """The domain error for a transaction whose conditions failed: reasons come one per row."""
        if reasons and reasons[0] == _CONDITIONAL_CHECK_FAILED:
            installation = self.get_installation()
            if installation is not None:
                return AlreadyBootstrapped(installation)
        taken = [
            row.what
            for row, reason in zip(rows, reasons, strict=False)
            if reason == _CONDITIONAL_CHECK_FAILED
        ]
        return Conflict(f"{', '.join(taken)} already exists; nothing was written")


def _fields(entity: Any) -> dict[str, Any]:
    """An account record's attributes in dynamo/items.py's shape: `version` on top, the rest in `body`."""
    body = dataclasses.asdict(entity)
    return {"version": body.pop("version"), "body": body}


def _installation(item: Model) -> Installation:
    return record(Installation, item)


R = TypeVar("R")


def record(cls: type[R], item: Model) -> R:
    """The account record (a dataclass with a `version`) an item holds. Fields this code does not
    know are dropped (as dynamo._decode does: a newer writer may add some); tuple fields come back
    as tuples (JSON makes them lists)."""
    values = item.attribute_values
    known = {field.name for field in dataclasses.fields(cast(Any, cls))}
    body = {}
    for name, value in values["body"].items():
        if name in known:
            body[name] = tuple(value) if isinstance(value, list) else value
    made: R = cast(Any, cls)(**body, version=int(values["version"]))
    return made
