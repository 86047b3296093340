"""WebSocket connections and their subscriptions in the single table (docs/decisions/0040).

| item          | pk                  | sk              | attributes                                   |
|---------------|---------------------|-----------------|----------------------------------------------|
| connection    | WSCONN#<conn id>    | WSCONN          | principal, connected_at, topics (set),        |
|               |                     |                 | expires_at (TTL)                              |
| subscription  | WSTOPIC#<topic>     | WSCONN#<conn id>| expires_at (TTL)                              |

A topic is `deployment#<id>` or `project#<id>` (chalicelib/domain/live.py). One partition per topic:
the publisher of a status change or a flush of log lines reads who listens with one Query.

| access pattern                | served by                                                         |
|-------------------------------|-------------------------------------------------------------------|
| open a connection ($connect)  | Put WSCONN#<id> / WSCONN                                          |
| who opened it (each message)  | Get WSCONN#<id> / WSCONN (consistent)                             |
| subscribe                     | Put WSTOPIC#<topic> / WSCONN#<id>, then Update WSCONN# ADD topics |
| subscribers of a topic        | Query WSTOPIC#<topic> (keys only)                                 |
| close ($disconnect, Gone)     | Delete WSCONN#<id> returning its topics, then Delete each WSTOPIC |

Nothing lists connections; the table's TTL attribute `expires_at` deletes what a lost $disconnect
left (API Gateway closes every connection after 2 hours). A subscription whose connection item is gone
is found by the publisher's first send (GoneException) and deleted then. boto3 is imported on first
use (chalicelib/adapters/aws.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.adapters.aws import client as aws_client
from chalicelib.domain.errors import NotFound
from chalicelib.domain.live import LiveConnection

CONNECTION = "WSCONN"
TOPIC = "WSTOPIC"
TTL_ATTRIBUTE = "expires_at"


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _epoch(moment: datetime) -> dict[str, str]:
    return {"N": str(int(moment.timestamp()))}


class DynamoLiveConnections:
    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self._table = table_name
        self._given = client

    @property
    def _db(self) -> Any:
        return self._given or aws_client("dynamodb")

    def add(self, connection: LiveConnection, expires_at: datetime) -> None:
        self._db.put_item(
            TableName=self._table,
            Item={
                "pk": _s(f"{CONNECTION}#{connection.id}"),
                "sk": _s(CONNECTION),
                "kind": _s(CONNECTION),
                "principal": _s(connection.principal),
                "connected_at": _s(connection.connected_at),
                TTL_ATTRIBUTE: _epoch(expires_at),
            },
        )

    def get(self, connection_id: str) -> LiveConnection:
        item = self._db.get_item(
            TableName=self._table,
            Key={"pk": _s(f"{CONNECTION}#{connection_id}"), "sk": _s(CONNECTION)},
            ConsistentRead=True,
        ).get("Item")
        if item is None:
            raise NotFound(f"connection {connection_id} not found (closed or expired)")
        return LiveConnection(
            connection_id,
            item["principal"]["S"],
            item["connected_at"]["S"],
            tuple(sorted(item.get("topics", {}).get("SS", []))),
        )

    def subscribe(self, connection_id: str, topic: str, expires_at: datetime) -> None:
        self._db.put_item(
            TableName=self._table,
            Item={
                "pk": _s(f"{TOPIC}#{topic}"),
                "sk": _s(f"{CONNECTION}#{connection_id}"),
                "kind": _s(TOPIC),
                TTL_ATTRIBUTE: _epoch(expires_at),
            },
        )
        # The connection remembers its topics, so closing it finds its subscriptions without a scan.
        self._db.update_item(
            TableName=self._table,
            Key={"pk": _s(f"{CONNECTION}#{connection_id}"), "sk": _s(CONNECTION)},
            UpdateExpression="ADD topics :t",
            ExpressionAttributeValues={":t": {"SS": [topic]}},
        )

    def subscribers(self, topic: str) -> list[str]:
        ids: list[str] = []
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": _s(f"{TOPIC}#{topic}")},
            "ProjectionExpression": "sk",
        }
        while True:
            page = self._db.query(**query)
            ids += [item["sk"]["S"].removeprefix(f"{CONNECTION}#") for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return ids
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def remove(self, connection_id: str) -> None:
        old = self._db.delete_item(
            TableName=self._table,
            Key={"pk": _s(f"{CONNECTION}#{connection_id}"), "sk": _s(CONNECTION)},
            ReturnValues="ALL_OLD",
        ).get("Attributes", {})
        for topic in old.get("topics", {}).get("SS", []):
            self._db.delete_item(
                TableName=self._table,
                Key={"pk": _s(f"{TOPIC}#{topic}"), "sk": _s(f"{CONNECTION}#{connection_id}")},
            )
