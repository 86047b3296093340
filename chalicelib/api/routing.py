"""How a blueprint route becomes an HTTP handler: auth, JSON parsing, the error map, the route table.

`route()` wraps a view `(ctx, **path_params) -> (status, body)` so views stay a few lines: a
non-public route is declared with the authorizer and takes its caller from the authorizer's answer
(chalicelib/api/authorizer.py), the body is parsed as JSON with a clear error,
domain errors become `{"Code","Message"}` responses through chalicelib/api/errors.py, and the route
is recorded for the OpenAPI document.

A route declared `idempotent=True` (every request that creates something) honours an
`Idempotency-Key` header: the first answer of a (caller, method and path, key) is kept for a day
and a repeat with the same body gets it back (`Idempotent-Replayed: true`) without running the view
again (chalicelib/adapters/idempotency.py). Without the header such a route behaves as any other.

Every request but a GET is recorded in the audit log once its answer is decided, successful or
refused (chalicelib/domain/audit.py): the caller, the route's action, the resource its use case
checked last, the status and error code, source IP and user agent, and the names (not values) of
what its body sent. A use case that creates a deployment writes that entry itself, in the same
transaction (`Context.audit`, docs/decisions/0027); the entry is then not written again.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from chalicelib.api.authorizer import authenticate, principal_of
from chalicelib.api.errors import body_for, status_for
from chalicelib.domain.audit import RequestAudit
from chalicelib.domain.authentication import hash_token
from chalicelib.domain.errors import BadRequest, DomainError, Forbidden, PayloadTooLarge, RateLimited
from chalicelib.domain.limits import MAX_JSON_DEPTH, MAX_REQUEST_BODY_BYTES
from chalicelib.domain.policy import ANONYMOUS, Access, Action
from chalicelib.wiring import Container, container

if TYPE_CHECKING:
    from chalice.app import Request

IDEMPOTENCY_HEADER = "Idempotency-Key"
# Visible ASCII (! to ~), as Stripe and the IETF draft allow; room for any uuid or client-made key.
IDEMPOTENCY_KEY_PATTERN = "[!-~]{1,255}"
_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)


@dataclass(frozen=True)
class Context:
    """What a view gets: the container, the caller with the route's action, the JSON body, the
    query string, and (any method but GET) the request's audit entry for a use case that writes it
    with its change."""

    c: Container
    who: Access
    body: Any
    query: dict[str, str]
    audit: RequestAudit | None = None

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
    idempotent: bool
    action: Action | None = None
    people_only: bool = False
    media_type: str = "application/json"  # of a successful answer (the OpenAPI document says it)


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
    idempotent: bool = False,
    action: Action | None = None,
    people_only: bool = False,
) -> Callable[[View], View]:
    if not public and action is None:
        raise TypeError(f"route {method} {path} needs an action (domain/policy.Action) or public=True")
    route_action = action or Action.READ

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def handler(**params: str) -> Response:
            request = bp.current_request
            trail = _Trail(Access(ANONYMOUS, route_action, _request_facts(request)))
            response = serve(request, trail, **params)
            if method != "GET":
                _audit(trail, method, path.format(**params), params, response)
            return response

        def serve(request: Request, trail: _Trail, **params: str) -> Response:
            try:
                c = container()
                authorization = request.headers.get("authorization")
                principal = ANONYMOUS if public else principal_of(request, authorization)
                who = trail.who = Access(principal, route_action, trail.who.extra)
                if people_only and (principal.kind != "user" or principal.user_id is None):
                    raise Forbidden("only a signed-in person may do this, not an API token")
                body = trail.body = _json(request.raw_body)
                if method != "GET":
                    concrete = path.format(**params)
                    trail.audit = RequestAudit(c.audit, who, method, concrete, params, status, body)
                ctx = Context(c, who, body, dict(request.query_params or {}), trail.audit)
                key = _idempotency_key(request) if idempotent else None
                if key is None:
                    code, body = view(ctx, **params)
                    return Response(body=body, status_code=code, headers={"Content-Type": "application/json"})
                answer = c.idempotency.once(
                    scope=f"{principal.subject}/{hash_token(authorization or '')}",
                    route=f"{method} {path.format(**params)}",
                    key=key,
                    body=ctx.body,
                    action=lambda: _as_text(view(ctx, **params)),
                    remaining_ms=_remaining_ms(bp),
                )
            except DomainError as error:
                trail.code = type(error).__name__
                return _error_response(error)
            headers: dict[str, str | list[str]] = {"Content-Type": "application/json"}
            if answer.replayed:
                headers["Idempotent-Replayed"] = "true"
            return Response(body=answer.body, status_code=answer.status, headers=headers)

        # Every non-public route is behind the front door's authorizer (chalicelib/api/authorizer.py).
        bp.route(path, methods=[method], authorizer=None if public else authenticate)(handler)
        summary = (view.__doc__ or view.__name__).strip().splitlines()[0]
        ROUTES.append(
            RouteInfo(path, method, summary, request_model, status, public, idempotent, action, people_only)
        )
        return view

    return decorator


@dataclass
class _Trail:
    """What the audit log needs of a request, gathered as it is served (docs/decisions/0025)."""

    who: Access  # the anonymous caller until the bearer token is checked
    body: Any = None
    code: str | None = None  # the domain error's Code when it failed
    audit: RequestAudit | None = None  # `written` when the use case wrote the entry with its change


def _audit(trail: _Trail, method: str, path: str, params: dict[str, str], response: Response) -> None:
    """Records a change (any method but GET), successful or refused. The answer is already decided:
    a failing audit write is logged, never turned into an error for a change that happened."""
    try:
        written = trail.audit.written if trail.audit else None
        if written is not None:
            if written.status == response.status_code:
                return  # stored with the change; the workflow it started emits the event
            # The answer changed after the write (the workflow could not start): that entry's
            # event has no workflow to emit it, and this answer gets its own entry below.
            container().audit.emit(written)
        container().audit.record(
            trail.who, method, path, params, response.status_code, trail.code, trail.body
        )
    except Exception:
        logging.getLogger(__name__).exception("audit entry of %s %s not recorded", method, path)


def _request_facts(request: Request) -> dict[str, str]:
    """Who is asking, for the audit log: the source IP and the user agent."""
    identity = (request.context or {}).get("identity") or {}
    return {
        "sourceIp": str(identity.get("sourceIp") or ""),
        "userAgent": str(request.headers.get("user-agent") or ""),
    }


def _error_response(error: DomainError) -> Response:
    headers: dict[str, str | list[str]] = {"Content-Type": "application/json"}
    if isinstance(error, RateLimited):
        headers["Retry-After"] = str(error.retry_after)
    return Response(body=body_for(error), status_code=status_for(error), headers=headers)


def _idempotency_key(request: Request) -> str | None:
    key: str | None = request.headers.get(IDEMPOTENCY_HEADER.lower())
    if key is None:
        return None
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        raise BadRequest(f"the {IDEMPOTENCY_HEADER} header must be 1-255 visible ASCII characters (a uuid)")
    return key


def _as_text(answer: tuple[int, Any]) -> tuple[int, str]:
    # The first answer is sent as the text that is stored, so a replay is byte for byte the same
    # (Chalice's own encoding of a dict, compact separators).
    code, body = answer
    return code, json.dumps(body, separators=(",", ":"))


def _remaining_ms(bp: Blueprint) -> float | None:
    """The Lambda's remaining time (bounds how long a crashed request keeps its key in progress)."""
    context = getattr(bp, "lambda_context", None)
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    return float(remaining()) if callable(remaining) else None


