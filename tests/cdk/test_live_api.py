"""The live-updates WebSocket API in the CDK app (docs/decisions/0040): Chalice's WebSocket API with
its three routes in every region, its URL in the environment of the functions that push (the API's,
the WebSocket handlers', the workers that write deployments or logs) and their grant to post to its
connections; the event fan-out consumers get no grant."""

from __future__ import annotations

import json
from typing import Any

from stacks.live import URL_VARIABLE, WEBSOCKET_FUNCTIONS
from tests.cdk.conftest import REGIONS, Synthesized, Template, of

MANAGE = "execute-api:ManageConnections"


def _functions(template: Template) -> dict[str, dict[str, Any]]:
    return {**of(template, "AWS::Lambda::Function"), **of(template, "AWS::Serverless::Function")}


def _granted_roles(template: Template) -> set[str]:
    """Logical ids of the roles a policy of this template lets post to connections."""
    roles: set[str] = set()
    for policy in of(template, "AWS::IAM::Policy").values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        if any(MANAGE in json.dumps(s["Action"]) for s in statements):
            roles |= {r["Ref"] for r in policy["Properties"]["Roles"] if isinstance(r, dict) and "Ref" in r}
    return roles


def _role_of(function: dict[str, Any]) -> str:
    role = function["Properties"]["Role"]
    return str(role["Fn::GetAtt"][0] if "Fn::GetAtt" in role else role)


def test_each_region_has_the_websocket_api_with_its_three_routes_and_pushers_know_its_url(
    cloud: Synthesized,
) -> None:
    for region in REGIONS:
        api = cloud.by_region[region]["api"]
        (ws_id,) = [
            k
            for k, r in of(api, "AWS::ApiGatewayV2::Api").items()
            if r["Properties"]["ProtocolType"] == "WEBSOCKET"
        ]
        keys = sorted(
            r["Properties"]["RouteKey"]
            for r in of(api, "AWS::ApiGatewayV2::Route").values()
            if r["Properties"]["ApiId"] == {"Ref": ws_id}
        )
        assert keys == ["$connect", "$default", "$disconnect"], region
        functions = _functions(api)
        for name in (*WEBSOCKET_FUNCTIONS, "APIHandler"):
            url = functions[name]["Properties"]["Environment"]["Variables"][URL_VARIABLE]
            assert "wss://${Ws}.execute-api" in json.dumps(url) and ws_id in json.dumps(url), (region, name)


def test_the_functions_that_write_deployments_or_logs_may_post_to_connections_and_fan_out_may_not(
    cloud: Synthesized,
) -> None:
    for region in REGIONS:
        workflow = cloud.by_region[region]["workflow"]
        granted = _granted_roles(workflow)
        functions = _functions(workflow)
        by_key = {rid: _role_of(f) for rid, f in functions.items()}
        deploy = [rid for rid in by_key if "deployworker" in rid.lower()]
        assert deploy and all(by_key[rid] in granted for rid in deploy), region
        for rid in deploy:
            assert URL_VARIABLE in functions[rid]["Properties"]["Environment"]["Variables"]
        notify = [rid for rid in by_key if "notification" in rid.lower()]
        assert notify and not any(by_key[rid] in granted for rid in notify), region
        api = cloud.by_region[region]["api"]
        assert MANAGE in json.dumps(api), region  # the API's role (its handlers and the WebSocket's)
