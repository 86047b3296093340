"""Deployments in progress across every service, from the sparse index gsi2 (moto in-process DynamoDB):
what a sweeper and a platform restart read to end or resume the work left in flight."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import boto3
import pytest

from chalicelib.adapters.dynamo.repository import DynamoRepository
from chalicelib.adapters.dynamo.schema import create_table
from chalicelib.domain.built_release import BuiltRelease
from chalicelib.domain.models import (
    ConfigSnapshot,
    Deployment,
    DeploymentKind,
    DeploymentStatus,
    Release,
    ServiceSettings,
)
from tests.support.moto_inprocess import in_process_aws

TABLE = "railyard-test-unfinished"
NOW = "2026-11-22T10:00:00.000Z"


@pytest.fixture
def env() -> Iterator[None]:
    with in_process_aws():
        yield


@pytest.fixture
def repo(env: None) -> DynamoRepository:
    create_table(TABLE)
    return DynamoRepository(TABLE)


def deployment(
    did: str, sid: str = "svc_01", status: DeploymentStatus = DeploymentStatus.QUEUED
) -> Deployment:
    return Deployment(
        id=did,
        service_id=sid,
        project_id="prj_01",
        environment_id="env_01",
        kind=DeploymentKind.SOURCE,
        status=status,
        config=ConfigSnapshot(variables={}, settings=ServiceSettings()),
        created_at=NOW,
        updated_at=NOW,
    )


def test_every_deployment_in_progress_of_every_service_is_listed_oldest_first(
    repo: DynamoRepository,
) -> None:
    # GIVEN deployments of two services in every status, and a release sharing the service partition
    ended = [
        status
        for status in DeploymentStatus
        if status not in {DeploymentStatus.QUEUED, DeploymentStatus.BUILDING, DeploymentStatus.DEPLOYING}
    ]
    repo.save(
        deployment("dep_03", "svc_02", DeploymentStatus.BUILDING),
        deployment("dep_01", "svc_01", DeploymentStatus.QUEUED),
        deployment("dep_05", "svc_01", DeploymentStatus.DEPLOYING),
        *(deployment(f"dep_1{n}", "svc_01", status) for n, status in enumerate(ended)),
    )
    repo.save(
        Release(
            "rel_01",
            "svc_01",
            1,
            BuiltRelease("a.tgz", "run"),
            ConfigSnapshot({}, ServiceSettings()),
            "dep_05",
            NOW,
        )
    )

    # WHEN the unfinished deployments are listed
    listed = repo.list_unfinished_deployments()

    # THEN exactly the three in progress come back, whole, in id (= creation) order
    assert [(d.id, d.status) for d in listed] == [
        ("dep_01", DeploymentStatus.QUEUED),
        ("dep_03", DeploymentStatus.BUILDING),
        ("dep_05", DeploymentStatus.DEPLOYING),
    ]
    assert listed[0] == deployment("dep_01", "svc_01", DeploymentStatus.QUEUED)


def test_a_deployment_leaves_the_list_when_it_ends_and_not_before(repo: DynamoRepository) -> None:
    # GIVEN a deployment that goes through its statuses
    queued = deployment("dep_01")
    repo.save(queued)
    building = queued.moved_to(DeploymentStatus.BUILDING, NOW)
    repo.save(building)
    assert [d.status for d in repo.list_unfinished_deployments()] == [DeploymentStatus.BUILDING]

    # WHEN it ends
    repo.save(building.moved_to(DeploymentStatus.FAILED, NOW, reason="Build step timed out"))

    # THEN it is gone from the index, and its item no longer carries the sparse keys
    assert repo.list_unfinished_deployments() == []
    item = boto3.client("dynamodb").get_item(
        TableName=TABLE, Key={"pk": {"S": "DEPLOYMENT#dep_01"}, "sk": {"S": "DEPLOYMENT"}}
    )["Item"]
    assert "gsi2pk" not in item
    assert "gsi2sk" not in item


def test_the_list_reads_past_one_page(repo: DynamoRepository) -> None:
    # GIVEN more unfinished deployments than one 1 MB page holds (each item is ~1 KB with its body)
    big = ConfigSnapshot({"PADDING": "x" * 8000}, ServiceSettings())
    many = [dataclasses.replace(deployment(f"dep_{n:04d}"), config=big) for n in range(150)]
    for start in range(0, len(many), 100):
        repo.save(*many[start : start + 100])

    # THEN every one of them is listed
    assert [d.id for d in repo.list_unfinished_deployments()] == [d.id for d in many]


def test_create_table_adds_the_index_to_a_table_made_before_it(env: None) -> None:
    # GIVEN a table as an earlier release created it: gsi1 only
    client = boto3.client("dynamodb")
    client.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sk", "gsi1pk", "gsi1sk")
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "gsi1",
                "KeySchema": [
                    {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                    {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )

    # WHEN the bootstrap ensures the table (twice, as two processes may)
    create_table(TABLE)
    create_table(TABLE)

    # THEN the sparse index exists and serves the access pattern
    indexes = client.describe_table(TableName=TABLE)["Table"]["GlobalSecondaryIndexes"]
    assert sorted(i["IndexName"] for i in indexes) == ["gsi1", "gsi2"]
    repo = DynamoRepository(TABLE)
    repo.save(deployment("dep_01"))
    assert [d.id for d in repo.list_unfinished_deployments()] == ["dep_01"]
