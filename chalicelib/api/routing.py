"""How a blueprint route becomes an HTTP handler: auth, JSON parsing, the error map, the route table.

`route()` wraps a view `(ctx, **path_params) -> (status, body)` so views stay a few lines: the
bearer token is checked (except for public routes), the body is parsed as JSON with a clear error,
domain errors become `{"Code","Message"}` responses through chalicelib/api/errors.py, and the route
is recorded for the OpenAPI document.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalice import Blueprint, Response

from chalicelib.api.errors import body_for, status_for
from chalicelib.domain.errors import BadRequest, DomainError
from chalicelib.domain.services import Principal
from chalicelib.wiring import Container, container


@dataclass(frozen=True)
class Context:
    """What a view gets: the container, the caller, the JSON body and the query string."""

    c: Container
    who: Principal
    body: Any
    query: dict[str, str]

    def query_int(self, name: str, default: int) -> int:
        raw = self.query.get(name)
        if raw is None:
            return default
        try:
            return int(raw)
        except ValueError:
            raise BadRequest(f"query parameter '{name}' must be an integer, got {raw!r}") from None


@dataclass(frozen=True)
class RouteInfo:
    path: str
    method: str
    summary: str
    request_model: type | None
    status: int
    public: bool


ROUTES: list[RouteInfo] = []
View = Callable[..., tuple[int, Any]]


def route(
    bp: Blueprint,
    path: str,
    method: str = "GET",
    *,
    request_model: type | None = None,
    status: int = 200,
    public: bool = False,
) -> Callable[[View], View]:
    def decorator(view: View) -> View:
        @functools.wraps(view)
        def handler(**params: str) -> Response:
            request = bp.current_request
            try:
                c = container()
                who = (
                    Principal("", (), "anonymous")
                    if public
                    else c.auth.authenticate(request.headers.get("authorization"))
                )
                ctx = Context(c, who, _json(request.raw_body), dict(request.query_params or {}))
                code, body = view(ctx, **params)
            except DomainError as error:
                return Response(body=body_for(error), status_code=status_for(error))
            return Response(body=body, status_code=code, headers={"Content-Type": "application/json"})

        bp.route(path, methods=[method])(handler)
        summary = (view.__doc__ or view.__name__).strip().splitlines()[0]
        ROUTES.append(RouteInfo(path, method, summary, request_model, status, public))
        return view

    return decorator


def _json(raw: bytes | str | None) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise BadRequest(f"malformed JSON body: {error}") from None
