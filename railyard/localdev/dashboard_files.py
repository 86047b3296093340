"""The dashboard's static export (dashboard/out, built by `make install`) served at `/dashboard/` on
the local API's own origin, so the pages call the API same-origin (docs/decisions/0041).

Only GET and HEAD of files inside the export are answered; every other path goes on to the Chalice
app untouched. `PREFIX` must match `BASE_PATH` in dashboard/next.config.mjs, which builds every link
and asset URL under it.
"""

from __future__ import annotations

import mimetypes
import os
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import unquote, urlsplit

PREFIX = "/dashboard"
EXPORT_DIR = Path(__file__).resolve().parents[2] / "dashboard" / "out"
NOT_BUILT = b"The dashboard is not built: run `make install` (it builds dashboard/ into dashboard/out).\n"
# Next.js names its assets by content hash: they never change, so a browser may keep them for good.
IMMUTABLE = "/_next/static/"
# The pages hold tokens in the tab (ADR 0041): they may talk to their own origin and to the
# WebSocket of live updates only (its origin, derived from the URL the API advertises: never a
# wildcard), load nothing from elsewhere and not be framed. Next.js's inline bootstrap scripts need
# 'unsafe-inline'.
WEBSOCKET_URL_VARIABLE = "RAILYARD_WEBSOCKET_URL"  # as chalicelib/config.py reads it
OTHER_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def content_security_policy(websocket_url: str | None) -> str:
    """The pages' policy; `websocket_url` (GET /v1/health's `websocketUrl`) adds its origin to
    connect-src, and only a ws:// or wss:// one."""
    connect = "'self'"
    if websocket_url:
        parts = urlsplit(websocket_url)
        if parts.scheme in ("ws", "wss") and parts.netloc and "*" not in parts.netloc:
            connect += f" {parts.scheme}://{parts.netloc}"
    return (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data:; connect-src {connect}; frame-ancestors 'none'; base-uri 'none'; "
        "form-action 'self'"
    )


def security_headers() -> dict[str, str]:
    """The headers of every answer under PREFIX, for the platform's WebSocket as it is now."""
    policy = content_security_policy(os.environ.get(WEBSOCKET_URL_VARIABLE))
    return {"Content-Security-Policy": policy, **OTHER_HEADERS}


TYPES = {".js": "text/javascript", ".txt": "text/plain; charset=utf-8", ".html": "text/html; charset=utf-8"}


def wants(path: str) -> bool:
    """Whether a request path is the dashboard's (else the API's)."""
    route = urlsplit(path).path
    return route == PREFIX or route.startswith(PREFIX + "/")


def _file(route: str, root: Path) -> Path | None:
    """The export's file for a URL path under PREFIX: `x/` is `x/index.html`; nothing outside root."""
    relative = unquote(route[len(PREFIX) :]).lstrip("/")
    candidate = (root / relative).resolve()
    if candidate.is_dir():
        candidate = candidate / "index.html"
    if not candidate.is_relative_to(root.resolve()) or not candidate.is_file():
        return None
    return candidate


def serve(handler: BaseHTTPRequestHandler, root: Path | None = None) -> None:
    """Answers one GET or HEAD under PREFIX from the export (`EXPORT_DIR` unless given); the
    handler's caller sends the bytes."""
    root = root or EXPORT_DIR
    route = urlsplit(handler.path).path
    if route == PREFIX:  # the pages' relative links need the trailing slash
        _send(handler, 308, b"", "text/plain", {"Location": PREFIX + "/"})
        return
    if not root.is_dir():
        _send(handler, 503, NOT_BUILT, "text/plain; charset=utf-8")
        return
    found = _file(route, root)
    if found is None:
        missing = root / "404.html"
        _send(handler, 404, missing.read_bytes() if missing.is_file() else b"not found\n", TYPES[".html"])
        return
    content_type = (
        TYPES.get(found.suffix) or mimetypes.guess_type(found.name)[0] or "application/octet-stream"
    )
    cache = "public, max-age=31536000, immutable" if IMMUTABLE in route else "no-cache"
    _send(handler, 200, found.read_bytes(), content_type, {"Cache-Control": cache})


def _send(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes,
    content_type: str,
    extra: dict[str, str] | None = None,
) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for name, value in {**security_headers(), **(extra or {})}.items():
        handler.send_header(name, value)
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)
