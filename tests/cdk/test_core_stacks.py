"""The core stacks (data, events, api, workflow, observability) as synthesized for stage prod in three
regions (conftest.py): every catalogue resource exists once, every queue has its DLQ and a consumer,
every Lambda gets exactly the settings chalicelib/config.py reads, no policy anywhere grants `*`
where it matters, the state machine is fully filled, prod keeps its data, and each region is whole."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.adapters.dynamo import TTL_ATTRIBUTE
from chalicelib.catalogue import (
    API_THROTTLE_BURST,
    API_THROTTLE_RATE,
    DEFAULT_BUS,
    OUTPUT_API_URL,
    OUTPUT_TABLE_NAME,
    Catalogue,
)
from chalicelib.config import ENVIRONMENT_VARIABLES, Settings
from tests.cdk.conftest import REGIONS, STAGE, Synthesized

CATALOGUE = Catalogue(STAGE)
DATA_SERVICES = {"dynamodb", "s3", "sqs", "states", "events", "ssm", "iam"}


def _of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def _props(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r.get("Properties", {}) for r in _of(template, kind).values()]


def _logical_id(template: dict[str, Any], kind: str, **match: Any) -> str:
    found = [
        k
        for k, r in _of(template, kind).items()
        if all(r["Properties"].get(p) == v for p, v in match.items())
    ]
    assert len(found) == 1, f"{kind} {match}: {len(found)} found"
    return found[0]


def _exported_logical_id(source: dict[str, Any], import_value: dict[str, Any]) -> str:
    """The logical id behind `{"Fn::ImportValue": "<stack>:<output>"}`, read from the exporting template."""
    output = import_value["Fn::ImportValue"].split(":", 1)[1]
    value = source["Outputs"][output]["Value"]
    return str(value["Ref"] if "Ref" in value else value["Fn::GetAtt"][0])


# --- every catalogue resource, once ---------------------------------------------------------------


def test_the_table_is_the_one_dynamo_adapter_uses_global_across_the_three_regions(cloud: Synthesized) -> None:
    tables = [p for t in cloud.all for p in _props(t, "AWS::DynamoDB::GlobalTable")]
    assert [t["TableName"] for t in tables] == [CATALOGUE.table.name]
    assert not any(_props(t, "AWS::DynamoDB::Table") for t in cloud.all)
    table = tables[0]
    assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == {"pk": "HASH", "sk": "RANGE"}
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
    indexes = {i["IndexName"]: i for i in table["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"gsi1", "gsi2"}
    for name, index in indexes.items():
        assert [k["AttributeName"] for k in index["KeySchema"]] == [f"{name}pk", f"{name}sk"]
        assert index["Projection"]["ProjectionType"] == "ALL"
    replicas = {r["Region"]: r for r in table["Replicas"]}
    assert set(replicas) == set(REGIONS)
    for replica in replicas.values():
        assert replica["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert replica["DeletionProtectionEnabled"] is True  # prod


def _rendered(node: Any) -> Any:
    """The template with every Fn::Join made a string and every Ref `${Name}` (as Fn::Sub writes)."""
    if isinstance(node, dict):
        if set(node) == {"Fn::Join"}:
            separator, parts = node["Fn::Join"]
            rendered = [_rendered(part) for part in parts]
            if all(isinstance(part, str) for part in rendered):
                return separator.join(rendered)
        if set(node) == {"Ref"}:
            return "${" + node["Ref"] + "}"
        return {key: _rendered(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_rendered(value) for value in node]
    return node


# Environment-agnostic synth: the account is CloudFormation's; the region the primary's, everywhere.
BUCKETS = Catalogue(STAGE, account="${AWS::AccountId}", region=REGIONS[0]).buckets


def test_each_bucket_exists_once_in_the_primary_region_locked_down(cloud: Synthesized) -> None:
    buckets = [_rendered(p) for t in cloud.all for p in _props(t, "AWS::S3::Bucket")]
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
    policies = json.dumps(_props(data, "AWS::S3::BucketPolicy"))
    assert policies.count('"aws:SecureTransport": "false"') == len(BUCKETS)  # TLS only
    rules = {b["BucketName"]: {r["Id"]: r for r in b["LifecycleConfiguration"]["Rules"]} for b in buckets}
    names = {b.key: b.name for b in BUCKETS}
    assert rules[names["sources"]]["expire-codebuild-sources"]["Prefix"] == "codebuild-sources/"
    assert "logs-to-infrequent-access" in rules[names["logs"]]


def test_every_region_names_the_primary_regions_buckets_and_no_other(cloud: Synthesized) -> None:
    # Grants, CodeBuild's source location, policies: wherever any stack of any region names a bucket.
    named = re.compile(rf"railyard-{STAGE}-(?:sources|artifacts|logs)(?:\$\{{AWS::AccountId\}}|[^\"/*:$])*")
    for region, parts in cloud.by_region.items():
        for part, template in parts.items():
            found = set(named.findall(json.dumps(_rendered(template["Resources"]))))
            assert found <= {b.name for b in BUCKETS}, (region, part, found)
            if part in ("workflow", "build", "api"):
                assert found, (region, part)  # these stacks do name buckets


def test_prod_keeps_its_data_when_a_stack_is_deleted(cloud: Synthesized) -> None:
    data = cloud.primary["data"]
    kept = {r["Type"] for r in data["Resources"].values() if r.get("DeletionPolicy") == "Retain"}
    assert kept == {"AWS::DynamoDB::GlobalTable", "AWS::S3::Bucket"}
    assert data["Outputs"][OUTPUT_TABLE_NAME]["Value"] == {
        "Ref": _logical_id(data, "AWS::DynamoDB::GlobalTable")
    }


def test_each_region_has_the_bus_every_rule_and_every_queue_with_its_dlq(cloud: Synthesized) -> None:
    for region in REGIONS:
        events = cloud.by_region[region]["events"]
        assert [b["Name"] for b in _props(events, "AWS::Events::EventBus")] == [CATALOGUE.event_bus]
        queues = {q["QueueName"]: q for q in _props(events, "AWS::SQS::Queue")}
        assert len(queues) == 2 * len(CATALOGUE.queues)
        for queue in CATALOGUE.queues:
            declared = queues[queue.name]
            assert declared["VisibilityTimeout"] == queue.visibility_timeout
            dlq_id = _logical_id(events, "AWS::SQS::Queue", QueueName=queue.dlq_name)
            assert declared["RedrivePolicy"] == {
                "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
                "maxReceiveCount": queue.max_receive_count,
            }
        rules = {r["Name"]: r for r in _props(events, "AWS::Events::Rule")}
        assert set(rules) == {rule.name for rule in CATALOGUE.rules}
        bus_id = _logical_id(events, "AWS::Events::EventBus", Name=CATALOGUE.event_bus)
        for rule in CATALOGUE.rules:
            made = rules[rule.name]
            assert made["EventPattern"] == rule.event_pattern
            assert made.get("EventBusName") == ({"Ref": bus_id} if rule.event_bus is None else DEFAULT_BUS)
            targets = [t["Arn"]["Fn::GetAtt"][0] for t in made["Targets"]]
            assert targets == [
                _logical_id(events, "AWS::SQS::Queue", QueueName=CATALOGUE.queue(k).name)
                for k in rule.target_queues
            ]


def test_every_dlq_has_an_alarm_at_one_message(cloud: Synthesized) -> None:
    events = cloud.primary["events"]
    alarms = _props(events, "AWS::CloudWatch::Alarm")
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
    names = {q["Properties"]["QueueName"]: k for k, q in _of(events, "AWS::SQS::Queue").items()}
    by_id = {v: k for k, v in names.items()}
    found: dict[str, dict[str, Any]] = {}
    for mapping in _props(workflow, "AWS::Lambda::EventSourceMapping"):
        queue_name = by_id[_exported_logical_id(events, mapping["EventSourceArn"])]
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
        for policy in _props(workflow, "AWS::IAM::Policy")
        if {"Ref": role_id} in policy["Roles"]
        for statement in _statements(policy)
        for action in _listed(statement["Action"])
    }


def test_the_event_fan_out_consumers_touch_no_data_they_do_not_use(cloud: Synthesized) -> None:
    writes = ("Put", "Update", "Delete", "BatchWrite", "TransactWrite")
    notifications, metrics = _role_actions(cloud, "notifications"), _role_actions(cloud, "metrics")
    assert "sqs:ReceiveMessage" in notifications and "sqs:ReceiveMessage" in metrics  # their queues
    assert not {a for a in notifications if a.split(":")[0] in {"dynamodb", "s3", "states"}}
    assert "dynamodb:GetItem" in metrics  # the deployment's creation time
    assert not {a for a in metrics if a.startswith("dynamodb:") and a.split(":")[1].startswith(writes)}
    assert not {a for a in metrics if a.split(":")[0] in {"s3", "states"}}


def test_the_build_worker_may_start_isolated_builds_and_the_deploy_worker_may_not(cloud: Synthesized) -> None:
    primary = cloud.primary
    roles = {c["function"]["Role"]["Fn::GetAtt"][0]: key for key, c in _consumers(cloud, REGIONS[0]).items()}
    attached = {
        roles[k]: json.dumps(r["Properties"].get("ManagedPolicyArns", []))
        for k, r in _of(primary["workflow"], "AWS::IAM::Role").items()
        if k in roles
    }
    assert "BuildControlPlanePolicy" in attached["build"]
    assert "BuildControlPlanePolicy" not in attached["deploy"]


# --- environment -------------------------------------------------------------------------------------


def _functions(cloud: Synthesized) -> Iterator[tuple[str, dict[str, Any]]]:
    for region, parts in cloud.by_region.items():
        for part, template in parts.items():
            for kind in ("AWS::Lambda::Function", "AWS::Serverless::Function"):
                for logical_id, resource in _of(template, kind).items():
                    yield f"{region}/{part}/{logical_id}", resource["Properties"]


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
    assert seen == len(REGIONS) * (len(CATALOGUE.consumers) + 1)  # + the API


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
    )
    for name, value in resolved.items():
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


# --- IAM -----------------------------------------------------------------------------------------------


def _statements(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if isinstance(node.get("Statement"), list):
            yield from node["Statement"]
        for value in node.values():
            yield from _statements(value)
    elif isinstance(node, list):
        for value in node:
            yield from _statements(value)


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_no_policy_anywhere_grants_every_action_or_every_data_resource(cloud: Synthesized) -> None:
    walked = 0
    policy_holders = 0
    for template in cloud.all:
        for logical_id, resource in template["Resources"].items():
            statements = list(_statements(resource.get("Properties", {})))
            if "Polic" in resource["Type"] or resource["Type"] == "AWS::IAM::Role":
                policy_holders += 1
                assert statements, f"{logical_id} ({resource['Type']}) has no statement to check"
            for statement in statements:
                walked += 1
                if statement.get("Effect") != "Allow":
                    continue
                actions = _listed(statement.get("Action", []))
                assert "*" not in actions, f"{logical_id}: Action '*'"
                services = {str(a).split(":")[0] for a in actions}
                for action in actions:
                    service, _, verb = str(action).partition(":")
                    assert not (service in DATA_SERVICES and verb == "*"), f"{logical_id}: {action}"
                resources = _listed(statement.get("Resource", []))
                if services & DATA_SERVICES:
                    assert "*" not in resources, f"{logical_id}: {sorted(services & DATA_SERVICES)} on '*'"
    assert policy_holders >= 20 and walked >= 60  # the walk really saw the policies (counts of this app)


# --- global names (IAM and CloudWatch dashboards are per account, not per region) ----------------------

_GLOBAL_NAMES = {
    "AWS::IAM::Role": "RoleName",
    "AWS::IAM::ManagedPolicy": "ManagedPolicyName",
    "AWS::IAM::InstanceProfile": "InstanceProfileName",
    "AWS::IAM::User": "UserName",
    "AWS::IAM::Group": "GroupName",
    "AWS::CloudWatch::Dashboard": "DashboardName",
}


def test_each_globally_named_resource_is_made_once_across_the_three_regions(cloud: Synthesized) -> None:
    made: dict[tuple[str, str], list[str]] = {}
    for region, parts in cloud.by_region.items():
        for part, template in parts.items():
            for kind, prop in _GLOBAL_NAMES.items():
                for props in _props(template, kind):
                    if prop in props:
                        made.setdefault((kind, json.dumps(props[prop])), []).append(f"{region}/{part}")
    assert {k: v for k, v in made.items() if len(v) > 1} == {}
    policy = ("AWS::IAM::ManagedPolicy", json.dumps(CATALOGUE.build_isolation.policy_name))
    assert made[policy] == [f"{REGIONS[0]}/build"]
    assert len([k for k in made if k[0] == "AWS::CloudWatch::Dashboard"]) == len(REGIONS)


def test_the_one_build_policy_covers_every_region_and_every_region_bounds_roles_by_it(
    cloud: Synthesized,
) -> None:
    build = _rendered(cloud.primary["build"])
    (policy,) = [
        p
        for p in _props(build, "AWS::IAM::ManagedPolicy")
        if p.get("ManagedPolicyName") == CATALOGUE.build_isolation.policy_name
    ]
    by_sid = {st["Sid"]: st for st in policy["PolicyDocument"]["Statement"]}
    for sid in ("PushOwnImages", "ReadOwnParameters", "DecryptOwnParameters", "OwnLogStreams"):
        resources = json.dumps(by_sid[sid]["Resource"])
        assert all(f":{region}:" in resources for region in REGIONS), sid
    via = by_sid["DecryptOwnParameters"]["Condition"]["StringEquals"]["kms:ViaService"]
    assert via == [f"ssm.{region}.${{AWS::URLSuffix}}" for region in REGIONS]
    # IAM counts a managed policy's characters without whitespace: at most 6,144.
    document = json.dumps(policy["PolicyDocument"], separators=(",", ":"))
    for pseudo, value in (("${AWS::Partition}", "aws-us-gov"), ("${AWS::AccountId}", "123456789012")):
        document = document.replace(pseudo, value)
    assert len(document.replace("${AWS::URLSuffix}", "amazonaws.com")) <= 6144
    # Every region's worker may create roles only with that policy as boundary, named by its ARN.
    arn = f"arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:policy/{CATALOGUE.build_isolation.policy_name}"
    for region in REGIONS:
        statements = list(_statements(_rendered(cloud.by_region[region]["build"])["Resources"]))
        (create,) = [st for st in statements if st.get("Sid") == "CreateBoundedBuildRoles"]
        assert create["Condition"] == {"StringEquals": {"iam:PermissionsBoundary": arn}}, region
        if region != REGIONS[0]:
            assert (REGIONS[0], "build") in cloud.depends_on[(region, "build")]  # the policy exists first


# --- the state machine ------------------------------------------------------------------------------


def test_the_state_machine_is_filled_with_this_regions_queues_and_bus(cloud: Synthesized) -> None:
    queue_of_action = {"build": "build", "deploy": "deploy", "fail": "deploy"}
    for region in REGIONS:
        workflow, events = cloud.by_region[region]["workflow"], cloud.by_region[region]["events"]
        (machine,) = _props(workflow, "AWS::StepFunctions::StateMachine")
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
            made = events["Resources"][_exported_logical_id(events, ref)]["Properties"]
            if field.group(1) == "QueueUrl":
                action = re.search(r'"action": "(\w+)"', after)
                assert action and made["QueueName"] == CATALOGUE.queue(queue_of_action[action.group(1)]).name
            else:
                assert field.group(1) == "EventBusName" and made["Name"] == CATALOGUE.event_bus
            seen[field.group(1)] += 1
        assert seen == {"QueueUrl": 3, "EventBusName": text.count('"EventBusName": "<ref>"')}
        assert seen["EventBusName"] >= 5


# --- api, observability, regions -------------------------------------------------------------------------


def test_the_api_is_throttled_and_outputs_the_url_the_cli_takes(cloud: Synthesized) -> None:
    for region in REGIONS:
        api = cloud.by_region[region]["api"]
        (rest,) = _props(api, "AWS::Serverless::Api")
        assert rest["StageName"] == "api"
        assert rest["MethodSettings"][0]["ThrottlingRateLimit"] == API_THROTTLE_RATE
        assert rest["MethodSettings"][0]["ThrottlingBurstLimit"] == API_THROTTLE_BURST
        url = api["Outputs"][OUTPUT_API_URL]["Value"]["Fn::Sub"]
        assert url.startswith("https://${RestAPI}.execute-api.${AWS::Region}.") and url.endswith("/api")


def test_observability_alarms_on_executions_api_errors_and_every_function(cloud: Synthesized) -> None:
    observability = cloud.primary["observability"]
    names = {a["AlarmName"] for a in _props(observability, "AWS::CloudWatch::Alarm")}
    machine = CATALOGUE.deploy_state_machine
    assert {f"{machine}-failed", f"{machine}-timed-out", f"{CATALOGUE.stack_name('api')}-5xx"} <= names
    for key in [c.key for c in CATALOGUE.consumers] + ["api"]:
        assert {
            f"{CATALOGUE.function_name(key)}-errors",
            f"{CATALOGUE.function_name(key)}-throttles",
        } <= names
    assert len(_props(observability, "AWS::CloudWatch::Dashboard")) == 1


def test_every_region_is_whole_and_only_the_primary_holds_data(cloud: Synthesized) -> None:
    assert set(cloud.by_region) == set(REGIONS)
    for region in REGIONS:
        parts = cloud.by_region[region]
        assert ("data" in parts) == (region == REGIONS[0])
        assert len(_props(parts["workflow"], "AWS::Lambda::Function")) == len(CATALOGUE.consumers)
        assert len(_props(parts["api"], "AWS::Serverless::Function")) == 1
    assert len(cloud.all) == 1 + 6 * len(REGIONS)
