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
    table made before gsi2 existed gets it added.

    One DescribeTable answers whether the table exists and what it has, and a table this call
    created is known to have both indexes and no TTL yet: every start of the local platform and
    many test fixtures run this, and every call to an emulator costs CPU."""
    table = _table(table_name)
    client = table.connection.client
    described = _described(client, table_name)
    if described is None:
        if _create(table):
            # CreateTable made both indexes; a table is ACTIVE once they are (wait=True waited).
            table.connection.update_time_to_live(table_name, TTL_ATTRIBUTE)
            return
        described = client.describe_table(TableName=table_name)["Table"]
    _ensure_unfinished_index(client, table_name, described)
    _ensure_ttl(table, table_name)


def _create(table: _Table) -> bool:
    """Create the table and wait until it is ACTIVE; False if another process created it first."""
    from pynamodb.exceptions import TableError

    try:
        table.item.create_table(wait=True)
        return True
    except TableError as error:
        # Another process created it between our existence check and CreateTable: wait for it.
        if error.cause_response_code != "ResourceInUseException":
            raise
        table.item.create_table(wait=True)
        return False


def _described(client: Any, table_name: str) -> dict[str, Any] | None:
    """The table's description, or None when there is no such table."""
    try:
        return client.describe_table(TableName=table_name)["Table"]  # type: ignore[no-any-return]
    except client.exceptions.ResourceNotFoundException:
        return None


def _ensure_unfinished_index(client: Any, table_name: str, described: dict[str, Any]) -> None:
    """Add gsi2 to a table created before it existed, and wait until it can be queried.

    Deployments that were in progress when the index was added carry no gsi2 keys until their next
    save; the tables this runs on in practice (an earlier release's) are then re-saved by the
    deployments' own next step, and a finished deployment never needs the index."""
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
    elif indexes[UNFINISHED_INDEX_NAME].get("IndexStatus") == "ACTIVE":
        return
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
