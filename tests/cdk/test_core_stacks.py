"""The core stacks (data, events, workflow, observability) as synthesized for stage prod in three
regions (conftest.py): every catalogue resource exists once, every queue has its DLQ and a consumer,
every Lambda gets exactly the settings chalicelib/config.py reads, no policy anywhere grants `*`
where it matters, the state machine is fully filled, prod keeps its data, and every function and
execution is alarmed on. The API's front door is in test_http_api.py, what spans regions in
test_regions.py."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.catalogue import DEFAULT_BUS, OUTPUT_TABLE_NAME
from chalicelib.config import ENVIRONMENT_VARIABLES, Settings
from stacks.live import WEBSOCKET_FUNCTIONS
from tests.cdk.conftest import (
    BUCKETS,
    CATALOGUE,
    REGIONS,
    STAGE,
    Synthesized,
    exported_logical_id,
    listed,
    logical_id,
    of,
    platform_resources,
    props,
    rendered,
    statements,
)

DATA_SERVICES = {"dynamodb", "s3", "sqs", "states", "events", "ssm", "iam"}


# --- every catalogue resource, once ---------------------------------------------------------------


def test_each_bucket_exists_once_in_the_primary_region_locked_down(cloud: Synthesized) -> None:
    buckets = [
        rendered(b["Properties"])
        for t in cloud.all
        for b in platform_resources(t, "AWS::S3::Bucket").values()
    ]
    assert sorted(b["BucketName"] for b in buckets) == sorted(b.name for b in BUCKETS)
    assert BUCKETS[0].name == f"railyard-{STAGE}-sources-${{AWS::AccountId}}-{REGIONS[0]}"
    data = cloud.primary["data"]
    for bucket in buckets:
        assert bucket["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        encryption = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        assert bucket["LifecycleConfiguration"]["Rules"]
    policies = json.dumps(props(data, "AWS::S3::BucketPolicy"))
    assert policies.count('"aws:SecureTransport": "false"') == len(BUCKETS)  # TLS only
    rules = {b["BucketName"]: {r["Id"]: r for r in b["LifecycleConfiguration"]["Rules"]} for b in buckets}
    names = {b.key: b.name for b in BUCKETS}
    assert rules[names["sources"]]["expire-codebuild-sources"]["Prefix"] == "codebuild-sources/"
    assert "logs-to-infrequent-access" in rules[names["logs"]]


def test_prod_keeps_its_data_when_a_stack_is_deleted(cloud: Synthesized) -> None:
    data = cloud.primary["data"]
    kept = {r["Type"] for r in data["Resources"].values() if r.get("DeletionPolicy") == "Retain"}
    # The key of sealed variables too: without it no sealed value opens again (docs/decisions/0023).
    assert kept == {"AWS::DynamoDB::GlobalTable", "AWS::S3::Bucket", "AWS::KMS::Key"}
    assert data["Outputs"][OUTPUT_TABLE_NAME]["Value"] == {
        "Ref": logical_id(data, "AWS::DynamoDB::GlobalTable")
    }


def test_each_region_has_the_bus_every_rule_and_every_queue_with_its_dlq(cloud: Synthesized) -> None:
    for region in REGIONS:
        events = cloud.by_region[region]["events"]
        assert [b["Name"] for b in props(events, "AWS::Events::EventBus")] == [CATALOGUE.event_bus]
        queues = {q["QueueName"]: q for q in props(events, "AWS::SQS::Queue")}
        assert len(queues) == 2 * len(CATALOGUE.queues)
        for queue in CATALOGUE.queues:
            declared = queues[queue.name]
            assert declared["VisibilityTimeout"] == queue.visibility_timeout
            dlq_id = logical_id(events, "AWS::SQS::Queue", QueueName=queue.dlq_name)
            assert declared["RedrivePolicy"] == {
                "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
                "maxReceiveCount": queue.max_receive_count,
            }
        rules = {r["Name"]: r for r in props(events, "AWS::Events::Rule")}
        assert set(rules) == {rule.name for rule in CATALOGUE.rules}
        bus_id = logical_id(events, "AWS::Events::EventBus", Name=CATALOGUE.event_bus)
        for rule in CATALOGUE.rules:
            made = rules[rule.name]
            assert made["EventPattern"] == rule.event_pattern
            assert made.get("EventBusName") == ({"Ref": bus_id} if rule.event_bus is None else DEFAULT_BUS)
            targets = [t["Arn"]["Fn::GetAtt"][0] for t in made["Targets"]]
            assert targets == [
                logical_id(events, "AWS::SQS::Queue", QueueName=CATALOGUE.queue(k).name)
                for k in rule.target_queues
            ]


def test_every_dlq_has_an_alarm_at_one_message(cloud: Synthesized) -> None:
    events = cloud.primary["events"]
    alarms = props(events, "AWS::CloudWatch::Alarm")
    watched = set()
    for alarm in alarms:
        assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
        assert alarm["Threshold"] == 1 and alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        (dimension,) = alarm["Dimensions"]
        watched.add(events["Resources"][dimension["Value"]["Fn::GetAtt"][0]]["Properties"]["QueueName"])
    assert watched == {q.dlq_name for q in CATALOGUE.queues}


# --- consumers ---------------------------------------------------------------------------------------


def _consumers(cloud: Synthesized, region: str) -> dict[str, dict[str, Any]]:
    """Queue key -> {function, mapping} in one region, resolved through the events stack's exports."""
    workflow, events = cloud.by_region[region]["workflow"], cloud.by_region[region]["events"]
    names = {q["Properties"]["QueueName"]: k for k, q in of(events, "AWS::SQS::Queue").items()}
    by_id = {v: k for k, v in names.items()}
    found: dict[str, dict[str, Any]] = {}
    for mapping in props(workflow, "AWS::Lambda::EventSourceMapping"):
        queue_name = by_id[exported_logical_id(events, mapping["EventSourceArn"])]
        key = next(q.key for q in CATALOGUE.queues if q.name == queue_name)
        function = workflow["Resources"][mapping["FunctionName"]["Ref"]]["Properties"]
        assert key not in found, f"queue {key} has two consumers"
        found[key] = {"function": function, "mapping": mapping}
    return found


