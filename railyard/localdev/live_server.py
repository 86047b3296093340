"""The local stand-in for API Gateway's WebSocket API: live updates in `railyard dev` (ADR 0040).

It does what API Gateway does around the app's three WebSocket handlers (app.py), so the same code
runs here and in AWS:
- `GET /` upgrades to a WebSocket after calling the `$connect` handler with API Gateway's event
  shape (query string included); a non-200 answer refuses the upgrade with that status;
- each text frame is a `$default` event, handled one at a time per connection, in order;
- a closed connection is a `$disconnect` event;
- `POST /@connections/{id}` (the Management API's post_to_connection, which publishers call through
  boto3: chalicelib/adapters/live_channel.py) sends the body as a text frame; 410 GoneException for
  a connection that is not open; `DELETE /@connections/{id}` closes one.

Served by aiohttp (already installed with the kubernetes client; pinned in requirements-dev.txt) on
its own event loop in a daemon thread, 127.0.0.1 only. The handlers are blocking (DynamoDB), so they
run in the loop's thread pool.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
from collections.abc import Callable
from typing import Any

log = logging.getLogger("railyard.live")
Handler = Callable[[dict[str, Any], Any], Any]
STAGE = "local"
HEARTBEAT_SECONDS = 20.0  # pings keep a quiet subscriber's connection (and a dead one's end) known


def websocket_handlers(app: Any) -> dict[str, Handler]:
    """The app's wrapped WebSocket handlers by route key ($connect, $default, $disconnect)."""
    return {
        route_key: app.handler_map[config.handler_string.rsplit(".", 1)[1]]
        for route_key, config in app.websocket_handlers.items()
    }


class LiveServer:
    def __init__(self, handlers: dict[str, Handler], host: str = "127.0.0.1", port: int = 0) -> None:
        self._handlers = handlers
        self._host, self._port = host, port
        self._open: dict[str, Any] = {}  # connection id -> aiohttp WebSocketResponse
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="live-ws", daemon=True)
        self._runner: Any = None

    @property
    def url(self) -> str:
        return f"ws://{self._host}:{self._port}"

    def start(self) -> LiveServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    async def _serve(self) -> None:
        from aiohttp import web

        app = web.Application()
        app.router.add_get("/", self._websocket)
        app.router.add_post("/@connections/{id}", self._post)
        app.router.add_delete("/@connections/{id}", self._delete)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        self._port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def _event(self, route_key: str, connection_id: str, **extra: Any) -> dict[str, Any]:
        event_type = {"$connect": "CONNECT", "$disconnect": "DISCONNECT"}.get(route_key, "MESSAGE")
        context = {
            "routeKey": route_key,
            "eventType": event_type,
            "connectionId": connection_id,
            "domainName": f"{self._host}:{self._port}",
            "stage": STAGE,
            "apiId": "local",
        }
        return {"requestContext": context, "isBase64Encoded": False, **extra}

    async def _call(self, route_key: str, event: dict[str, Any]) -> dict[str, Any]:
        answer = await self._loop.run_in_executor(None, self._handlers[route_key], event, None)
        return answer if isinstance(answer, dict) else {"statusCode": 200}

    async def _websocket(self, request: Any) -> Any:
        from aiohttp import WSMsgType, web

        connection_id = secrets.token_urlsafe(12)
        query = dict(request.query) or None
        try:
            answer = await self._call(
                "$connect", self._event("$connect", connection_id, queryStringParameters=query)
            )
        except Exception:
            log.exception("$connect failed")
            answer = {
                "statusCode": 500,
                "body": json.dumps({"Code": "InternalError", "Message": "connect failed"}),
            }
        status = int(answer.get("statusCode", 200))
        if status != 200:
            return web.Response(
                status=status, text=str(answer.get("body") or ""), content_type="application/json"
            )
        ws = web.WebSocketResponse(heartbeat=HEARTBEAT_SECONDS)
        await ws.prepare(request)
        self._open[connection_id] = ws
        try:
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                try:
                    await self._call("$default", self._event("$default", connection_id, body=message.data))
                except Exception:
                    log.exception("$default failed on connection %s", connection_id)
        finally:
            self._open.pop(connection_id, None)
            try:
                await self._call("$disconnect", self._event("$disconnect", connection_id))
            except Exception:
                log.exception("$disconnect failed on connection %s", connection_id)
        return ws

    async def _post(self, request: Any) -> Any:
        from aiohttp import web

        ws = self._open.get(request.match_info["id"])
        if ws is None or ws.closed:
            return _gone()
        try:
            await ws.send_str((await request.read()).decode())
        except (ConnectionError, RuntimeError):
            return _gone()
        return web.Response(status=200)

    async def _delete(self, request: Any) -> Any:
        from aiohttp import web

        ws = self._open.get(request.match_info["id"])
        if ws is None:
            return _gone()
        await ws.close()
        return web.Response(status=204)


def _gone() -> Any:
    from aiohttp import web

    # The header is how botocore names the error (GoneException), as API Gateway's answer does.
    body = json.dumps({"message": "the connection is not open"})
    return web.Response(
        status=410, text=body, content_type="application/json", headers={"x-amzn-ErrorType": "GoneException"}
    )
