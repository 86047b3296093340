"""The dashboard's static export (dashboard/out, built by `make install`) served at `/dashboard/` on
the local API's own origin, so the pages call the API same-origin (docs/decisions/0041).

Only GET and HEAD of files inside the export are answered; every other path goes on to the Chalice
app untouched. `PREFIX` is chalicelib/dashboard_headers.py's `BASE_PATH`, which must match
`BASE_PATH` in dashboard/next.config.mjs (it builds every link and asset URL under it).
"""

from __future__ import annotations

import mimetypes
import os
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import unquote, urlsplit

from chalicelib import dashboard_headers
from chalicelib.dashboard_headers import BASE_PATH, security_headers

PREFIX = BASE_PATH  # the export is built for it (dashboard/next.config.mjs)
EXPORT_DIR = Path(__file__).resolve().parents[2] / "dashboard" / "out"
NOT_BUILT = b"The dashboard is not built: run `make install` (it builds dashboard/ into dashboard/out).\n"
# Next.js names its assets by content hash: they never change, so a browser may keep them for good.
IMMUTABLE = "/_next/static/"
# What the pages may load, reach and be framed by: declared once (chalicelib/dashboard_headers.py),
# for CloudFront too (ADR 0044). This is without a WebSocket: the CDK's policy adds its wss:// origin.
SECURITY_HEADERS = security_headers()
WEBSOCKET_URL_VARIABLE = "RAILYARD_WEBSOCKET_URL"  # as chalicelib/config.py reads it


def _websocket_origins(websocket_url: str | None) -> tuple[str, ...]:
    """The origin of the live-updates WebSocket (GET /v1/health's `websocketUrl`): only a ws:// or
    wss:// one, never a wildcard."""
    if websocket_url:
        parts = urlsplit(websocket_url)
        if parts.scheme in ("ws", "wss") and parts.netloc and "*" not in parts.netloc:
            return (f"{parts.scheme}://{parts.netloc}",)
    return ()


def content_security_policy(websocket_url: str | None) -> str:
    """The pages' policy here: their own origin, plus the WebSocket's."""
    return dashboard_headers.content_security_policy(_websocket_origins(websocket_url))


def page_headers() -> dict[str, str]:
    """The headers of every answer under PREFIX, for the platform's WebSocket as it is now."""
    return security_headers(_websocket_origins(os.environ.get(WEBSOCKET_URL_VARIABLE)))


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
    for name, value in {**page_headers(), **(extra or {})}.items():
        handler.send_header(name, value)
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)
