"""Closing a WebSocket of `railyard dev`'s live updates from the server's side, as API Gateway does at
its 2-hour limit: the subscribers of a topic are read from the platform's table (in its embedded
AWS), then closed with the Management API's DELETE /@connections/{id} (railyard/localdev/live_server.py)."""

from __future__ import annotations

import boto3
import requests
from botocore.exceptions import ClientError

from railyard.localdev.emulator_auth import ensure_credentials
from tests.support.platform import Dev


def _dynamodb(dev: Dev) -> object:
    key_id, secret = ensure_credentials(dev.data_dir / "aws")  # the only ones the emulator answers
    return boto3.client(
        "dynamodb",
        endpoint_url=f"http://127.0.0.1:{dev.moto_port}",
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
    )


def subscribers(dev: Dev, topic: str) -> list[str]:
    """The connection ids subscribed to `topic` (`deployment#<id>` or `project#<id>`)."""
    db = _dynamodb(dev)
    found: list[str] = []
    for table in db.list_tables()["TableNames"]:  # type: ignore[attr-defined]
        try:
            items = db.query(  # type: ignore[attr-defined]
                TableName=table,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": f"WSTOPIC#{topic}"}},
            ).get("Items", [])
        except ClientError:  # a table of another shape
            continue
        found += [item["sk"]["S"].removeprefix("WSCONN#") for item in items]
    return found


def close_subscribers(dev: Dev, topic: str) -> int:
    """Closes every connection subscribed to `topic` from the server's side; how many it closed."""
    url = requests.get(f"{dev.api_url}/v1/health", timeout=10).json()["websocketUrl"]
    management = url.replace("ws://", "http://", 1).rstrip("/")
    closed = 0
    for connection_id in subscribers(dev, topic):
        answer = requests.delete(f"{management}/@connections/{connection_id}", timeout=10)
        closed += answer.status_code == 204
    return closed
