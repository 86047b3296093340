"""Sign-in items in the single table: device grants, GitHub OAuth states, GitHub account links.

| item                | pk                  | sk         | attributes                                     |
|---------------------|---------------------|------------|------------------------------------------------|
| device grant        | DEVICE#<user code>  | DEVICE     | device_hash, status, user_id, interval,        |
|                     |                     |            | created, last_poll, version, expires_at (TTL), |
|                     |                     |            | requested_from, client                         |
| GitHub OAuth state  | OAUTHSTATE#<sha256> | OAUTHSTATE | verifier, redirect_uri, expires_at (TTL)       |
| GitHub account link | GITHUB#<github id>  | GITHUB     | user_id, login, created                        |

| access pattern             | served by                                                            |
|----------------------------|----------------------------------------------------------------------|
| new grant                  | Put DEVICE#<code>, if absent or expired (a TTL delete can lag 48 h)   |
| grant by user/device code  | Get DEVICE#<code> / DEVICE (consistent)                              |
| grant changes (poll, vote) | Put DEVICE#<code>, if version = previous                             |
| new OAuth state            | Put OAUTHSTATE#<hash>, if absent                                     |
| take an OAuth state once   | Delete OAUTHSTATE#<hash> returning the old item, if it exists        |
| user of a GitHub account   | Get GITHUB#<id> / GITHUB                                             |
| link a GitHub account      | Put GITHUB#<id>, if absent                                           |

Expired items are deleted by the table's TTL attribute `expires_at`; until then readers check the
expiry themselves. Only hashes of the device code and of the OAuth state are stored. boto3 is
imported on first use (chalicelib/adapters/aws.py).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from chalicelib.adapters.aws import client as aws_client
from chalicelib.adapters.aws import error_code
from chalicelib.domain.device_flow import DeviceGrant
from chalicelib.domain.errors import Conflict
from chalicelib.domain.github_signin import PendingState

TTL_ATTRIBUTE = "expires_at"
_CONDITION_FAILED = "ConditionalCheckFailedException"


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _moment(epoch: Any) -> datetime:
    return datetime.fromtimestamp(float(epoch), UTC)


class _Table:
    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self._table = table_name
        self._given = client

    @property
    def _db(self) -> Any:
        return self._given or aws_client("dynamodb")

    def _put(self, item: dict[str, Any], condition: str, values: dict[str, Any] | None = None) -> bool:
        """False when the condition failed."""
        try:
            self._db.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression=condition,
                **({"ExpressionAttributeValues": values} if values else {}),
            )
        except Exception as error:
            if error_code(error) == _CONDITION_FAILED:
                return False
            raise
        return True

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        found = self._db.get_item(
            TableName=self._table, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
        )
        item: dict[str, Any] | None = found.get("Item")
        return item


class DynamoDeviceGrants(_Table):
    """The DeviceGrants port (chalicelib/domain/device_flow.py)."""

    def add(self, grant: DeviceGrant, now: datetime) -> None:
        if not self._put(
            self._item(grant),
            "attribute_not_exists(pk) OR expires_at <= :now",
            {":now": {"N": str(_epoch(now))}},
        ):
            raise Conflict(f"user code {grant.user_code} is in use")

    def get(self, user_code: str) -> DeviceGrant | None:
        item = self._get(f"DEVICE#{user_code}", "DEVICE")
        if item is None:
            return None
        return DeviceGrant(
            user_code=user_code,
            device_code_hash=item["device_hash"]["S"],
            created_at=_moment(item["created"]["N"]),
            expires_at=_moment(item[TTL_ATTRIBUTE]["N"]),
            interval=int(item["interval"]["N"]),
            status=item["status"]["S"],
            user_id=item["user_id"]["S"] if "user_id" in item else None,
            last_polled_at=_moment(item["last_poll"]["N"]) if "last_poll" in item else None,
            version=int(item["version"]["N"]),
            requested_from=item.get("requested_from", {}).get("S", ""),
            client=item.get("client", {}).get("S", ""),
        )

    def replace(self, grant: DeviceGrant) -> None:
        if not self._put(
            self._item(grant), "version = :previous", {":previous": {"N": str(grant.version - 1)}}
        ):
            raise Conflict(f"the sign-in {grant.user_code} changed meanwhile")

    @staticmethod
    def _item(grant: DeviceGrant) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": {"S": f"DEVICE#{grant.user_code}"},
            "sk": {"S": "DEVICE"},
            "kind": {"S": "DEVICE"},
            "device_hash": {"S": grant.device_code_hash},
            "status": {"S": grant.status},
            "interval": {"N": str(grant.interval)},
            "created": {"N": str(grant.created_at.timestamp())},
            "version": {"N": str(grant.version)},
            TTL_ATTRIBUTE: {"N": str(_epoch(grant.expires_at))},
        }
        if grant.user_id is not None:
            item["user_id"] = {"S": grant.user_id}
        for name, text in (("requested_from", grant.requested_from), ("client", grant.client)):
            if text:  # left out when unknown; grants stored before these existed have neither
                item[name] = {"S": text}
        if grant.last_polled_at is not None:
            item["last_poll"] = {"N": str(grant.last_polled_at.timestamp())}
        return item


def _state_key(state: str) -> dict[str, Any]:
    digest = hashlib.sha256(state.encode()).hexdigest()
    return {"pk": {"S": f"OAUTHSTATE#{digest}"}, "sk": {"S": "OAUTHSTATE"}}


class DynamoOAuthStates(_Table):
    """The OAuthStates port (chalicelib/domain/github_signin.py)."""

    def add(self, pending: PendingState) -> None:
        item = {
            **_state_key(pending.state),
            "kind": {"S": "OAUTHSTATE"},
            "verifier": {"S": pending.code_verifier},
            "redirect_uri": {"S": pending.redirect_uri},
            TTL_ATTRIBUTE: {"N": str(_epoch(pending.expires_at))},
        }
        if not self._put(item, "attribute_not_exists(pk)"):
            raise Conflict("OAuth state collision; start again")

    def take(self, state: str) -> PendingState | None:
        try:
            answer = self._db.delete_item(
                TableName=self._table,
                Key=_state_key(state),
                ConditionExpression="attribute_exists(pk)",
                ReturnValues="ALL_OLD",
            )
        except Exception as error:
            if error_code(error) == _CONDITION_FAILED:
                return None
            raise
        old = answer["Attributes"]
        return PendingState(
            state=state,
            code_verifier=old["verifier"]["S"],
            redirect_uri=old["redirect_uri"]["S"],
            expires_at=_moment(old[TTL_ATTRIBUTE]["N"]),
        )


class DynamoGitHubLinks(_Table):
    """The GitHubLinks port (chalicelib/domain/github_signin.py)."""

    def user_for(self, github_id: int) -> str | None:
        item = self._get(f"GITHUB#{github_id}", "GITHUB")
        return item["user_id"]["S"] if item else None

    def link(self, github_id: int, login: str, user_id: str, now: datetime) -> None:
        item = {
            "pk": {"S": f"GITHUB#{github_id}"},
            "sk": {"S": "GITHUB"},
            "kind": {"S": "GITHUB"},
            "user_id": {"S": user_id},
            "login": {"S": login},
            "created": {"N": str(now.timestamp())},
        }
        if not self._put(item, "attribute_not_exists(pk)"):
            raise Conflict(f"GitHub account {github_id} is already linked")
