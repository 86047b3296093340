"""The events an API Gateway HTTP API sends on the `api` stage, payload format 1.0, shaped as AWS
documents them (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html
and .../http-api-lambda-authorizer.html), and the real Chalice app wired to an in-memory repository
to give them to in-process.
"""

from __future__ import annotations

import base64
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import InMemoryRepository
from tests.support.identity import MemoryDeviceGrants, MemoryRateLimiter

API_HOST = "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"
API_ID = API_HOST.split(".")[0]
ACCOUNT = "123456789012"


def _headers(token: str | None, extra: dict[str, str] | None) -> dict[str, str]:
    # Header names as HTTP/2 clients send them: lowercase.
    headers = {"host": API_HOST, "user-agent": "railyard-cli", "content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    return {**headers, **(extra or {})}


def method_arn(method: str, path: str) -> str:
    return f"arn:aws:execute-api:us-east-1:{ACCOUNT}:{API_ID}/api/{method}{path}"


def v1_event(
    method: str,
    route_path: str,
    params: dict[str, str] | None = None,
    body: bytes | None = None,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    authorizer: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An integration event for `method route_path` (a body base64-encoded, as API Gateway may do
    for any content type); `authorizer` is the context API Gateway adds after its authorizer ran."""
    path = route_path.format(**(params or {}))
    sent = _headers(token, headers)
    context: dict[str, Any] = {
        "accountId": ACCOUNT,
        "apiId": API_ID,
        "domainName": API_HOST,
        "domainPrefix": API_ID,
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
    }
    if authorizer is not None:
        context["authorizer"] = authorizer
    return {
        "version": "1.0",
        "resource": route_path,
        "path": path,
        "httpMethod": method,
        "headers": sent,
        "multiValueHeaders": {k: [v] for k, v in sent.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "requestContext": context,
        "pathParameters": params,
        "stageVariables": None,
        "body": base64.b64encode(body).decode() if body is not None else None,
        "isBase64Encoded": body is not None,
    }


def authorizer_event(
    method: str, route_path: str, token: str, params: dict[str, str] | None = None
) -> dict[str, Any]:
    """What a REQUEST authorizer with payload format 1.0 and identity source
    `$request.header.Authorization` is called with: the integration event's fields plus the method
    ARN and the identity source's value (also as `authorizationToken`)."""
    event = v1_event(method, route_path, params, token=token)
    path = route_path.format(**(params or {}))
    header = event["headers"]["authorization"]
    return {
        "version": "1.0",
        "type": "REQUEST",
        "methodArn": method_arn(method, path),
        "identitySource": header,
        "authorizationToken": header,
        **{k: v for k, v in event.items() if k not in ("version", "body", "isBase64Encoded")},
    }


@contextlib.contextmanager
def in_memory_app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, token: str) -> Iterator[Any]:
    """app.app with an in-memory repository holding one admin token (nothing reaches AWS)."""
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
    container = wiring.Container(
        settings,
        repository=InMemoryRepository(),
        device_grants=MemoryDeviceGrants(),
        rate_limiter=MemoryRateLimiter(),
        # The session signing keys in memory, not in Secrets Manager (GET /.well-known/jwks.json).
        key_ring=CachedKeyRing(lambda: new_ring(int(time.time()))),
    )
    container.auth.ensure_token(token, settings.org_id, "test")
    wiring.use(container)
    try:
        yield app
    finally:
        wiring.use(None)
