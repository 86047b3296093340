"""What the AWS APIs show of a store, through boto3 as the platform sees it: every table, bucket,
queue, key, rule and state machine with their settings and how much data each holds, without the
values a new bootstrap makes differently (creation times, random key and table ids). Two views are
equal only if a test could not tell the stores apart by those APIs (tests/support/moto_store.py)."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.aws import client

# Made anew by each bootstrap: a time, or a random id (and the ARNs and aliases naming it).
_VARYING = frozenset(
    {
        "CreationDateTime",
        "CreationDate",
        "creationDate",
        "CreatedTimestamp",
        "LastModifiedTimestamp",
        "LastUpdateDate",
        "TableId",
        "ResponseMetadata",
    }
)


def public_view() -> dict[str, Any]:
    return {
        "tables": _tables(),
        "buckets": _buckets(),
        "queues": _queues(),
        "keys": _keys(),
        "rules": _rules(),
        "state_machines": _state_machines(),
    }


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k not in _VARYING}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _tables() -> dict[str, Any]:
    dynamodb = client("dynamodb")
    found = {}
    for name in dynamodb.list_tables()["TableNames"]:
        found[name] = {
            "table": _plain(dynamodb.describe_table(TableName=name)["Table"]),
            "ttl": _plain(dynamodb.describe_time_to_live(TableName=name)),
            "items": dynamodb.scan(TableName=name, Select="COUNT")["Count"],
        }
    return found


def _buckets() -> dict[str, Any]:
    s3 = client("s3")
    found = {}
    for bucket in s3.list_buckets()["Buckets"]:
        name = bucket["Name"]
        versions = s3.list_object_versions(Bucket=name)
        found[name] = {
            "objects": len(versions.get("Versions", [])) + len(versions.get("DeleteMarkers", [])),
            "uploads": len(s3.list_multipart_uploads(Bucket=name).get("Uploads", [])),
            "versioning": _plain(s3.get_bucket_versioning(Bucket=name)),
        }
    return found


def _queues() -> dict[str, Any]:
    sqs = client("sqs")
    return {
        url.rsplit("/", 1)[1]: _plain(
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        )
        for url in sqs.list_queues().get("QueueUrls", [])
    }


def _keys() -> dict[str, Any]:
    kms = client("kms")
    keys = [key["KeyId"] for key in kms.list_keys()["Keys"]]
    aliases = {
        alias["AliasName"]: keys.index(alias["TargetKeyId"]) if alias.get("TargetKeyId") in keys else None
        for alias in kms.list_aliases()["Aliases"]
    }
    described = [kms.describe_key(KeyId=key)["KeyMetadata"] for key in keys]
    return {
        "aliases": aliases,
        "keys": [
            {k: v for k, v in d.items() if k not in {"KeyId", "Arn", "CreationDate"}} for d in described
        ],
    }


def _rules() -> dict[str, Any]:
    events = client("events")
    found = {}
    for bus in events.list_event_buses()["EventBuses"]:
        for rule in events.list_rules(EventBusName=bus["Name"])["Rules"]:
            targets = events.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus["Name"])["Targets"]
            found[f"{bus['Name']}/{rule['Name']}"] = {"rule": _plain(rule), "targets": _plain(targets)}
    return found


def _state_machines() -> dict[str, Any]:
    sfn = client("stepfunctions")
    found = {}
    for machine in sfn.list_state_machines()["stateMachines"]:
        arn = machine["stateMachineArn"]
        described = _plain(sfn.describe_state_machine(stateMachineArn=arn))
        described.pop("revisionId", None)  # moto: a random id
        found[machine["name"]] = {
            "machine": described,
            "executions": len(sfn.list_executions(stateMachineArn=arn)["executions"]),
        }
    return found
