"""PendingBuild items in the single table (moto in-process DynamoDB): keyed by build id, listed by
deployment, versioned like every entity, and deleted by the table's TTL on `expires_at`."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from chalicelib.adapters.dynamo.repository import DynamoRepository
from chalicelib.adapters.dynamo.schema import create_table
from chalicelib.adapters.dynamo.table import _table
from chalicelib.domain.errors import Conflict, NotFound
from chalicelib.domain.ports import PendingBuild
from tests.support.moto_inprocess import in_process_aws

TABLE = "railyard-test-pending"


@pytest.fixture
def repo() -> Iterator[DynamoRepository]:
    with in_process_aws():
        create_table(TABLE)
        yield DynamoRepository(TABLE)


def pending(
    build_id: str, deployment_id: str = "dep_01", created_at: str = "2026-11-22T10:00:00.000Z"
) -> PendingBuild:
    return PendingBuild(
        build_id=build_id,
        deployment_id=deployment_id,
        task_token="token-1",
        created_at=created_at,
        expires_at=1_795_000_000,
    )


def test_a_pending_build_round_trips_by_build_id_and_is_versioned(repo: DynamoRepository) -> None:
    stored = pending("railyard-builds:8d1c")
    repo.save(stored)
    assert repo.get_pending_build("railyard-builds:8d1c") == stored

    with pytest.raises(Conflict, match="pending build railyard-builds:8d1c of deployment dep_01"):
        repo.save(pending("railyard-builds:8d1c"))  # a second start for the same build id
    repointed = stored.bumped(task_token="token-2")
    repo.save(repointed)
    with pytest.raises(Conflict):
        repo.save(stored.bumped(finished="SUCCEEDED"))  # stale: the token moved meanwhile
    assert repo.get_pending_build("railyard-builds:8d1c").task_token == "token-2"

    with pytest.raises(NotFound):
        repo.get_pending_build("railyard-builds:unknown")


def test_pending_builds_are_listed_by_deployment_oldest_first(repo: DynamoRepository) -> None:
    repo.save(pending("p:b", created_at="2026-11-22T10:05:00.000Z"))
    repo.save(pending("p:a", created_at="2026-11-22T10:00:00.000Z"))
    repo.save(pending("p:c", deployment_id="dep_02"))
    assert [p.build_id for p in repo.list_pending_builds("dep_01")] == ["p:a", "p:b"]
    assert repo.list_pending_builds("dep_03") == []


def test_the_table_expires_pending_builds_on_expires_at(repo: DynamoRepository) -> None:
    repo.save(pending("p:a"))
    dynamodb = boto3.client("dynamodb")
    ttl = dynamodb.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}
    item = dynamodb.get_item(
        TableName=TABLE, Key={"pk": {"S": "PENDINGBUILD#p:a"}, "sk": {"S": "PENDINGBUILD"}}
    )
    assert item["Item"]["expires_at"] == {"N": "1795000000"}  # top level, a Number: what the TTL reads
    assert "expires_at" not in item["Item"]["body"]["S"]

    # Again, as every bootstrap does: DynamoDB refuses to enable a TTL twice, so it is not asked to.
    updates: list[object] = []
    _table(TABLE).connection.client.meta.events.register(
        "before-call.dynamodb.UpdateTimeToLive", lambda **kwargs: updates.append(kwargs)
    )
    create_table(TABLE)
    assert updates == []
    assert dynamodb.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"]["TimeToLiveStatus"] == (
        "ENABLED"
    )