def test_every_consumer_drains_its_queue_with_partial_failures_and_a_timeout_that_fits(
    cloud: Synthesized,
) -> None:
    for region in REGIONS:
        consumers = _consumers(cloud, region)
        assert set(consumers) == {c.queue for c in CATALOGUE.consumers}
        for consumer in CATALOGUE.consumers:
            mapping, function = consumers[consumer.queue]["mapping"], consumers[consumer.queue]["function"]
            assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
            assert mapping["BatchSize"] == consumer.batch_size
            assert mapping["ScalingConfig"] == {"MaximumConcurrency": consumer.max_concurrency}
            assert function["Handler"] == consumer.handler
            assert function["Timeout"] <= min(CATALOGUE.queue(consumer.queue).visibility_timeout, 900)
            assert function["FunctionName"] == CATALOGUE.function_name(consumer.key)
    # The build and deploy queues are drained by two functions (own roles, own concurrency).
    primary = _consumers(cloud, REGIONS[0])
    assert primary["build"]["function"]["Role"] != primary["deploy"]["function"]["Role"]


def test_every_queue_has_a_consumer_in_every_region(cloud: Synthesized) -> None:
    for region in REGIONS:
        assert set(_consumers(cloud, region)) == {q.key for q in CATALOGUE.queues}, region


def _role_actions(cloud: Synthesized, queue_key: str) -> set[str]:
    """Every action the inline policies of the consumer of `queue_key` (primary region) allow."""
    workflow = cloud.primary["workflow"]
    role_id = _consumers(cloud, REGIONS[0])[queue_key]["function"]["Role"]["Fn::GetAtt"][0]
    return {
        action
        for policy in props(workflow, "AWS::IAM::Policy")
        if {"Ref": role_id} in policy["Roles"]
        for statement in statements(policy)
        for action in listed(statement["Action"])
    }


def test_the_event_fan_out_consumers_touch_no_data_they_do_not_use(cloud: Synthesized) -> None:
    notifications, metrics = _role_actions(cloud, "notifications"), _role_actions(cloud, "metrics")
    assert "sqs:ReceiveMessage" in notifications and "sqs:ReceiveMessage" in metrics  # their queues
    writes = ("Put", "Update", "Delete", "BatchWrite", "TransactWrite")
    # notifications: the project's webhooks and what the payload names; one message per webhook
    assert "dynamodb:Query" in notifications and "sqs:SendMessage" in notifications
    assert not {a for a in notifications if a.startswith("dynamodb:") and a.split(":")[1].startswith(writes)}
    assert not {a for a in notifications if a.split(":")[0] in {"s3", "states", "kms"}}
    # The deployment read, and its metrics record written (docs/decisions/0039).
    assert {"dynamodb:GetItem", "dynamodb:UpdateItem"} <= metrics
    assert not {a for a in metrics if a.split(":")[0] in {"s3", "states", "kms"}}


