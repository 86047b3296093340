"""The device authorization grant's routes (RFC 8628; chalicelib/domain/device_flow.py).

- POST /v1/auth/device/code (public): a code pair for `railyard login`.
- POST /v1/auth/device/token (public): the CLI's poll; 400 AuthorizationPending / SlowDown /
  ExpiredToken / AccessDenied, or the approver's session, once.
- GET /v1/auth/device/request?userCode= (a signed-in person): who asked for that code, to check.
- POST /v1/auth/device/approve (a signed-in person): approve or deny the code shown.
- GET /v1/auth/device (public): the plain approval page for a platform without the dashboard
  (device_page.py).

The verification URI is the dashboard's approval page when RAILYARD_DASHBOARD_URL says where the
dashboard is (docs/decisions/0043), else this API's own page; a path there, and this API's page, are
on the origin the client reached (the request's Host, and X-Forwarded-Proto behind a proxy), so the
CLI is sent to the platform it talks to.
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint, Response
from pydantic import Field, StrictBool

from chalicelib.api.device_page import PAGE, SECURITY_HEADERS
from chalicelib.api.routing import ROUTES, Context, RouteInfo, route
from chalicelib.api.schemas import _Body, parse
from chalicelib.domain.device_flow import display_user_code
from chalicelib.domain.ids import iso
from chalicelib.domain.policy import Action

bp = Blueprint(__name__)
PAGE_PATH = "/v1/auth/device"
DASHBOARD_PAGE = "/device/"  # dashboard/app/device/page.tsx, under the dashboard's base URL


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
    # These routes have no path parameters: the path as requested.
    return f"{scheme}://{host}{_stage_prefix(request)}"


def verification_uri(blueprint: Blueprint, dashboard_url: str | None) -> str:
    """The page where a person approves a code (RAILYARD_DASHBOARD_URL, chalicelib/config.py)."""
    if dashboard_url is None:
        return base_url(blueprint) + PAGE_PATH
    if dashboard_url.startswith("/"):  # the dashboard shares the API's origin (railyard dev)
        request = blueprint.current_request
        scheme_host = base_url(blueprint).removesuffix(_stage_prefix(request))
        dashboard_url = scheme_host + dashboard_url
    return dashboard_url.rstrip("/") + DASHBOARD_PAGE


def _stage_prefix(request: Any) -> str:
    full = str((request.context or {}).get("path") or "")
    own = request.path
    return full[: -len(own)] if own and full.endswith(own) else ""


@route(bp, "/v1/auth/device/code", "POST", status=200, public=True)
def device_code(ctx: Context) -> tuple[int, Any]:
    """Start a device sign-in: a device code to poll with and a user code to approve."""
    page = verification_uri(bp, ctx.c.settings.dashboard_url)
    client = str(bp.current_request.headers.get("user-agent") or "")
    return 200, ctx.c.device_flow.start(page, _source_ip(), client).view()


@route(bp, "/v1/auth/device/request", action=Action.READ, people_only=True)
def device_request(ctx: Context) -> tuple[int, Any]:
    """Who asked for a user code, and whether it is still pending: what a person checks first."""
    grant = ctx.c.device_flow.look(ctx.who.principal, ctx.query.get("userCode") or "", _source_ip())
    return 200, {
        "userCode": display_user_code(grant.user_code),
        "status": grant.status,
        "requestedAt": iso(grant.created_at),
        "expiresAt": iso(grant.expires_at),
        "requestedFrom": grant.requested_from,
        "client": grant.client,
    }


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
