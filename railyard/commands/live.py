"""Following a deployment over the API's WebSocket (docs/api.md#live-updates; docs/decisions/0040).

`railyard up` and `railyard logs -f` subscribe to the deployment with their log cursors and print
what is pushed; they fall back to polling (railyard/commands/following.py), with a notice on
stderr, when the WebSocket cannot be reached (silently when the API advertises none).

A "log" message is printed only when it follows the reader's cursor (`after` <= cursor); otherwise
lines were missed and the HTTP route is read from the cursor first, so a lost, repeated or
reordered push never leaves a gap or prints a line twice. `RAILYARD_WEBSOCKET_URL` overrides the
advertised URL. A dropped connection is opened again with the current cursors (RECONNECTS times).
A quiet connection is checked over HTTP every QUIET_SECONDS, in case a push was lost.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from railyard.client import RailyardClient
    from railyard.commands.following import LogCursor

CONNECT_TIMEOUT_SECONDS = 5.0
QUIET_SECONDS = 5.0  # module-level so tests can make it short
RECONNECTS = 3
# Where the WebSocket is when it is not where GET /v1/health says (a proxy; tests of the fallback).
URL_VARIABLE = "RAILYARD_WEBSOCKET_URL"


class LiveLost(Exception):
    """The WebSocket could not be (re)opened: the caller polls instead. `quiet` when the API has
    no live updates to offer (nothing is wrong: an API without them, or one that does not say)."""

    def __init__(self, reason: str, quiet: bool = False) -> None:
        super().__init__(reason)
        self.quiet = quiet


def notice(lost: LiveLost) -> None:
    if not lost.quiet:
        typer.secho(f"live updates unavailable ({lost}); polling instead", fg="yellow", err=True)


class LiveDeployment:
    """One deployment's pushes: `events()` yields each message, or None after QUIET_SECONDS of
    silence; it reconnects with the cursors as they are then, and raises LiveLost when it cannot."""

    def __init__(self, client: RailyardClient, deployment_id: str, cursors: list[LogCursor]) -> None:
        self._client, self._deployment_id, self._cursors = client, deployment_id, cursors
        self._url: str | None = None
        self._ws: Any = None

    def open(self) -> None:
        """Connects and subscribes; LiveLost (with the reason) when it cannot."""
        import websocket

        from railyard.client_transport import ApiConnectionError, ApiError

        if self._url is None:
            self._url = os.environ.get(URL_VARIABLE) or None
        if self._url is None:
            try:
                self._url = self._client.health().get("websocketUrl")
            except (ApiConnectionError, ApiError) as error:
                raise LiveLost(f"GET /v1/health: {error}", quiet=True) from None
            if not self._url:
                raise LiveLost("this API advertises no WebSocket", quiet=True)
        try:
            self._ws = websocket.create_connection(
                f"{self._url.rstrip('/')}/?token={self._client.token}", timeout=CONNECT_TIMEOUT_SECONDS
            )
            subscribe = {
                "action": "subscribe",
                "deploymentId": self._deployment_id,
                "streams": [c.stream for c in self._cursors],
                "after": {c.stream: c.after for c in self._cursors},
            }
            self._ws.send(json.dumps(subscribe))
            self._ws.settimeout(QUIET_SECONDS)
        except (OSError, websocket.WebSocketException) as error:
            self.close()
            raise LiveLost(f"{self._url}: {error}") from None

    def events(self) -> Iterator[dict[str, Any] | None]:
        import websocket

        failures = 0
        while True:
            try:
                text = self._ws.recv()
            except websocket.WebSocketTimeoutException:
                yield None
                continue
            except (OSError, websocket.WebSocketException) as error:
                text, failures = None, failures + 1
                self.close()
                if failures > RECONNECTS:
                    raise LiveLost(f"connection lost: {error}") from None
                self.open()  # the cursors as they are now: the backfill starts after them
                continue
            if not text:
                continue
            message: dict[str, Any] = json.loads(text)
            if message.get("type") == "error":
                raise LiveLost(f"{message.get('Code')}: {message.get('Message')}")
            failures = 0
            yield message

    def close(self) -> None:
        if self._ws is not None:
            with contextlib.suppress(Exception):
                self._ws.close()
            self._ws = None


def apply(
    client: RailyardClient, deployment_id: str, cursor: LogCursor, message: dict[str, Any], header: bool
) -> int:
    """Prints a "log" message's lines after the cursor (reading the HTTP route first when lines
    were missed); returns how many were printed."""
    from railyard.commands.following import emit, pump

    printed = 0
    if int(message["after"]) > cursor.after:  # a gap: what came before was not pushed to us
        printed += pump(client, deployment_id, cursor, header=header)
    rows = [row for row in message["lines"] if int(row["cursor"]) > cursor.after]
    if int(message["after"]) > cursor.after:  # still a gap: the route has not got them yet either
        return printed
    emit(cursor, [{"seq": row["cursor"], "message": row["line"]} for row in rows], header=header)
    cursor.after = max(cursor.after, int(message["cursor"]))
    return printed + len(rows)