def test_the_webhook_deliveries_consumer_opens_webhook_secrets_and_nothing_else(cloud: Synthesized) -> None:
    workflow = cloud.primary["workflow"]
    role_id = _consumers(cloud, REGIONS[0])["webhook-deliveries"]["function"]["Role"]["Fn::GetAtt"][0]
    kms = [
        statement
        for policy in props(workflow, "AWS::IAM::Policy")
        if {"Ref": role_id} in policy["Roles"]
        for statement in statements(policy)
        if any(action.startswith("kms:") for action in listed(statement["Action"]))
    ]
    assert [listed(statement["Action"]) for statement in kms] == [["kms:Decrypt"]]
    assert kms[0]["Condition"]["StringLike"] == {"kms:EncryptionContext:railyard:variable": "webhook/*"}
    actions = _role_actions(cloud, "webhook-deliveries")
    assert {"sqs:ReceiveMessage", "sqs:SendMessage", "dynamodb:GetItem", "dynamodb:PutItem"} <= actions
    assert not {a for a in actions if a.split(":")[0] in {"s3", "states"}}


def test_the_build_worker_may_start_isolated_builds_and_the_deploy_worker_may_not(cloud: Synthesized) -> None:
    primary = cloud.primary
    roles = {c["function"]["Role"]["Fn::GetAtt"][0]: key for key, c in _consumers(cloud, REGIONS[0]).items()}
    attached = {
        roles[k]: json.dumps(r["Properties"].get("ManagedPolicyArns", []))
        for k, r in of(primary["workflow"], "AWS::IAM::Role").items()
        if k in roles
    }
    assert "BuildControlPlanePolicy" in attached["build"]
    assert "BuildControlPlanePolicy" not in attached["deploy"]


# --- environment -------------------------------------------------------------------------------------


def _functions(cloud: Synthesized) -> Iterator[tuple[str, dict[str, Any]]]:
    for region, parts in cloud.by_region.items():
        for part, template in parts.items():
            for kind in ("AWS::Lambda::Function", "AWS::Serverless::Function"):
                for rid, resource in platform_resources(template, kind).items():
                    yield f"{region}/{part}/{rid}", resource["Properties"]


def test_every_function_gets_only_settings_config_reads_and_the_ones_the_cloud_needs(
    cloud: Synthesized,
) -> None:
    seen = 0
    for where, function in _functions(cloud):
        env = function["Environment"]["Variables"]
        assert set(env) <= set(ENVIRONMENT_VARIABLES), f"{where}: {set(env) - set(ENVIRONMENT_VARIABLES)}"
        assert env["RAILYARD_STAGE"] == STAGE, where
        assert env["RAILYARD_BUILDER"] == "codebuild", where
        assert env["RAILYARD_ACCOUNT_ID"] == {"Ref": "AWS::AccountId"}, where
        assert env["RAILYARD_DATA_DIR"].startswith("/tmp/"), where  # Lambda's only writable place
        seen += 1
    # Every consumer and schedule, + the API's handler and authorizer and the WebSocket API's handlers
    expected = len(CATALOGUE.consumers) + len(CATALOGUE.schedules) + 2 + len(WEBSOCKET_FUNCTIONS)
    assert seen == len(REGIONS) * expected


