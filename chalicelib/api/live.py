"""The WebSocket API's three handlers (docs/decisions/0040; the protocol: chalicelib/domain/live.py).

Chalice registers WebSocket handlers only on the app itself, not on a blueprint, so app.py wraps
these three (`app.on_ws_connect()(ws_connect)` ...); locally railyard/localdev/live_server.py calls
those wrapped handlers with API Gateway's event shapes. The caller is authenticated as the HTTP
API's routes are (chalicelib/api/authorizer.py): the token in the connect URL's query string
(`?token=...`; browsers cannot set headers on a WebSocket) or, when it had none, in a subscribe
message. A bad token at connect is refused with 401 before the connection opens.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Response

from chalicelib.api.authorizer import PRINCIPAL_KEY, REFUSED_KEY, authorizer_context, decode_principal
from chalicelib.domain.errors import DomainError, Unauthorized
from chalicelib.domain.live import LiveFeed, Ping, error_message, parse_request
from chalicelib.domain.policy import Principal
from chalicelib.wiring import container

if TYPE_CHECKING:
    from chalice.app import WebsocketEvent

TOKEN_PARAMETER = "token"


def ws_connect(event: WebsocketEvent) -> Response | None:
    """$connect: who opens it; 401 (the connection is refused) for a bad token."""
    token = (event.to_dict().get("queryStringParameters") or {}).get(TOKEN_PARAMETER)
    principal = "" if token is None else _authenticated(token)
    if principal is None:
        return Response(body={"Code": "Unauthorized", "Message": "the token is not valid"}, status_code=401)
    _feed().connect(event.connection_id, principal)
    return None


def ws_message(event: WebsocketEvent) -> None:
    """$default: a subscribe or a ping; a bad one is answered with an "error" message."""
    feed = _feed()
    try:
        request = parse_request(event.body)
        if isinstance(request, Ping):
            feed.reply(event.connection_id, {"type": "pong"})
            return
        principal = _principal(feed.principal_text(event.connection_id), request.token)
        feed.subscribe(event.connection_id, principal, request)
    except DomainError as error:
        feed.reply(event.connection_id, error_message(error))


def ws_disconnect(event: WebsocketEvent) -> None:
    _feed().disconnect(event.connection_id)


def _feed() -> LiveFeed:
    feed = container().live()
    if feed is None:
        raise RuntimeError("RAILYARD_WEBSOCKET_URL is not set: this platform has no live updates")
    return feed


def _authenticated(token: str) -> str | None:
    """The principal as the authorizer encodes it, or None for a refused token."""
    context: dict[str, Any] = authorizer_context(f"Bearer {token}")[1]
    return None if REFUSED_KEY in context else str(context[PRINCIPAL_KEY])


def _principal(stored: str, token: str | None) -> Principal:
    if token is not None:
        stored = _authenticated(token) or ""
        if not stored:
            raise Unauthorized("the token is not valid")
    if not stored:
        raise Unauthorized("open the connection with ?token=<token> or send 'token' with the subscribe")
    return decode_principal(stored)
