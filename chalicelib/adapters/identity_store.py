"""DynamoDB adapters for users' sign-in records and sessions (the `IdentityStore` of
chalicelib/domain/identity.py and the `SessionStore` of chalicelib/domain/sessions.py), in the
platform's one table beside the account records of chalicelib/adapters/accounts.py.

Item layout (adds to the tables in dynamo/__init__.py's and accounts.py's docstrings)
----------------------------------------------------------------------------
| entity          | pk               | sk          | gsi1pk      | gsi1sk          | top level        |
|-----------------|------------------|-------------|-------------|-----------------|------------------|
| Credentials     | USER#<id>        | CREDENTIALS | -           | -               | version          |
| SessionFamily   | SESSION#<id>     | SESSION     | USER#<uid>  | SESSION#<id>    | status, expires_at |
| RefreshRecord   | REFRESH#<sha256> | REFRESH     | -           | -               | status, expires_at |

Credentials share the user's partition, so they sit next to the user yet no read of the user item
returns them. A session's and a refresh token's `status` (live / used / revoked) is a top-level
attribute so the rotation's conditions can test it; `expires_at` is the table's TTL (30 days after
the latest refresh), so DynamoDB deletes ended sessions by itself.

Access patterns
---------------
| access pattern             | method               | served by                                       |
|----------------------------|----------------------|-------------------------------------------------|
| make a user (sign-up)      | create_account       | one TransactWriteItems, every item new          |
| user by email (sign-in)    | user_id_by_email     | Get EMAIL#<email> / EMAIL                       |
| user / credentials by id   | get_user, get_credentials | Get USER#<id> / USER, / CREDENTIALS        |
| change them                | save_user, save_credentials | Put conditioned on the previous version  |
| workspaces of a user       | memberships_of       | gsi1 USER#<uid> / MEMBER#...                    |
| their names                | get_workspaces       | BatchGetItem WORKSPACE#<id> / WORKSPACE         |
| start a session            | start                | TransactWriteItems: family + first refresh token |
| refresh token by hash      | get_refresh          | Get REFRESH#<hash> / REFRESH                    |
| rotate                     | rotate               | TransactWriteItems: spend old, add new, touch family |
| revoke (logout, reuse)     | revoke               | UpdateItem SESSION#<id> SET status = revoked    |
| live sessions of a user    | live_sessions_of     | gsi1 USER#<uid> / SESSION#..., status = live    |
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from chalicelib.adapters.accounts import (
    EMAIL,
    MEMBER,
    USER,
    WORKSPACE,
    DynamoAccountStore,
    _fields,
    _Row,
    account_rows,
    record,
)
from chalicelib.adapters.dynamo.layout import INDEX_NAME
from chalicelib.domain.accounts import Membership, User, Workspace
from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.identity import Credentials, NewAccount
from chalicelib.domain.sessions import (
    LIVE,
    REVOKED,
    USED,
    RefreshRecord,
    RefreshReused,
    SessionFamily,
    SessionRevoked,
)

CREDENTIALS = "CREDENTIALS"
SESSION = "SESSION"
REFRESH = "REFRESH"
_CONDITIONAL_CHECK_FAILED = "ConditionalCheckFailed"


def _top_level(entity: Any, *names: str) -> dict[str, Any]:
    """`_fields` with `names` lifted out of the body to the item's top level."""
    attributes = _fields(entity)
    for name in names:
        attributes[name] = attributes["body"].pop(name)
    return attributes


class DynamoIdentityStore(DynamoAccountStore):
    """Users, credentials and memberships; the account store's table binding and transactions."""

    def create_account(self, account: NewAccount) -> None:
        from pynamodb.exceptions import TransactWriteError

        user = account.user
        rows = account_rows(user, account.workspace, account.membership)
        rows.append(
            _Row("credentials", f"{USER}#{user.id}", CREDENTIALS, CREDENTIALS, _fields(account.credentials))
        )
        try:
            self._write_all(rows)
        except TransactWriteError as error:
            reasons = [reason.code if reason else None for reason in error.cancellation_reasons or []]
            taken = [r for r, why in zip(rows, reasons, strict=False) if why == _CONDITIONAL_CHECK_FAILED]
            if any(r.pk.startswith(f"{EMAIL}#") for r in taken):
                raise Conflict(f"an account with the email {user.email} exists already") from error
            raise Conflict("the account could not be created (a concurrent change); try again") from error

    def user_id_by_email(self, email: str) -> str | None:
        found = self._get(f"{EMAIL}#{email}", EMAIL)
        return None if found is None else str(found.attribute_values["body"]["user_id"])

    def get_user(self, user_id: str) -> User:
        return record(User, self._need(f"{USER}#{user_id}", USER, f"user {user_id}"))

    def save_user(self, user: User) -> None:
        self._put(f"{USER}#{user.id}", USER, _fields(user), user.version, f"user {user.id}")

    def get_credentials(self, user_id: str) -> Credentials:
        return record(Credentials, self._need(f"{USER}#{user_id}", CREDENTIALS, f"user {user_id}"))

    def save_credentials(self, credentials: Credentials) -> None:
        what = f"credentials of user {credentials.user_id}"
        key = f"{USER}#{credentials.user_id}"
        self._put(key, CREDENTIALS, _fields(credentials), credentials.version, what)

    def memberships_of(self, user_id: str) -> list[Membership]:
        from pynamodb.expressions.operand import Path

        query = self._t.item.query(
            f"{USER}#{user_id}",
            range_key_condition=Path("gsi1sk").startswith(f"{MEMBER}#"),
            index_name=INDEX_NAME,
        )
        return [record(Membership, found) for found in query]

    def get_workspaces(self, workspace_ids: Iterable[str]) -> list[Workspace]:
        keys = [(f"{WORKSPACE}#{wid}", WORKSPACE) for wid in dict.fromkeys(workspace_ids)]
        if not keys:
            return []
        return [record(Workspace, found) for found in self._t.item.batch_get(keys)]

    # --- helpers shared with the session store -----------------------------------------------

    def _get(self, pk: str, sk: str) -> Any:
        item = self._t.item
        try:
            return item.get(pk, sk, consistent_read=True)
        except item.DoesNotExist:
            return None

    def _need(self, pk: str, sk: str, what: str) -> Any:
        found = self._get(pk, sk)
        if found is None:
            raise NotFound(f"{what} not found")
        return found

    def _put(self, pk: str, sk: str, attributes: dict[str, Any], version: int, what: str) -> None:
        from pynamodb.exceptions import PutError
        from pynamodb.expressions.operand import Path

        item = self._t.item
        condition = Path("pk").does_not_exist() if version == 1 else Path("version") == version - 1
        try:
            item(pk, sk, kind=sk, **attributes).save(condition=condition)
        except PutError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                raise Conflict(f"{what} changed concurrently; try again") from error
            raise


