"""The device authorization grant's routes (RFC 8628; chalicelib/domain/device_flow.py).

- POST /v1/auth/device/code (public): a code pair for `railyard login`.
- POST /v1/auth/device/token (public): the CLI's poll; 400 AuthorizationPending / SlowDown /
  ExpiredToken / AccessDenied, or the approver's session, once.
- POST /v1/auth/device/approve (a signed-in person): approve or deny the code shown.
- GET /v1/auth/device (public): the page where a person signs in and approves (device_page.py).

The verification URI is this API's own page, built from the request's Host (and
X-Forwarded-Proto behind a proxy), so the CLI is sent to the API it talks to.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response
from pydantic import Field, StrictBool

from chalicelib.api.device_page import PAGE, SECURITY_HEADERS
from chalicelib.api.routing import ROUTES, Context, RouteInfo, route
from chalicelib.api.schemas import _Body, parse
from chalicelib.domain.policy import Action

bp = Blueprint(__name__)
PAGE_PATH = "/v1/auth/device"


class DeviceTokenRequest(_Body):
    deviceCode: str = Field(min_length=1, max_length=200)


class DeviceApproval(_Body):
    userCode: str = Field(min_length=1, max_length=20)
    approve: StrictBool


def _source_ip() -> str:
    context = bp.current_request.context or {}
    return str(context.get("identity", {}).get("sourceIp") or "unknown")


def base_url(blueprint: Blueprint) -> str:
    """This API's base URL as the client reached it: scheme, host and the stage's path prefix (an
    API Gateway stage such as /api appears in the request context's path, not in the route's)."""
    request = blueprint.current_request
    host = request.headers.get("host", "localhost")
    local = host.split(":")[0] in ("localhost", "127.0.0.1")
    scheme = request.headers.get("x-forwarded-proto") or ("http" if local else "https")
    full = str((request.context or {}).get("path") or "")
    own = request.path  # these routes have no path parameters: the path as requested
    prefix = full[: -len(own)] if own and full.endswith(own) else ""
    return f"{scheme}://{host}{prefix}"


@route(bp, "/v1/auth/device/code", "POST", status=200, public=True)
def device_code(ctx: Context) -> tuple[int, Any]:
    """Start a device sign-in: a device code to poll with and a user code to approve."""
    started = ctx.c.device_flow.start(base_url(bp) + PAGE_PATH, _source_ip())
    return 200, started.view()


@route(bp, "/v1/auth/device/token", "POST", request_model=DeviceTokenRequest, public=True)
def device_token(ctx: Context) -> tuple[int, Any]:
    """Poll a device sign-in: the approver's session once approved, else why not yet."""
    body = parse(DeviceTokenRequest, ctx.body)
    return 200, ctx.c.device_flow.poll(body.deviceCode, _source_ip()).view()


@route(
    bp,
    "/v1/auth/device/approve",
    "POST",
    request_model=DeviceApproval,
    action=Action.READ,
    people_only=True,
)
def device_approve(ctx: Context) -> tuple[int, Any]:
    """Approve (or deny) the device sign-in showing this user code; people only, not API tokens."""
    body = parse(DeviceApproval, ctx.body)
    grant = ctx.c.device_flow.decide(ctx.who.principal, body.userCode, body.approve, _source_ip())
    return 200, {"userCode": body.userCode, "status": grant.status}


@bp.route(PAGE_PATH, methods=["GET"])
def device_page() -> Response:
    # Not through route(): this one answers HTML. It reads nothing and needs no token.
    return Response(body=PAGE, status_code=200, headers=dict(SECURITY_HEADERS))


ROUTES.append(
    RouteInfo(
        PAGE_PATH,
        "GET",
        "The page where a person approves a device sign-in (HTML).",
        None,
        200,
        True,
        False,
        media_type="text/html",
    )
)
