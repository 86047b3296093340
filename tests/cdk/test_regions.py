"""What spans the three regions of stage prod (conftest.py; docs/multi-region.md): one global table
with a replica in every region, the buckets only in the primary and named the same everywhere,
globally named resources (IAM, dashboards) made once, the one build policy covering every region,
and every region whole."""

from __future__ import annotations

import json
import re

from chalicelib.adapters.dynamo.layout import TTL_ATTRIBUTE
from stacks.live import WEBSOCKET_FUNCTIONS
from tests.cdk.conftest import BUCKETS, CATALOGUE, REGIONS, STAGE, Synthesized, props, rendered, statements


def test_the_table_is_the_one_dynamo_adapter_uses_global_across_the_three_regions(cloud: Synthesized) -> None:
    tables = [p for t in cloud.all for p in props(t, "AWS::DynamoDB::GlobalTable")]
    assert [t["TableName"] for t in tables] == [CATALOGUE.table.name]
    assert not any(props(t, "AWS::DynamoDB::Table") for t in cloud.all)
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


def test_every_region_names_the_primary_regions_buckets_and_no_other(cloud: Synthesized) -> None:
    # Grants, CodeBuild's source location, policies: wherever any stack of any region names a bucket.
    named = re.compile(rf"railyard-{STAGE}-(?:sources|artifacts|logs)(?:\$\{{AWS::AccountId\}}|[^\"/*:$])*")
    for region, parts in cloud.by_region.items():
        for part, template in parts.items():
            found = set(named.findall(json.dumps(rendered(template["Resources"]))))
            assert found <= {b.name for b in BUCKETS}, (region, part, found)
            if part in ("workflow", "build", "api"):
                assert found, (region, part)  # these stacks do name buckets


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
                for declared in props(template, kind):
                    if prop in declared:
                        made.setdefault((kind, json.dumps(declared[prop])), []).append(f"{region}/{part}")
    assert {k: v for k, v in made.items() if len(v) > 1} == {}
    policy = ("AWS::IAM::ManagedPolicy", json.dumps(CATALOGUE.build_isolation.policy_name))
    assert made[policy] == [f"{REGIONS[0]}/build"]
    assert len([k for k in made if k[0] == "AWS::CloudWatch::Dashboard"]) == len(REGIONS)


def test_the_one_build_policy_covers_every_region_and_every_region_bounds_roles_by_it(
    cloud: Synthesized,
) -> None:
    build = rendered(cloud.primary["build"])
    (policy,) = [
        p
        for p in props(build, "AWS::IAM::ManagedPolicy")
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
        found = list(statements(rendered(cloud.by_region[region]["build"])["Resources"]))
        (create,) = [st for st in found if st.get("Sid") == "CreateBoundedBuildRoles"]
        assert create["Condition"] == {"StringEquals": {"iam:PermissionsBoundary": arn}}, region
        if region != REGIONS[0]:
            assert (REGIONS[0], "build") in cloud.depends_on[(region, "build")]  # the policy exists first


def test_every_region_is_whole_and_only_the_primary_holds_data(cloud: Synthesized) -> None:
    assert set(cloud.by_region) == set(REGIONS)
    for region in REGIONS:
        parts = cloud.by_region[region]
        assert ("data" in parts) == (region == REGIONS[0])
        functions = props(parts["workflow"], "AWS::Lambda::Function")
        assert len(functions) == len(CATALOGUE.consumers) + len(CATALOGUE.schedules)
        # the handler, the authorizer and the live-updates WebSocket API's three handlers
        assert len(props(parts["api"], "AWS::Serverless::Function")) == 2 + len(WEBSOCKET_FUNCTIONS)
    assert len(cloud.all) == 1 + 6 * len(REGIONS)