class DynamoSessionStore(DynamoIdentityStore):
    """Session families and their refresh tokens."""

    def start(self, family: SessionFamily, first: RefreshRecord) -> None:
        self._write_all([self._family_row(family, first.expires_at), self._refresh_row(first)])

    def get_refresh(self, token_hash: str) -> RefreshRecord | None:
        found = self._get(f"{REFRESH}#{token_hash}", REFRESH)
        if found is None:
            return None
        values = found.attribute_values
        body = {**values["body"], "status": values["status"], "expires_at": int(values["expires_at"])}
        known = {field.name for field in dataclasses.fields(RefreshRecord)}
        return RefreshRecord(**{k: v for k, v in body.items() if k in known}, version=int(values["version"]))

    def rotate(self, spent: RefreshRecord, new: RefreshRecord) -> None:
        from pynamodb.exceptions import TransactWriteError
        from pynamodb.expressions.operand import Path
        from pynamodb.transactions import TransactWrite

        table = self._t
        item = table.item
        new_row = self._refresh_row(new)
        # PynamoDB sends a transaction's puts before its updates, whatever order they are added in;
        # the cancellation reasons come in that order: [new token, family, spent token].
        try:
            with TransactWrite(connection=table.connection) as transaction:
                transaction.save(
                    item(new_row.pk, new_row.sk, kind=new_row.kind, **new_row.attributes),
                    condition=Path("pk").does_not_exist(),
                )
                transaction.update(
                    item(f"{SESSION}#{spent.family_id}", SESSION),
                    actions=[Path("expires_at").set(new.expires_at)],
                    condition=Path("status") == LIVE,
                )
                transaction.update(
                    item(f"{REFRESH}#{spent.token_hash}", REFRESH),
                    actions=[Path("status").set(USED)],
                    condition=Path("status") == LIVE,
                )
        except TransactWriteError as error:
            reasons = [reason.code if reason else None for reason in error.cancellation_reasons or []]
            if len(reasons) == 3 and reasons[1] == _CONDITIONAL_CHECK_FAILED:
                raise SessionRevoked("the session was revoked (signed out, or a token reused)") from error
            if len(reasons) == 3 and reasons[2] == _CONDITIONAL_CHECK_FAILED:
                raise RefreshReused("this refresh token was already used: the session is revoked") from error
            raise

    def revoke(self, family_id: str) -> None:
        from pynamodb.exceptions import UpdateError
        from pynamodb.expressions.operand import Path

        item = self._t.item
        try:
            item(f"{SESSION}#{family_id}", SESSION).update(
                actions=[Path("status").set(REVOKED)], condition=Path("pk").exists()
            )
        except UpdateError as error:
            if error.cause_response_code == "ConditionalCheckFailedException":
                raise NotFound(f"session {family_id} not found") from error
            raise

    def live_sessions_of(self, user_id: str) -> list[str]:
        from pynamodb.expressions.operand import Path

        query = self._t.item.query(
            f"{USER}#{user_id}",
            range_key_condition=Path("gsi1sk").startswith(f"{SESSION}#"),
            filter_condition=Path("status") == LIVE,
            index_name=INDEX_NAME,
        )
        return [record(SessionFamily, found).id for found in query]

    @staticmethod
    def _family_row(family: SessionFamily, expires_at: int) -> _Row:
        attributes = _top_level(family, "status")
        attributes["expires_at"] = expires_at
        return _Row(
            f"session {family.id}",
            f"{SESSION}#{family.id}",
            SESSION,
            SESSION,
            attributes,
            gsi1pk=f"{USER}#{family.user_id}",
            gsi1sk=f"{SESSION}#{family.id}",
        )

    @staticmethod
    def _refresh_row(refresh: RefreshRecord) -> _Row:
        attributes = _top_level(refresh, "status", "expires_at")
        return _Row("refresh token", f"{REFRESH}#{refresh.token_hash}", REFRESH, REFRESH, attributes)