def _json(raw: bytes | str | None) -> Any:
    """The body as JSON, refused before parsing when it is above MAX_REQUEST_BODY_BYTES (413) or
    nests deeper than MAX_JSON_DEPTH (400): the parser and everything after it recurse on depth."""
    if not raw:
        return None
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > MAX_REQUEST_BODY_BYTES:
        raise PayloadTooLarge(
            f"the request body is {size} bytes; the limit is {MAX_REQUEST_BODY_BYTES} bytes"
        )
    try:
        text = raw if isinstance(raw, str) else raw.decode(json.detect_encoding(raw))
        depth = _json_depth(text)
        if depth > MAX_JSON_DEPTH:
            raise BadRequest(
                f"the request body nests {depth} levels deep; the limit is {MAX_JSON_DEPTH} levels"
            )
        return json.loads(text)
    except (ValueError, UnicodeDecodeError) as error:
        raise BadRequest(f"malformed JSON body: {error}") from None


# A JSON string, or the rest of the text after an unterminated quote: always matches from a quote,
# so stripping strings is one linear pass whatever the input (no retry from every later quote).
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\Z)', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def _json_depth(text: str) -> int:
    """How deep arrays and objects nest in `text`, without recursion (brackets inside strings do
    not count). Malformed text gets a number too; the parser then says what is wrong with it."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return 0  # cannot nest deeper than the limit: skip the scan (every ordinary body)
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(itertools.accumulate((_DEPTH_STEP[char] for char in brackets), initial=0))
