"""The sealed variables' KMS key in the synthesized stage (stacks/keys.py, docs/decisions/0023): one
rotating key in the primary region, found by alias from every region; the API may only seal with it
(and open Git links' webhook secrets, ADR 0035) and the deploy worker only open, all bound to a
service + variable encryption context."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.git import WEBHOOK_SECRET_NAME
from chalicelib.domain.sealing import CONTEXT_SERVICE, CONTEXT_VARIABLE
from stacks.live import WEBSOCKET_FUNCTIONS
from tests.cdk.conftest import (
    CATALOGUE,
    REGIONS,
    Synthesized,
    Template,
    platform_resources,
    props,
    rendered,
    statements,
)

ALIAS = CATALOGUE.variables_key_alias


def _key_statements(template: Template) -> list[tuple[str, dict[str, Any]]]:
    """(resource id, statement) of every statement that uses the stage's key by its alias."""
    return [
        (rid, statement)
        for rid, resource in template["Resources"].items()
        for statement in statements(resource.get("Properties", {}))
        if ALIAS in str(statement.get("Condition", {}))
    ]


def test_one_rotating_key_with_the_catalogue_alias_in_the_primary_region(cloud: Synthesized) -> None:
    keys = [
        (region, part, p)
        for region, parts in cloud.by_region.items()
        for part, t in parts.items()
        for p in props(t, "AWS::KMS::Key")
    ]
    assert [(region, part) for region, part, _ in keys] == [(REGIONS[0], "data")]
    assert keys[0][2]["EnableKeyRotation"] is True
    assert [a["AliasName"] for a in props(cloud.primary["data"], "AWS::KMS::Alias")] == [ALIAS]


def test_the_api_may_only_seal_and_only_the_deploy_worker_may_open_variables(cloud: Synthesized) -> None:
    """... and the webhook deliveries' worker webhook secrets only (`webhook/<id>` names)."""
    for region in REGIONS:
        parts = cloud.by_region[region]
        api = {
            a for _, s in _key_statements(parts["api"]) for a in s["Action"] if isinstance(s["Action"], list)
        }
        api |= {s["Action"] for _, s in _key_statements(parts["api"]) if isinstance(s["Action"], str)}
        assert api == {"kms:GenerateDataKey", "kms:Decrypt"}, region
        # The API opens Git links' webhook secrets only (docs/decisions/0035): never a sealed variable
        for _, statement in _key_statements(parts["api"]):
            if "kms:Decrypt" in str(statement["Action"]):
                webhook_only = {f"kms:EncryptionContext:{CONTEXT_VARIABLE}": WEBHOOK_SECRET_NAME}
                assert statement["Condition"]["StringEquals"] == webhook_only, region
        workflow = parts["workflow"]
        opening_roles, webhook_roles = set(), set()
        for rid, statement in _key_statements(workflow):
            assert statement["Action"] == "kms:Decrypt", (region, rid)
            roles = {r["Ref"] for r in workflow["Resources"][rid]["Properties"]["Roles"]}
            if statement["Condition"].get("StringLike") == {
                f"kms:EncryptionContext:{CONTEXT_VARIABLE}": "webhook/*"
            }:
                webhook_roles |= roles
            else:
                opening_roles |= roles

        role_of = {
            name: {f["Role"]["Fn::GetAtt"][0]}
            for f in props(workflow, "AWS::Lambda::Function")
            for name in ("deploy-worker", "webhook-deliveries")
            if f["FunctionName"] == CATALOGUE.function_name(name)
        }
        assert opening_roles == role_of["deploy-worker"], region
        assert webhook_roles == role_of["webhook-deliveries"], region
        for part in ("build", "events", "runtime", "observability"):
            assert _key_statements(parts[part]) == [], (region, part)


def test_every_use_of_the_key_needs_a_service_and_variable_context(cloud: Synthesized) -> None:
    used = [s for t in cloud.all for _, s in _key_statements(t)]
    # The API seals and opens Git links' webhook secrets; the deploy and webhook workers open.
    assert len(used) == 4 * len(REGIONS)
    for statement in used:
        condition = statement["Condition"]
        assert condition["ForAllValues:StringEquals"]["kms:EncryptionContextKeys"] == [
            CONTEXT_SERVICE,
            CONTEXT_VARIABLE,
        ]
        assert condition["Null"] == {
            f"kms:EncryptionContext:{CONTEXT_SERVICE}": "false",
            f"kms:EncryptionContext:{CONTEXT_VARIABLE}": "false",
        }
        assert f":kms:{REGIONS[0]}:" in str(rendered(statement["Resource"]))


def test_every_function_names_the_primary_region_s_key_by_alias(cloud: Synthesized) -> None:
    seen = 0
    for parts in cloud.by_region.values():
        for template in parts.values():
            for kind in ("AWS::Lambda::Function", "AWS::Serverless::Function"):
                for function in platform_resources(template, kind).values():
                    value = rendered(
                        function["Properties"]["Environment"]["Variables"]["RAILYARD_KMS_KEY_ID"]
                    )
                    assert value == f"arn:${{AWS::Partition}}:kms:{REGIONS[0]}:${{AWS::AccountId}}:{ALIAS}"
                    seen += 1
    # every consumer and schedule, the API's handler, its authorizer and the WebSocket API's handlers
    functions = len(CATALOGUE.consumers) + len(CATALOGUE.schedules) + 2 + len(WEBSOCKET_FUNCTIONS)
    assert seen == len(REGIONS) * functions
