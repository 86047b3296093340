"""Creating the table: `create_table` makes it (keys, gsi1, gsi2, PAY_PER_REQUEST), adds gsi2 to a
table made before it existed and turns on the TTL. Used by the local bootstrap and the tests; the CDK
app declares the same table in stacks/data.py."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.dynamo.layout import TTL_ATTRIBUTE, UNFINISHED_INDEX_NAME
from chalicelib.adapters.dynamo.table import _Table, _table


def create_table(table_name: str) -> None:
    """Ensure the table exists and is ACTIVE: string pk/sk, indexes gsi1 and gsi2 (ALL projection),
    PAY_PER_REQUEST. Safe to call again, and from two processes at once (the local bootstrap); a
    table made before gsi2 existed gets it added."""
    from pynamodb.exceptions import TableError

    table = _table(table_name)
    try:
        table.item.create_table(wait=True)
    except TableError as error:
        # Another process created it between our existence check and CreateTable: wait for it.
        if error.cause_response_code != "ResourceInUseException":
            raise
        table.item.create_table(wait=True)
    _ensure_unfinished_index(table, table_name)
    _ensure_ttl(table, table_name)


def _ensure_unfinished_index(table: _Table, table_name: str) -> None:
    """Add gsi2 to a table created before it existed, and wait until it can be queried.

    Deployments that were in progress when the index was added carry no gsi2 keys until their next
    save; the tables this runs on in practice (an earlier release's) are then re-saved by the
    deployments' own next step, and a finished deployment never needs the index."""
    client = table.connection.client
    described = client.describe_table(TableName=table_name)["Table"]
    indexes = {index["IndexName"]: index for index in described.get("GlobalSecondaryIndexes", [])}
    if UNFINISHED_INDEX_NAME not in indexes:
        client.update_table(
            TableName=table_name,
            AttributeDefinitions=[
                {"AttributeName": "gsi2pk", "AttributeType": "S"},
                {"AttributeName": "gsi2sk", "AttributeType": "S"},
            ],
            GlobalSecondaryIndexUpdates=[
                {
                    "Create": {
                        "IndexName": UNFINISHED_INDEX_NAME,
                        "KeySchema": [
                            {"AttributeName": "gsi2pk", "KeyType": "HASH"},
                            {"AttributeName": "gsi2sk", "KeyType": "RANGE"},
                        ],
                        "Projection": {"ProjectionType": "ALL"},
                    }
                }
            ],
        )
    _wait_for_index(client, table_name)


def _wait_for_index(client: Any, table_name: str, attempts: int = 300) -> None:
    """Block until gsi2 is ACTIVE (on AWS, adding an index backfills it for a while first). A
    bootstrap wait with a bound, as PynamoDB's own create_table(wait=True) does."""
    import time

    for _ in range(attempts):
        described = client.describe_table(TableName=table_name)["Table"]
        statuses = {i["IndexName"]: i.get("IndexStatus") for i in described.get("GlobalSecondaryIndexes", [])}
        if statuses.get(UNFINISHED_INDEX_NAME) == "ACTIVE":
            return
        time.sleep(2)
    raise TimeoutError(f"index {UNFINISHED_INDEX_NAME} of table {table_name} did not become ACTIVE")


def _ensure_ttl(table: _Table, table_name: str) -> None:
    """Turn on the TTL on `expires_at` unless it is on already (DynamoDB refuses to enable it twice)."""
    ttl = table.connection.client.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    if ttl.get("TimeToLiveStatus") in {"ENABLED", "ENABLING"} and ttl.get("AttributeName") == TTL_ATTRIBUTE:
        return
    table.connection.update_time_to_live(table_name, TTL_ATTRIBUTE)
