"""DynamoDB's own 400 KB item limit, the last line of defence behind domain/limits.py: an item
that still comes out too large is the domain's PayloadTooLarge (an API 413), never a 500."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest

from chalicelib.adapters.dynamo.repository import DynamoRepository
from chalicelib.adapters.dynamo.schema import create_table
from chalicelib.domain.errors import PayloadTooLarge
from chalicelib.domain.limits import DYNAMODB_ITEM_BYTES
from chalicelib.domain.models import Project, ServiceVariables
from tests.support.moto_inprocess import in_process_aws


@pytest.fixture(scope="module")
def repo() -> Iterator[DynamoRepository]:
    with in_process_aws():
        name = "railyard-test-item-size"
        create_table(name)
        yield DynamoRepository(name)
        boto3.client("dynamodb").delete_table(TableName=name)


def _too_big(service_id: str) -> ServiceVariables:
    # Bypasses the domain's checks on purpose: this is what a field that escaped them would write.
    return ServiceVariables(service_id, {"BIG": "x" * (DYNAMODB_ITEM_BYTES + 1)}, version=1)


def test_an_oversized_single_put_is_payload_too_large_naming_the_item(repo: DynamoRepository) -> None:
    with pytest.raises(PayloadTooLarge, match="variables of service svc_1 would exceed DynamoDB's item"):
        repo.save(_too_big("svc_1"))

    assert repo.get_variables("svc_1").version == 0  # nothing was written


def test_an_oversized_item_in_a_transaction_is_payload_too_large_and_nothing_is_written(
    repo: DynamoRepository,
) -> None:
    project = Project("prj_1", "org_1", "demo", "2026-12-03T00:00:00.000Z")

    with pytest.raises(PayloadTooLarge, match="project prj_1 or variables of service svc_2 would exceed"):
        repo.save(project, _too_big("svc_2"))

    assert repo.list_projects("org_1") == []
