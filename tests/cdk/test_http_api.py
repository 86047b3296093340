"""The API's front door (stacks/api.py, docs/decisions/0018): an HTTP API whose routes are the Chalice
app's own, each a payload-format-1.0 proxy to the Chalice handler, throttled on its `api` stage,
with the URL the CLI takes as output, no REST API left, and its 5xx alarmed on. And the proof that
Chalice answers the events such an API sends: HTTP API v1.0 events, shaped as AWS documents them
(https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html),
given to the app in-process."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib.catalogue import API_THROTTLE_BURST, API_THROTTLE_RATE, OUTPUT_API_URL
from tests.cdk.conftest import CATALOGUE, REGIONS, Synthesized, exported_logical_id, of, props, rendered
from tests.fakes import InMemoryRepository
from tests.support.identity import MemoryDeviceGrants, MemoryRateLimiter

API_HOST = "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"
TOKEN = "ry_http_api_test_token"
# Public routes that answer an empty request with an error of their own (still their view's answer).
PUBLIC_NEEDING_INPUT = {
    "POST /v1/auth/device/token": 400,  # no deviceCode
    "POST /v1/auth/device/code": 200,  # needs no input
    "GET /v1/auth/github/start": 404,  # GitHub sign-in not configured
    "GET /v1/auth/github/callback": 404,
}


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
        (api_id,) = of(api, "AWS::ApiGatewayV2::Api")
        routes = props(api, "AWS::ApiGatewayV2::Route")
        assert sorted(r["RouteKey"] for r in routes) == expected, region  # each once, no other
        functions = of(api, "AWS::Serverless::Function")
        handler = [k for k, r in functions.items() if r["Properties"]["Handler"] == "app.app"]
        for route in routes:
            assert route["ApiId"] == {"Ref": api_id}
            assert route.get("AuthorizationType", "NONE") == "NONE"  # the app checks its bearer tokens
            integration_id = rendered(route["Target"]).removeprefix("integrations/${").removesuffix("}")
            integration = api["Resources"][integration_id]["Properties"]
            assert integration["IntegrationType"] == "AWS_PROXY"
            assert integration["PayloadFormatVersion"] == "1.0"  # what Chalice dispatches on
            assert integration["IntegrationUri"] == {"Fn::GetAtt": [*handler, "Arn"]}


def test_the_api_stage_is_throttled_and_the_url_output_is_the_base_the_cli_takes(cloud: Synthesized) -> None:
    for region in REGIONS:
        api = cloud.by_region[region]["api"]
        (api_id,) = of(api, "AWS::ApiGatewayV2::Api")
        (stage,) = props(api, "AWS::ApiGatewayV2::Stage")  # no $default stage besides it
        assert stage["StageName"] == "api" and stage["AutoDeploy"] is True
        assert stage["DefaultRouteSettings"] == {
            "ThrottlingRateLimit": API_THROTTLE_RATE,
            "ThrottlingBurstLimit": API_THROTTLE_BURST,
        }
        # A named stage prefixes every route: https://<id>.execute-api.<region>.amazonaws.com/api/v1/...
        template, values = api["Outputs"][OUTPUT_API_URL]["Value"]["Fn::Sub"]
        assert template == "https://${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}/api"
        assert values == {"Api": {"Ref": api_id}}
        (name,) = [p["Name"] for p in props(api, "AWS::ApiGatewayV2::Api")]
        assert name == CATALOGUE.stack_name("api")


def test_the_rest_api_chalice_generates_is_gone_and_only_the_http_api_may_invoke(cloud: Synthesized) -> None:
    for region in REGIONS:
        api = cloud.by_region[region]["api"]
        kinds = {r["Type"] for r in api["Resources"].values()}
        assert not {k for k in kinds if k.startswith("AWS::ApiGateway::") or k == "AWS::Serverless::Api"}
        assert "RestAPI" not in json.dumps(api)  # no output or reference names it either
        (api_id,) = of(api, "AWS::ApiGatewayV2::Api")
        (permission,) = props(api, "AWS::Lambda::Permission")  # one for the API, not one per route
        assert permission["Principal"] == "apigateway.amazonaws.com"
        assert rendered(permission["SourceArn"]).endswith(f":${{{api_id}}}/*/*/*")


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
        assert exported_logical_id(api, dimensions["ApiId"]) in of(api, "AWS::ApiGatewayV2::Api")
        (dashboard,) = props(observability, "AWS::CloudWatch::Dashboard")
        body = json.dumps(dashboard["DashboardBody"])
        assert '\\"5xx\\"' in body and "5XXError" not in body


# --- Chalice answers HTTP API v1.0 events -----------------------------------------------------------


def _event(
    method: str,
    route_path: str,
    params: dict[str, str] | None = None,
    body: bytes | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    """An HTTP API payload-1.0 event for `method route_path` on the `api` stage (header names as
    HTTP/2 clients send them; a body API Gateway base64-encodes, as it may for any content type)."""
    path = route_path.format(**(params or {}))
    headers = {"host": API_HOST, "user-agent": "railyard-cli", "content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    return {
        "version": "1.0",
        "resource": route_path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": API_HOST.split(".")[0],
            "domainName": API_HOST,
            "domainPrefix": API_HOST.split(".")[0],
            "extendedRequestId": "request-id",
            "httpMethod": method,
            "identity": {"sourceIp": "192.0.2.1", "userAgent": "railyard-cli"},
            "path": f"/api{path}",
            "protocol": "HTTP/1.1",
            "requestId": "request-id",
            "requestTime": "03/Dec/2026:20:00:00 +0000",
            "requestTimeEpoch": 1796328000000,
            "resourceId": None,
            "resourcePath": route_path,
            "stage": "api",
        },
        "pathParameters": params,
        "stageVariables": None,
        "body": base64.b64encode(body).decode() if body is not None else None,
        "isBase64Encoded": body is not None,
    }


@pytest.fixture
def chalice_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    """app.app with an in-memory repository holding one token (nothing reaches AWS)."""
    from app import app
    from chalicelib import wiring
    from chalicelib.adapters.session_keys import CachedKeyRing, new_ring
    from chalicelib.config import Settings

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "RAILYARD_STAGE": "test",
        "RAILYARD_DATA_DIR": str(tmp_path),
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env()
    # The session signing keys in memory, not in Secrets Manager (GET /.well-known/jwks.json).
    keys = CachedKeyRing(lambda: new_ring(int(time.time())))
    container = wiring.Container(
        settings,
        repository=InMemoryRepository(),
        device_grants=MemoryDeviceGrants(),
        rate_limiter=MemoryRateLimiter(),
        key_ring=keys,
    )
    container.auth.ensure_token(TOKEN, settings.org_id, "test")
    wiring.use(container)
    yield app
    wiring.use(None)


def test_chalice_answers_an_http_api_event_for_every_route_it_declares(chalice_app: Any) -> None:
    from chalicelib.api.routing import ROUTES

    public = {f"{r.method} {r.path}" for r in ROUTES if r.public}
    for key in _chalice_route_keys():
        method, route_path = key.split(" ", 1)
        params = {name.strip("{}"): "x1" for name in route_path.split("/") if name.startswith("{")}
        answer = chalice_app(_event(method, route_path, params or None), None)
        # Dispatched to the view, which asked for a token: not Chalice's 405/500 for a lost route.
        # Dispatched to the view, which asked for a token (or, on a public POST such as sign-in,
        # for a body): not Chalice's 405/500 for a lost route.
        expected = (
            401 if key not in public else PUBLIC_NEEDING_INPUT.get(key, 200 if method == "GET" else 400)
        )
        assert answer["statusCode"] == expected, (key, answer["body"])
        if key not in public:
            assert json.loads(answer["body"])["Code"] == "Unauthorized"
    openapi = json.loads(chalice_app(_event("GET", "/v1/openapi.json"), None)["body"])
    assert "/v1/projects/{project_id}" in openapi["paths"]


def test_a_project_created_and_read_through_http_api_events_round_trips(chalice_app: Any) -> None:
    created = chalice_app(_event("POST", "/v1/projects", body=b'{"name": "demo"}', token=TOKEN), None)
    assert created["statusCode"] == 201, created["body"]
    project = json.loads(created["body"])["project"]
    assert project["name"] == "demo"
    read = chalice_app(
        _event("GET", "/v1/projects/{project_id}", {"project_id": project["id"]}, token=TOKEN), None
    )
    assert read["statusCode"] == 200
    assert json.loads(read["body"])["project"] == project
    missing = chalice_app(
        _event("GET", "/v1/projects/{project_id}", {"project_id": "prj_none"}, token=TOKEN), None
    )
    assert missing["statusCode"] == 404


def test_the_device_sign_in_page_url_carries_the_stage_path(chalice_app: Any) -> None:
    answer = chalice_app(_event("POST", "/v1/auth/device/code"), None)

    assert answer["statusCode"] == 200, answer["body"]
    assert json.loads(answer["body"])["verificationUri"] == f"https://{API_HOST}/api/v1/auth/device"