def test_the_settings_built_from_a_function_environment_name_the_catalogue_resources(
    cloud: Synthesized, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The API in the second region (eu-west-1): its Settings must still name the primary's buckets.
    _, api = next(
        (w, f) for w, f in _functions(cloud) if w.startswith(REGIONS[1]) and w.endswith("APIHandler")
    )
    for name in ENVIRONMENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    resolved = json.loads(
        json.dumps(api["Environment"]["Variables"])
        .replace('{"Ref": "AWS::AccountId"}', '"210987654321"')
        .replace('{"Ref": "AWS::Region"}', '"eu-west-1"')
        .replace('{"Ref": "AWS::URLSuffix"}', '"amazonaws.com"')
        .replace('{"Ref": "AWS::Partition"}', '"aws"')
    )
    for name, value in resolved.items():
        if isinstance(value, dict) and "Fn::Sub" in value:
            continue  # the WebSocket API's URL (tests/cdk/test_live_api.py)
        monkeypatch.setenv(name, value if isinstance(value, str) else "".join(value["Fn::Join"][1]))
    monkeypatch.setenv("AWS_REGION", "eu-west-1")  # Lambda's own
    settings = Settings.from_env()
    assert settings.table_name == CATALOGUE.table.name
    # The buckets live in the primary region, whichever region the function runs in.
    assert settings.sources_bucket == f"railyard-{STAGE}-sources-210987654321-{REGIONS[0]}"
    assert (
        settings.state_machine_arn
        == f"arn:aws:states:eu-west-1:210987654321:stateMachine:{CATALOGUE.deploy_state_machine}"
    )
    assert settings.ecr_repository_uri == "210987654321.dkr.ecr.eu-west-1.amazonaws.com/railyard-prod"
    # Sealed variables use the primary region's key, by alias, from every region.
    assert settings.sealing_key_id == f"arn:aws:kms:{REGIONS[0]}:210987654321:{CATALOGUE.variables_key_alias}"


# --- IAM -----------------------------------------------------------------------------------------------


def test_no_policy_anywhere_grants_every_action_or_every_data_resource(cloud: Synthesized) -> None:
    walked = 0
    policy_holders = 0
    for template in cloud.all:
        for rid, resource in template["Resources"].items():
            found = list(statements(resource.get("Properties", {})))
            iam = not resource["Type"].startswith("AWS::CloudFront::")  # its policies hold no IAM
            if iam and ("Polic" in resource["Type"] or resource["Type"] == "AWS::IAM::Role"):
                policy_holders += 1
                assert found, f"{rid} ({resource['Type']}) has no statement to check"
            for statement in found:
                walked += 1
                if statement.get("Effect") != "Allow":
                    continue
                actions = listed(statement.get("Action", []))
                assert "*" not in actions, f"{rid}: Action '*'"
                services = {str(a).split(":")[0] for a in actions}
                for action in actions:
                    service, _, verb = str(action).partition(":")
                    assert not (service in DATA_SERVICES and verb == "*"), f"{rid}: {action}"
                resources = listed(statement.get("Resource", []))
                if services & DATA_SERVICES:
                    assert "*" not in resources, f"{rid}: {sorted(services & DATA_SERVICES)} on '*'"
    assert policy_holders >= 20 and walked >= 60  # the walk really saw the policies (counts of this app)


# --- the state machine ------------------------------------------------------------------------------


def test_the_state_machine_is_filled_with_this_regions_queues_and_bus(cloud: Synthesized) -> None:
    queue_of_action = {"build": "build", "prepare": "deploy", "deploy": "deploy", "fail": "deploy"}
    for region in REGIONS:
        workflow, events = cloud.by_region[region]["workflow"], cloud.by_region[region]["events"]
        (machine,) = props(workflow, "AWS::StepFunctions::StateMachine")
        assert machine["StateMachineName"] == CATALOGUE.deploy_state_machine
        assert "DefinitionSubstitutions" not in machine  # nothing left for CloudFormation to fill
        parts = machine["DefinitionString"]["Fn::Join"][1]
        text = "".join(p if isinstance(p, str) else "<ref>" for p in parts)
        assert "${" not in text
        states = json.loads(text)["States"]  # still valid JSON with each reference in place
        assert states["Build"]["Parameters"]["QueueUrl"] == "<ref>"
        seen = {"QueueUrl": 0, "EventBusName": 0}
        for before, ref, after in zip(parts, parts[1:], parts[2:], strict=False):
            if isinstance(ref, str):
                continue
            field = re.search(r'"(\w+)": "$', before)
            assert field, f"a reference outside a string value: ...{before[-40:]}"
            made = events["Resources"][exported_logical_id(events, ref)]["Properties"]
            if field.group(1) == "QueueUrl":
                action = re.search(r'"action": "(\w+)"', after)
                assert action and made["QueueName"] == CATALOGUE.queue(queue_of_action[action.group(1)]).name
            else:
                assert field.group(1) == "EventBusName" and made["Name"] == CATALOGUE.event_bus
            seen[field.group(1)] += 1
        assert seen == {"QueueUrl": 4, "EventBusName": text.count('"EventBusName": "<ref>"')}
        assert seen["EventBusName"] >= 5


# --- observability --------------------------------------------------------------------------------


def test_observability_alarms_on_executions_api_errors_and_every_function(cloud: Synthesized) -> None:
    observability = cloud.primary["observability"]
    names = {a["AlarmName"] for a in props(observability, "AWS::CloudWatch::Alarm")}
    machine = CATALOGUE.deploy_state_machine
    assert {f"{machine}-failed", f"{machine}-timed-out", f"{CATALOGUE.stack_name('api')}-5xx"} <= names
    for key in [c.key for c in CATALOGUE.consumers] + ["api"]:
        assert {
            f"{CATALOGUE.function_name(key)}-errors",
            f"{CATALOGUE.function_name(key)}-throttles",
        } <= names
    assert len(props(observability, "AWS::CloudWatch::Dashboard")) == 1
