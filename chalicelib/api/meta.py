"""Public routes: health and the OpenAPI document (generated from the route table and schemas)."""

from __future__ import annotations

import re
from typing import Any

from chalice import Blueprint

from chalicelib.api.routing import IDEMPOTENCY_HEADER, IDEMPOTENCY_KEY_PATTERN, ROUTES, Context, route

bp = Blueprint(__name__)

# The header every creating route accepts (routing.route(..., idempotent=True)).
_IDEMPOTENCY_KEY_PARAMETER = {
    "name": IDEMPOTENCY_HEADER,
    "in": "header",
    "required": False,
    "description": "A fresh value (a uuid) per user action, reused on its retries: for 24 hours "
    "(RAILYARD_IDEMPOTENCY_TTL_SECONDS) the same key and body from the same token get the first "
    "answer again, with the header Idempotent-Replayed: true, and create nothing. Only successful "
    "answers are kept. The same key with another body is 409 IdempotencyKeyReused; while the first "
    "request still runs, 409 RequestInProgress.",
    "schema": {"type": "string", "pattern": f"^{IDEMPOTENCY_KEY_PATTERN}$"},
}


@route(bp, "/v1/health", public=True)
def health(ctx: Context) -> tuple[int, Any]:
    """Liveness of the API, and where its live updates are (a WebSocket URL; docs/api.md)."""
    live = ctx.c.settings.websocket_url
    return 200, {"status": "ok", **({"websocketUrl": live} if live else {})}


@route(bp, "/v1/openapi.json", public=True)
def openapi(ctx: Context) -> tuple[int, Any]:
    """The OpenAPI 3.1 document of this API."""
    return 200, openapi_document()


def openapi_document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {
        "Error": {
            "type": "object",
            "required": ["Code", "Message"],
            "properties": {"Code": {"type": "string"}, "Message": {"type": "string"}},
        }
    }
    for info in ROUTES:
        operation: dict[str, Any] = {
            "summary": info.summary,
            "responses": {
                str(info.status): {"description": "OK", "content": {info.media_type: {}}},
                "default": {
                    "description": "Error",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                },
            },
            "parameters": [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in re.findall(r"{(\w+)}", info.path)
            ],
        }
        if not info.public:
            operation["security"] = [{"bearer": []}]
            # The action the one policy function checks (chalicelib/domain/policy.py): which roles
            # and tokens may call it. The tenant-isolation tests are generated from this.
            operation["x-railyard-action"] = info.action.value if info.action else None
            if info.people_only:  # a signed-in person's session only: API tokens get 403
                operation["x-railyard-people-only"] = True
        if info.idempotent:
            operation["parameters"].append({"$ref": "#/components/parameters/IdempotencyKey"})
            operation["responses"]["409"] = {
                "description": "Conflict; with an Idempotency-Key also IdempotencyKeyReused (the key "
                "answered another body) or RequestInProgress (the first request has not finished)",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
        if info.request_model is not None:
            name = info.request_model.__name__
            schema = info.request_model.model_json_schema(ref_template="#/components/schemas/{model}")  # type: ignore[attr-defined]
            schemas.update(schema.pop("$defs", {}))
            schemas[name] = schema
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
            }
        paths.setdefault(info.path, {})[info.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Railyard API", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "parameters": {"IdempotencyKey": _IDEMPOTENCY_KEY_PARAMETER},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
