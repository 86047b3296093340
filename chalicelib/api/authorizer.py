"""The API's front door: the Chalice built-in authorizer every non-public route is declared with
(docs/decisions/0026-authorizer.md).

`authenticate` runs `AuthService.authenticate` on the Authorization header and answers with an
`AuthResponse` that allows every route: it says who is calling, never what they may do (the policy
function decides that, on the item a use case loads). Its context carries either the principal,
JSON-encoded into one string (API Gateway's 1.0 context values are strings, numbers or booleans),
or why the token was refused; the route wrapper (`principal_of`) turns a refusal into a 401 with
the usual `{"Code", "Message"}` body. A refusal is an allowed request on purpose: API Gateway can
only answer an authorizer's deny with its own 403 `{"message":"Forbidden"}`, and the CLI renews
an expired session on a 401.

Where it runs: in AWS as its own Lambda, called by the HTTP API (results cached per Authorization
header for `AUTHORIZER_CACHE_SECONDS`); locally inside `chalice local`'s gateway emulation (the API
server of `railyard dev`, and chalice.test.Client). Where no authorizer ran (an event given to the
app in-process), `principal_of` runs the same function itself.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from chalice import AuthResponse, Blueprint

from chalicelib.domain.authentication import TOKEN_CACHE_SECONDS
from chalicelib.domain.errors import BadRequest, Unauthorized
from chalicelib.domain.policy import Grant, Principal, parse_actions
from chalicelib.wiring import container

if TYPE_CHECKING:
    from chalice.app import AuthRequest, Request

# A revoked API token stops working within this bound (issue 10). Two caches may still believe it:
# API Gateway's cache of the authorizer's answer, then the authorizer container's own token cache
# (services.TOKEN_CACHE_SECONDS) that answer came from; the gateway gets what the other leaves.
REVOKED_TOKEN_STOPS_WITHIN_SECONDS = 60
AUTHORIZER_CACHE_SECONDS = REVOKED_TOKEN_STOPS_WITHIN_SECONDS - int(TOKEN_CACHE_SECONDS)
AUTHORIZER_HEADER = "Authorization"
# The keys of the authorizer's context: one of them is set.
PRINCIPAL_KEY = "principal"
REFUSED_KEY = "refused"

bp = Blueprint(__name__)


@bp.authorizer(ttl_seconds=AUTHORIZER_CACHE_SECONDS, header=AUTHORIZER_HEADER)
def authenticate(auth_request: AuthRequest) -> AuthResponse:
    """Who the Authorization header speaks for, as an authorizer context (every route allowed)."""
    subject, context = authorizer_context(auth_request.token)
    return AuthResponse(routes=["*"], principal_id=subject, context=context)


def authorizer_context(authorization: str | None) -> tuple[str, dict[str, str]]:
    """The one authentication both paths run: (principal id, context). Only a refused token is an
    answer; any other failure (DynamoDB unreachable) propagates, so API Gateway answers 500 and
    caches nothing."""
    try:
        principal = container().auth.authenticate(authorization)
    except Unauthorized as refused:
        return "anonymous", {REFUSED_KEY: str(refused)}
    return principal.subject, {PRINCIPAL_KEY: encode_principal(principal)}


def principal_of(request: Request, authorization: str | None) -> Principal:
    """The caller of a non-public route: from the authorizer's context when an authorizer ran (it is
    API Gateway's, never the client's: no header reaches requestContext), else from running the same
    authentication here."""
    context = (request.context or {}).get("authorizer")
    if isinstance(context, dict):
        try:
            return _principal_from(context)
        except (KeyError, ValueError, TypeError, BadRequest):
            pass  # not our authorizer's answer, or one of another version: authenticate here
    return _principal_from(authorizer_context(authorization)[1])


def _principal_from(context: dict[str, Any]) -> Principal:
    if REFUSED_KEY in context:
        raise Unauthorized(str(context[REFUSED_KEY]))
    return decode_principal(str(context[PRINCIPAL_KEY]))


def encode_principal(principal: Principal) -> str:
    """A principal as one compact JSON string (the authorizer context's value)."""
    grants = [
        {
            "workspace": g.workspace_id,
            "actions": sorted(a.value for a in g.actions),
            **{k: v for k, v in _scope(g).items() if v is not None},
        }
        for g in principal.grants
    ]
    fields: dict[str, Any] = {
        "kind": principal.kind,
        "subject": principal.subject,
        "grants": grants,
        "name": principal.name,
        "user_id": principal.user_id,
        "token_id": principal.token_id,
        "session_id": principal.session_id,
    }
    return json.dumps({k: v for k, v in fields.items() if v is not None}, separators=(",", ":"))


def decode_principal(text: str) -> Principal:
    raw = json.loads(text)
    grants = tuple(
        Grant(
            g["workspace"],
            parse_actions(g["actions"]),
            g.get("project"),
            g.get("environment"),
            g.get("service"),
        )
        for g in raw["grants"]
    )
    return Principal(
        kind=raw["kind"],
        subject=raw["subject"],
        grants=grants,
        name=raw.get("name", ""),
        user_id=raw.get("user_id"),
        token_id=raw.get("token_id"),
        session_id=raw.get("session_id"),
    )


def _scope(grant: Grant) -> dict[str, str | None]:
    return {"project": grant.project_id, "environment": grant.environment_id, "service": grant.service_id}
