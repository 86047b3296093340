"""The API's front door (stacks/api.py, docs/decisions/0018 and 0026): an HTTP API whose routes are
the Chalice app's own, each a payload-format-1.0 proxy to the Chalice handler, every route the OpenAPI
document secures behind the Lambda authorizer Chalice packages (cached at most as long as the
revocation bound allows), throttled on its `api` stage, with the URL the CLI takes as output, no REST
API left, and its 5xx alarmed on. And the proof that Chalice answers the events such an API sends:
HTTP API v1.0 events (tests/support/http_api.py) given to the app in-process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib.catalogue import API_THROTTLE_BURST, API_THROTTLE_RATE, OUTPUT_API_URL
from stacks.live import WEBSOCKET_FUNCTIONS
from tests.cdk.conftest import (
    CATALOGUE,
    REGIONS,
    Synthesized,
    Template,
    exported_logical_id,
    of,
    props,
    rendered,
)
from tests.support.http_api import API_HOST, in_memory_app, v1_event

TOKEN = "ry_http_api_test_token"
# Public routes that answer an empty request with an error of their own (still their view's answer).
PUBLIC_NEEDING_INPUT = {
    "POST /v1/auth/device/token": 400,  # no deviceCode
    "POST /v1/auth/device/code": 200,  # needs no input
    "GET /v1/auth/github/start": 404,  # GitHub sign-in not configured
    "GET /v1/auth/github/callback": 404,
    "POST /v1/webhooks/github": 404,  # names no linked service (?service=)
}


def _http_apis(template: Template) -> dict[str, dict[str, Any]]:
    """The HTTP APIs of a template (not the live-updates WebSocket API beside them)."""
    apis = of(template, "AWS::ApiGatewayV2::Api")
    return {k: r for k, r in apis.items() if r["Properties"]["ProtocolType"] == "HTTP"}


def _chalice_route_keys() -> list[str]:
    from app import app

    return sorted(f"{method} {path}" for path, methods in app.routes.items() for method in methods)


def test_every_chalice_route_is_one_http_api_route_proxied_to_the_handler_with_payload_1_0(
    cloud: Synthesized,
) -> None:
    expected = _chalice_route_keys()
    assert len(expected) >= 20  # the app's route table was really read
    for region in REGIONS:
        api = cloud.by_region[region]["api"]
        (api_id,) = _http_apis(api)
        # The WebSocket API's routes are its own (tests/cdk/test_live_api.py).
        routes = [r for r in props(api, "AWS::ApiGatewayV2::Route") if r["ApiId"] == {"Ref": api_id}]
        assert sorted(r["RouteKey"] for r in routes) == expected, region  # each once, no other
        functions = of(api, "AWS::Serverless::Function")
        handler = [k for k, r in functions.items() if r["Properties"]["Handler"] == "app.app"]
        for route in routes:
            assert route["ApiId"] == {"Ref": api_id}
            integration_id = rendered(route["Target"]).removeprefix("integrations/${").removesuffix("}")
            integration = api["Resources"][integration_id]["Properties"]
            assert integration["IntegrationType"] == "AWS_PROXY"
            assert integration["PayloadFormatVersion"] == "1.0"  # what Chalice dispatches on
            assert integration["IntegrationUri"] == {"Fn::GetAtt": [*handler, "Arn"]}


def _secured_route_keys() -> set[str]:
    """The routes the OpenAPI document says need a bearer token."""
    import app  # noqa: F401  (fills the route table the document is made from)
    from chalicelib.api.meta import openapi_document

    paths = openapi_document()["paths"]
    return {f"{m.upper()} {p}" for p, ops in paths.items() for m, op in ops.items() if op.get("security")}


def test_every_secured_route_is_behind_the_authorizer_and_no_public_one_is(cloud: Synthesized) -> None:
    secured = _secured_route_keys()
    public = set(_chalice_route_keys()) - secured
    assert "GET /v1/projects" in secured and "GET /v1/health" in public  # the document was really read
    for region in REGIONS:
        api = cloud.by_region[region]["api"]
        (authorizer_id,) = of(api, "AWS::ApiGatewayV2::Authorizer")
        routes = {r["RouteKey"]: r for r in props(api, "AWS::ApiGatewayV2::Route")}
        for key in secured:
            assert routes[key]["AuthorizationType"] == "CUSTOM", (region, key)
            assert routes[key]["AuthorizerId"] == {"Ref": authorizer_id}, (region, key)
        for key in public:
            assert routes[key].get("AuthorizationType", "NONE") == "NONE", (region, key)
            assert "AuthorizerId" not in routes[key], (region, key)


def test_the_authorizer_is_chalices_authorizer_function_on_the_authorization_header(
    cloud: Synthesized,
) -> None:
    from chalicelib.api.authorizer import REVOKED_TOKEN_STOPS_WITHIN_SECONDS
    from chalicelib.domain.authentication import TOKEN_CACHE_SECONDS

    for region in REGIONS:
        api = cloud.by_region[region]["api"]
        (api_id,) = _http_apis(api)
        (authorizer,) = props(api, "AWS::ApiGatewayV2::Authorizer")
        functions = of(api, "AWS::Serverless::Function")
        (function_id,) = [
            k
            for k, r in functions.items()
            if r["Properties"]["Handler"] == "chalicelib.api.authorizer.authenticate"
        ]
        assert authorizer["ApiId"] == {"Ref": api_id}
        assert authorizer["AuthorizerType"] == "REQUEST"
        assert authorizer["IdentitySource"] == ["$request.header.Authorization"]
        # 1.0 with an IAM policy answer: what Chalice's AuthResponse is (no simple responses).
        assert authorizer["AuthorizerPayloadFormatVersion"] == "1.0"
        assert not authorizer.get("EnableSimpleResponses")
        assert function_id in json.dumps(authorizer["AuthorizerUri"])
        # A revoked token: the gateway's cached answer, then the authorizer's own token cache.
        ttl = authorizer["AuthorizerResultTtlInSeconds"]
        assert ttl > 0 and ttl + TOKEN_CACHE_SECONDS <= REVOKED_TOKEN_STOPS_WITHIN_SECONDS == 60
        # The authorizer function gets the same settings as the handler.
        handler = next(r for r in functions.values() if r["Properties"]["Handler"] == "app.app")
        variables = functions[function_id]["Properties"]["Environment"]["Variables"]
        assert variables == handler["Properties"]["Environment"]["Variables"]


def test_the_api_stage_is_throttled_and_the_url_output_is_the_base_the_cli_takes(cloud: Synthesized) -> None:
    for region in REGIONS:
        api = cloud.by_region[region]["api"]
        (api_id,) = _http_apis(api)
        # No $default stage besides it (the WebSocket API's stage is its own: test_live_api.py).
        (stage,) = [s for s in props(api, "AWS::ApiGatewayV2::Stage") if s["ApiId"] == {"Ref": api_id}]
        assert stage["StageName"] == "api" and stage["AutoDeploy"] is True
        assert stage["DefaultRouteSettings"] == {
            "ThrottlingRateLimit": API_THROTTLE_RATE,
            "ThrottlingBurstLimit": API_THROTTLE_BURST,
        }
        # A named stage prefixes every route: https://<id>.execute-api.<region>.amazonaws.com/api/v1/...
        template, values = api["Outputs"][OUTPUT_API_URL]["Value"]["Fn::Sub"]
        assert template == "https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/api"
        assert values == {"Api": {"Ref": api_id}}
        (name,) = [r["Properties"]["Name"] for r in _http_apis(api).values()]
        assert name == CATALOGUE.stack_name("api")


def test_the_rest_api_chalice_generates_is_gone_and_only_the_http_api_may_invoke(cloud: Synthesized) -> None:
    for region in REGIONS:
        api = cloud.by_region[region]["api"]
        kinds = {r["Type"] for r in api["Resources"].values()}
        assert not {k for k in kinds if k.startswith("AWS::ApiGateway::") or k == "AWS::Serverless::Api"}
        assert "RestAPI" not in json.dumps(api)  # no output or reference names it either
        (api_id,) = _http_apis(api)
        (authorizer_id,) = of(api, "AWS::ApiGatewayV2::Authorizer")
        # One for the handler (the whole API, not one per route) and one for the authorizer.
        websocket = [{"Ref": name} for name in WEBSOCKET_FUNCTIONS]  # invoked by the WebSocket API
        permissions = [p for p in props(api, "AWS::Lambda::Permission") if p["FunctionName"] not in websocket]
        assert {p["Principal"] for p in permissions} == {"apigateway.amazonaws.com"}
        assert {p["Action"] for p in permissions} == {"lambda:InvokeFunction"}
        assert sorted(rendered(p["SourceArn"]).rsplit(":", 1)[1] for p in permissions) == sorted(
            [f"${{{api_id}}}/*/*/*", f"${{{api_id}}}/authorizers/${{{authorizer_id}}}"]
        )


def test_the_api_5xx_alarm_and_graph_watch_the_http_api_stage(cloud: Synthesized) -> None:
    for region in REGIONS:
        observability, api = cloud.by_region[region]["observability"], cloud.by_region[region]["api"]
        (alarm,) = [
            a
            for a in props(observability, "AWS::CloudWatch::Alarm")
            if a["AlarmName"] == f"{CATALOGUE.stack_name('api')}-5xx"
        ]
        metric = (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"])
        assert metric == ("AWS/ApiGateway", "5xx", "Average")  # 0/1 per request: the error rate
        dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
        assert dimensions["Stage"] == "api"
        assert exported_logical_id(api, dimensions["ApiId"]) in _http_apis(api)
        (dashboard,) = props(observability, "AWS::CloudWatch::Dashboard")
        body = json.dumps(dashboard["DashboardBody"])
        assert '\\"5xx\\"' in body and "5XXError" not in body


# --- Chalice answers HTTP API v1.0 events -----------------------------------------------------------


@pytest.fixture
def chalice_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    with in_memory_app(monkeypatch, tmp_path, TOKEN) as app:
        yield app


def test_chalice_answers_an_http_api_event_for_every_route_it_declares(chalice_app: Any) -> None:
    from chalicelib.api.routing import ROUTES

    public = {f"{r.method} {r.path}" for r in ROUTES if r.public}
    for key in _chalice_route_keys():
        method, route_path = key.split(" ", 1)
        params = {name.strip("{}"): "x1" for name in route_path.split("/") if name.startswith("{")}
        answer = chalice_app(v1_event(method, route_path, params or None), None)
        # Dispatched to the view, which asked for a token: not Chalice's 405/500 for a lost route.
        # Dispatched to the view, which asked for a token (or, on a public POST such as sign-in,
        # for a body): not Chalice's 405/500 for a lost route.
        expected = (
            401 if key not in public else PUBLIC_NEEDING_INPUT.get(key, 200 if method == "GET" else 400)
        )
        assert answer["statusCode"] == expected, (key, answer["body"])
        if key not in public:
            assert json.loads(answer["body"])["Code"] == "Unauthorized"
    openapi = json.loads(chalice_app(v1_event("GET", "/v1/openapi.json"), None)["body"])
    assert "/v1/projects/{project_id}" in openapi["paths"]


def test_a_project_created_and_read_through_http_api_events_round_trips(chalice_app: Any) -> None:
    created = chalice_app(v1_event("POST", "/v1/projects", body=b'{"name": "demo"}', token=TOKEN), None)
    assert created["statusCode"] == 201, created["body"]
    project = json.loads(created["body"])["project"]
    assert project["name"] == "demo"
    read = chalice_app(
        v1_event("GET", "/v1/projects/{project_id}", {"project_id": project["id"]}, token=TOKEN), None
    )
    assert read["statusCode"] == 200
    assert json.loads(read["body"])["project"] == project
    missing = chalice_app(
        v1_event("GET", "/v1/projects/{project_id}", {"project_id": "prj_none"}, token=TOKEN), None
    )
    assert missing["statusCode"] == 404


def test_the_device_sign_in_page_url_carries_the_stage_path(chalice_app: Any) -> None:
    answer = chalice_app(v1_event("POST", "/v1/auth/device/code"), None)

    assert answer["statusCode"] == 200, answer["body"]
    assert json.loads(answer["body"])["verificationUri"] == f"https://{API_HOST}/api/v1/auth/device"
