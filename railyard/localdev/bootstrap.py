"""Creates every resource of the catalogue on the configured endpoint (moto, LocalStack), idempotently.

The same declarations (chalicelib/catalogue.py) feed the CDK stacks, so local and cloud cannot drift
in what exists; this module only decides how to create each kind with boto3.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from chalicelib.adapters.aws import client, error_code
from chalicelib.adapters.dynamo.schema import create_table
from chalicelib.catalogue import Catalogue

# Re-exported for tools/synthcheck/asl.py until it imports them from chalicelib.statemachines.
from chalicelib.statemachines import STATEMACHINES_DIR, render_definition

__all__ = ["STATEMACHINES_DIR", "Bootstrapped", "bootstrap", "render_definition"]

STATES_ROLE = "arn:aws:iam::{account}:role/railyard-states"


@dataclass
class Bootstrapped:
    queue_urls: dict[str, str] = field(default_factory=dict)
    queue_arns: dict[str, str] = field(default_factory=dict)
    state_machine_arns: dict[str, str] = field(default_factory=dict)


def bootstrap(catalogue: Catalogue, account_id: str = "123456789012") -> Bootstrapped:
    done = Bootstrapped()
    create_table(catalogue.table.name)
    _ensure_key(client("kms"), catalogue.variables_key_alias)
    s3 = client("s3")
    for bucket in catalogue.buckets:
        # A bucket the store had already was made by an earlier bootstrap, which adopted then.
        if _create_bucket(s3, bucket.name):
            _adopt_legacy_bucket(s3, catalogue.legacy_bucket_name(bucket.key), bucket.name)
    sqs = client("sqs")
    for queue in catalogue.queues:
        dlq_arn = _queue_arn(sqs, sqs.create_queue(QueueName=queue.dlq_name)["QueueUrl"])
        url = sqs.create_queue(
            QueueName=queue.name,
            Attributes={
                "VisibilityTimeout": str(queue.visibility_timeout),
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": queue.max_receive_count}
                ),
            },
        )["QueueUrl"]
        done.queue_urls[queue.key] = url
        done.queue_arns[queue.key] = _queue_arn(sqs, url)
    events = client("events")
    try:
        events.create_event_bus(Name=catalogue.event_bus)
    except Exception as error:
        if error_code(error) != "ResourceAlreadyExistsException":
            raise
    for rule in catalogue.rules:
        bus = rule.event_bus or catalogue.event_bus
        events.put_rule(Name=rule.name, EventBusName=bus, EventPattern=json.dumps(rule.event_pattern))
        events.put_targets(
            Rule=rule.name,
            EventBusName=bus,
            Targets=[{"Id": key, "Arn": done.queue_arns[key]} for key in rule.target_queues],
        )
    sfn = client("stepfunctions")
    existing = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    for machine in catalogue.state_machines:
        values = {}
        for placeholder, (kind, key) in machine.substitutions.items():
            values[placeholder] = done.queue_urls[key] if kind == "queue" else catalogue.event_bus
        definition = render_definition((STATEMACHINES_DIR / machine.definition_file).read_text(), values)
        if machine.name in existing:
            sfn.update_state_machine(stateMachineArn=existing[machine.name], definition=definition)
            done.state_machine_arns[machine.key] = existing[machine.name]
        else:
            done.state_machine_arns[machine.key] = sfn.create_state_machine(
                name=machine.name, definition=definition, roleArn=STATES_ROLE.format(account=account_id)
            )["stateMachineArn"]
    return done


def _queue_arn(sqs: Any, url: str) -> str:
    """A queue's ARN from its URL, without a GetQueueAttributes call per queue (18 of them, every
    bootstrap): the URL ends in `/<account>/<name>` on AWS (`https://sqs.<region>.amazonaws.com/...`),
    moto (`http://127.0.0.1:<port>/...`) and LocalStack (every SQS_ENDPOINT_STRATEGY, also
    `.../queue/<region>/<account>/<name>`), and the client knows its region's partition
    (aws, aws-cn, aws-us-gov)."""
    account, name = urlsplit(url).path.rstrip("/").split("/")[-2:]
    return f"arn:{sqs.meta.partition}:sqs:{sqs.meta.region_name}:{account}:{name}"


def _ensure_key(kms: Any, alias: str) -> None:
    """The key sealed variables are encrypted under, found by its alias (docs/decisions/0023)."""
    try:
        kms.describe_key(KeyId=alias)
    except Exception as error:
        if error_code(error) != "NotFoundException":
            raise
        key = kms.create_key(Description="Railyard sealed variables", KeyUsage="ENCRYPT_DECRYPT")
        kms.create_alias(AliasName=alias, TargetKeyId=key["KeyMetadata"]["KeyId"])


def _create_bucket(s3: Any, name: str) -> bool:
    """Create the bucket; False if it was there already."""
    region = s3.meta.region_name
    # Outside us-east-1 S3 wants the region named (IllegalLocationConstraintException otherwise).
    where = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    try:
        s3.create_bucket(Bucket=name, **where)
        return True
    except Exception as error:
        if error_code(error) not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
            raise
        return False


def _adopt_legacy_bucket(s3: Any, legacy: str, bucket: str) -> None:
    """Moves what a local data directory kept under a bucket's name from before names carried the
    account and region (`railyard-dev-sources`) into its bucket, then deletes the old bucket: the
    emulator reloads a bucket's kept objects when the bucket is created, so creating the old name
    brings them back once. Only while the bucket is still empty: after that, one ListObjects per
    bucket and start. (LocalStack keeps no objects across restarts: nothing to move there.)"""
    if legacy == bucket or s3.list_objects_v2(Bucket=bucket, MaxKeys=1).get("KeyCount", 0):
        return
    _create_bucket(s3, legacy)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=legacy):
        for kept in page.get("Contents", []):
            source = {"Bucket": legacy, "Key": kept["Key"]}
            s3.copy_object(Bucket=bucket, Key=kept["Key"], CopySource=source)
            s3.delete_object(**source)
    s3.delete_bucket(Bucket=legacy)


def main() -> int:
    """`python -m railyard.localdev.bootstrap`: creates the catalogue's resources on the endpoint the
    environment names (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_DYNAMODB, RAILYARD_STAGE,
    RAILYARD_ACCOUNT_ID) and prints what it made as JSON; LocalStack's ready hook runs it
    (localstack/init/ready.d/)."""
    from dataclasses import asdict

    from chalicelib.config import Settings

    settings = Settings.from_env()
    print(json.dumps(asdict(bootstrap(settings.catalogue, settings.account_id)), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
