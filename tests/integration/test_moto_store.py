"""The store the API tests share (tests/support/moto_store.py): kept bootstrapped from one test to
the next, it shows the next test exactly what a fresh bootstrap shows, through every API the
platform uses; a test that changed more than data gets a store emptied and bootstrapped again."""

from __future__ import annotations

import json

import pytest

from chalicelib.adapters.aws import client
from chalicelib.adapters.workflows import StepFunctionsWorkflow
from chalicelib.config import Settings
from chalicelib.domain.models import ServiceSettings
from railyard.localdev.bootstrap import Bootstrapped, bootstrap
from tests.support.moto_store import MotoStore
from tests.support.store_view import public_view

pytestmark = pytest.mark.timeout(60)


def _fresh_view(store: MotoStore, settings: Settings) -> dict[str, object]:
    store.empty()
    bootstrap(settings.catalogue, settings.account_id)
    return public_view()


def _write_everywhere(settings: Settings, resources: Bootstrapped) -> None:
    """Everything a test can leave: an item, objects (tagged, a multipart upload), messages (one in
    flight), a second KMS key, a running execution (it puts its task on the deploy queue) and an
    event a rule delivers to a queue."""
    client("dynamodb").put_item(
        TableName=settings.table_name, Item={"pk": {"S": "a"}, "sk": {"S": "b"}, "kind": {"S": "x"}}
    )
    s3 = client("s3")
    s3.put_object(Bucket=settings.sources_bucket, Key="a/b.tar.gz", Body=b"x", Tagging="k=v")
    s3.put_object(Bucket=settings.artifacts_bucket, Key="c", Body=b"y")
    s3.create_multipart_upload(Bucket=settings.sources_bucket, Key="big")
    sqs = client("sqs")
    for url in resources.queue_urls.values():
        sqs.send_message(QueueUrl=url, MessageBody="left")
    sqs.receive_message(QueueUrl=resources.queue_urls["build"], MaxNumberOfMessages=1)
    kms = client("kms")
    kms.create_alias(AliasName="alias/extra", TargetKeyId=kms.create_key()["KeyMetadata"]["KeyId"])
    start = {"deploymentId": "dep_x", "serviceId": "svc_x", "needsBuild": True, "audit": None}
    limits = StepFunctionsWorkflow(settings.state_machine_arn).limits(ServiceSettings())
    client("stepfunctions").start_execution(
        stateMachineArn=settings.state_machine_arn, name="left", input=json.dumps({**start, "limits": limits})
    )
    client("events").put_events(
        Entries=[
            {
                "EventBusName": settings.catalogue.event_bus,
                "Source": "railyard",
                "DetailType": "deployment.succeeded",
                "Detail": json.dumps({"deploymentId": "x"}),
            }
        ]
    )


def test_a_store_kept_between_tests_shows_what_a_fresh_bootstrap_shows_or_is_bootstrapped_again(
    aws_env: int, moto_store: MotoStore
) -> None:
    # (one test: each bootstrap here costs ~0.5 s of CPU)
    settings = Settings.from_env()
    fresh = _fresh_view(moto_store, settings)
    # GIVEN a bootstrapped store a test wrote all it could into, and used a service no bootstrap uses
    resources = moto_store.bootstrapped(settings.catalogue, settings.account_id)
    _write_everywhere(settings, resources)
    client("logs").create_log_group(logGroupName="left")
    assert public_view() != fresh

    # WHEN the next test asks for a bootstrapped store
    reused = moto_store.reuses
    again = moto_store.bootstrapped(settings.catalogue, settings.account_id)

    # THEN it is the same store, kept (not bootstrapped again), and no API can tell it from a fresh one
    assert moto_store.reuses == reused + 1
    assert again == resources
    assert public_view() == fresh
    assert client("logs").describe_log_groups()["logGroups"] == []

    for change in (
        lambda: client("sqs").create_queue(QueueName="tap"),
        lambda: client("dynamodb").update_time_to_live(
            TableName=settings.table_name,
            TimeToLiveSpecification={"Enabled": False, "AttributeName": "expires_at"},
        ),
    ):
        # AND GIVEN a test that made a resource, or changed one, beyond the data
        change()
        full = moto_store.full_bootstraps

        # WHEN the next test asks for a bootstrapped store
        moto_store.bootstrapped(settings.catalogue, settings.account_id)

        # THEN it was emptied and bootstrapped again
        assert moto_store.full_bootstraps == full + 1
        assert public_view() == fresh
