"""DynamoDB adapter for the `TokenStore` port (chalicelib/domain/api_tokens.py).

A token is the ApiToken item dynamo/layout.py lays out (`TOKEN#<sha256>` / `TOKEN`, listed under its
workspace in gsi1 `ORG#<ws>` / `TOKEN#...`; the item AuthService reads) plus a pointer from its id:

| entity        | pk              | sk       | body                          | TTL             |
|---------------|-----------------|----------|-------------------------------|-----------------|
| token pointer | TOKENID#<id>    | TOKENID  | token_hash, org_id            | as the token's  |

Both are written in one transaction, each conditioned on not existing, and deleted together on
revocation. `last_used_at` is a top-level attribute of the token item, set by
DynamoRepository.mark_token_used when AuthService reads the token from the table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.adapters.dynamo.items import _attributes
from chalicelib.adapters.dynamo.layout import TOKEN, TTL_ATTRIBUTE, _keys
from chalicelib.adapters.dynamo.table import OnTable
from chalicelib.adapters.workspaces_store import Op, new_item, transact
from chalicelib.domain.api_tokens import IssuedToken
from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.models import ApiToken

if TYPE_CHECKING:
    from pynamodb.models import Model

TOKEN_ID = "TOKENID"
ORG = "ORG"


class DynamoTokenStore(OnTable):
    def add(self, token: ApiToken) -> None:
        keys = _keys(token)
        attributes = _attributes(token)
        pointer: dict[str, Any] = {
            "kind": TOKEN_ID,
            "version": 1,
            "body": {"token_hash": token.token_hash, "org_id": token.org_id},
        }
        if attributes.get(TTL_ATTRIBUTE) is not None:
            pointer[TTL_ATTRIBUTE] = attributes[TTL_ATTRIBUTE]
        ops = [
            Op(
                "token",
                keys.pk,
                keys.sk,
                {"kind": keys.sk, "gsi1pk": keys.gsi1pk, "gsi1sk": keys.gsi1sk, **attributes},
                new_item(),
            ),
            Op(f"token {token.id}", f"{TOKEN_ID}#{token.id}", TOKEN_ID, pointer, new_item()),
        ]
        if transact(self._t, ops):
            raise Conflict(f"token {token.id} already exists")

    def tokens_of(self, workspace_id: str) -> list[IssuedToken]:
        from pynamodb.expressions.operand import Path

        found = self._t.item.query(
            f"{ORG}#{workspace_id}",
            range_key_condition=Path("gsi1sk").startswith(f"{TOKEN}#"),
            index_name="gsi1",
        )
        return [_issued(item) for item in found]

    def by_id(self, token_id: str) -> IssuedToken:
        item = self._t.item
        try:
            pointer = item.get(f"{TOKEN_ID}#{token_id}", TOKEN_ID, consistent_read=True)
            found = item.get(
                f"{TOKEN}#{pointer.attribute_values['body']['token_hash']}", TOKEN, consistent_read=True
            )
        except item.DoesNotExist:
            raise NotFound(f"token {token_id} not found") from None
        return _issued(found)

    def delete(self, token: IssuedToken) -> None:
        ops = [
            Op("token", f"{TOKEN}#{token.token_hash}", TOKEN, None, None),
            Op(f"token {token.id}", f"{TOKEN_ID}#{token.id}", TOKEN_ID, None, None),
        ]
        transact(self._t, ops)  # unconditional: revoking twice is no error


def _issued(item: Model) -> IssuedToken:
    values = item.attribute_values
    body = values["body"]
    token_hash = str(body["token_hash"])
    return IssuedToken(
        id=body.get("id") or f"tok_{token_hash[:12]}",
        token_hash=token_hash,
        workspace_id=body["org_id"],
        name=body["name"],
        actions=tuple(body.get("scopes") or ()),
        created_at=body["created_at"],
        created_by=body.get("user_id"),
        project_id=body.get("project_id"),
        environment_id=body.get("environment_id"),
        service_id=body.get("service_id"),
        expires_at=body.get("expires_at"),
        last_used_at=values.get("last_used_at"),
    )
