"""The front door's authorizer (chalicelib/api/authorizer.py, docs/decisions/0026) given the events
an HTTP API sends (tests/support/http_api.py), in-process, and behind `chalice local`'s gateway
emulation on a real socket (railyard dev's API server):

- the authorizer answers a REQUEST event with an IAM policy allowing every route (its answer is
  cached per Authorization header and reused for any route) and the principal in its context;
- the view gets the principal from that context, and the policy function still decides;
- a refused token is a 401 with `{"Code","Message"}`, in AWS as locally;
- nothing a client sends becomes the authorizer's context.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from chalice.local import ARNMatcher

from chalicelib.api.authorizer import authenticate, decode_principal, encode_principal
from chalicelib.domain.policy import ROLE_ACTIONS, Action, Grant, Principal
from tests.support.http_api import authorizer_event, in_memory_app, method_arn, v1_event

TOKEN = "ry_authorizer_test_token"
# Someone the repository has never heard of: only the authorizer's context can name them.
ADA = Principal(
    kind="user",
    subject="usr_ada",
    grants=(Grant("org_ada", ROLE_ACTIONS["viewer"]),),
    name="ada@example.com",
    user_id="usr_ada",
    session_id="ses_ada",
)


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Any]:
    with in_memory_app(monkeypatch, tmp_path, TOKEN) as chalice_app:
        yield chalice_app


def _context_of(principal: Principal) -> dict[str, Any]:
    """requestContext.authorizer as API Gateway fills it: the context, principalId, the latency."""
    return {
        "principal": encode_principal(principal),
        "principalId": principal.subject,
        "integrationLatency": 41,
    }


def _answer(response: dict[str, Any]) -> tuple[int, Any]:
    return response["statusCode"], json.loads(response["body"])


def test_the_authorizer_allows_every_route_and_names_the_caller_in_string_values(app: Any) -> None:
    answer = authenticate(authorizer_event("GET", "/v1/projects", TOKEN), None)

    (statement,) = answer["policyDocument"]["Statement"]
    assert (statement["Effect"], statement["Action"]) == ("Allow", "execute-api:Invoke")
    # Cached per header value, the answer serves the next route too: it must allow each of them.
    from app import app as chalice_app

    for path, methods in chalice_app.routes.items():
        for method in methods:
            arn = method_arn(method, path.replace("{", "").replace("}", ""))
            assert ARNMatcher(arn).does_any_resource_match(statement["Resource"]), arn
    assert all(isinstance(value, str) for value in answer["context"].values())  # all 1.0 allows
    principal = decode_principal(answer["context"]["principal"])
    assert (principal.kind, principal.name, answer["principalId"]) == ("token", "test", principal.subject)
    assert principal.grants[0].actions == frozenset(Action)


def test_a_principal_survives_the_context_with_every_field() -> None:
    narrowed = Principal(
        kind="token",
        subject="tok_1",
        grants=(Grant("org_1", frozenset({Action.DEPLOY, Action.READ}), "prj_1", "env_1", "svc_1"),),
        name="ci",
        user_id="usr_1",
        token_id="tok_1",
    )
    for principal in (narrowed, ADA):
        assert decode_principal(encode_principal(principal)) == principal


def test_the_view_gets_the_principal_from_the_authorizers_context_and_the_policy_still_decides(
    app: Any,
) -> None:
    # The header's token is not valid: had the view authenticated it again, this would be a 401.
    context = _context_of(ADA)
    me = app(v1_event("GET", "/v1/whoami", token="not-a-token", authorizer=context), None)
    created = app(
        v1_event("POST", "/v1/projects", body=b'{"name": "x"}', token="x", authorizer=context), None
    )

    status, body = _answer(me)
    assert status == 200, body
    assert (body["whoami"]["kind"], body["whoami"]["name"]) == ("user", "ada@example.com")
    assert [(g["workspaceId"], g["role"]) for g in body["whoami"]["grants"]] == [("org_ada", "viewer")]
    assert _answer(created)[0] == 403  # a viewer may see the workspace, not manage it


def test_a_refused_token_is_a_401_with_code_and_message_through_the_authorizer(app: Any) -> None:
    refused = authenticate(authorizer_event("GET", "/v1/projects", "forged"), None)
    # Allowed on purpose (a deny could only be API Gateway's 403 {"message":"Forbidden"}) ...
    assert refused["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert "principal" not in refused["context"]
    context = {**refused["context"], "principalId": refused["principalId"]}

    # ... and the route answers what the authorizer found.
    answer = app(v1_event("GET", "/v1/projects", token="forged", authorizer=context), None)

    assert _answer(answer) == (401, {"Code": "Unauthorized", "Message": "the bearer token is not valid"})


def test_a_client_header_cannot_stand_in_for_the_authorizers_context(app: Any) -> None:
    forged = encode_principal(Principal("user", "usr_evil", (Grant("org_ada", frozenset(Action)),)))
    headers = {
        "principal": forged,
        "authorizer": json.dumps({"principal": forged}),
        "x-amzn-authorizer": forged,
    }

    # No authorizer ran (no context): the wrapper authenticates the header itself, the same way.
    anonymous = app(v1_event("GET", "/v1/whoami", token="forged", headers=headers), None)
    # The authorizer ran for a real token: its answer, not the client's headers, names the caller.
    answer = authenticate(authorizer_event("GET", "/v1/whoami", TOKEN), None)
    real = app(
        v1_event("GET", "/v1/whoami", token=TOKEN, headers=headers, authorizer=answer["context"]), None
    )

    assert _answer(anonymous)[0] == 401
    status, body = _answer(real)
    assert status == 200 and body["whoami"]["kind"] == "token" and body["whoami"]["name"] == "test"


# --- the same authorizer in `chalice local`'s gateway (railyard dev, chalice.test.Client) ------------


def test_the_local_api_server_runs_the_authorizer_and_answers_as_api_gateway_does(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from railyard.localdev.api_server import ApiServer

    called: list[str] = []
    original = authenticate.func

    def recording(auth_request: Any) -> Any:
        called.append(auth_request.token)
        return original(auth_request)

    monkeypatch.setattr(authenticate, "func", recording)
    forged = encode_principal(Principal("user", "usr_evil", (Grant("org_x", frozenset(Action)),)))
    server = ApiServer(app).start()
    try:
        me = requests.get(f"{server.url}/v1/whoami", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        health = requests.get(f"{server.url}/v1/health", timeout=10)
        missing = requests.get(f"{server.url}/v1/whoami", timeout=10)
        refused = requests.get(
            f"{server.url}/v1/whoami",
            headers={"Authorization": "Bearer forged", "principal": forged, "authorizer": forged},
            timeout=10,
        )
    finally:
        server.stop()

    assert me.status_code == 200 and me.json()["whoami"]["name"] == "test"
    assert health.status_code == 200  # a public route: no authorizer
    assert called == [f"Bearer {TOKEN}", "Bearer forged"]  # never for the public route or no header
    # No header: the gateway's own answer, without calling the authorizer (API Gateway's, too).
    assert (missing.status_code, missing.json()) == (401, {"message": "Unauthorized"})
    assert (refused.status_code, refused.json()["Code"]) == (401, "Unauthorized")
