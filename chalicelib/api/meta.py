"""Public routes: health and the OpenAPI document (generated from the route table and schemas)."""

from __future__ import annotations

import re
from typing import Any

from chalice import Blueprint

from chalicelib.api.routing import ROUTES, Context, route

bp = Blueprint(__name__)


@route(bp, "/v1/health", public=True)
def health(ctx: Context) -> tuple[int, Any]:
    """Liveness of the API."""
    return 200, {"status": "ok"}


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
                str(info.status): {"description": "OK", "content": {"application/json": {}}},
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
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
