"""The local router's request handler: proxies one client connection's requests to the replicas
of the host they name, as the route table says when each request arrives.

A replica that refuses the connection (it just died; the runtime has not taken it out of the route
yet) is skipped: the request was not sent, so the next replica takes it. A replica that drops the
request without answering is probed: if its port now refuses, it died with the request in hand (or
in its listen queue), and a request that is safe to repeat (RFC 9110 §9.2.1) goes to the next one.

Answers of the router itself: unknown host → 404 (a worker's or a job's host: a 404 saying so); a
host with no replica running (stopped, crashed, restarting, or every replica died under the
request) → 503 naming the service, so a crash loop reads as "not running", never as a bad gateway;
a replica that is alive but fails the request → 502. Hop-by-hop headers are dropped and the
X-Forwarded-* headers set by the router, never trusted from the client. Stdlib only.
"""

from __future__ import annotations

import http.client
import logging
import socket
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from chalicelib.adapters.runtime.router_table import hostname_from_host_header

if TYPE_CHECKING:
    from chalicelib.adapters.runtime.router import RouterServer

logger = logging.getLogger(__name__)

# RFC 9110 §7.6.1: these describe one connection, never the message, so a proxy must not forward them.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
# The router is the edge: whatever a client claims in these is replaced, never trusted.
_FORWARDED = frozenset({"x-forwarded-for", "x-forwarded-host", "x-forwarded-proto"})
MAX_BODY_BYTES = 100 * 1024 * 1024
UPSTREAM_TIMEOUT_SECONDS = 300.0
CLIENT_IDLE_TIMEOUT_SECONDS = 75.0
_CHUNK = 64 * 1024
# Methods a proxy may send again after the upstream dropped them (RFC 9110 §9.2.1, safe methods).
_SAFE_TO_REPEAT = frozenset({"GET", "HEAD", "OPTIONS"})
_PROBE_TIMEOUT_SECONDS = 0.5


class _BadRequestBody(Exception):
    """The client's body framing is malformed or too large; the reply is 400/413."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ProxyHandler(BaseHTTPRequestHandler):
    """One client connection (keep-alive capable); every request is proxied independently."""

    protocol_version = "HTTP/1.1"
    timeout = CLIENT_IDLE_TIMEOUT_SECONDS  # idle keep-alive connections must not pin threads forever
    # Headers and body go out in separate writes; with Nagle on, a keep-alive client waits for the
    # delayed ACK (~40 ms) on every response.
    disable_nagle_algorithm = True
    server: RouterServer

    def do_GET(self) -> None:
        self._proxy()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("router: %s - %s", self.address_string(), format % args)

    def _proxy(self) -> None:
        try:
            self._proxy_one()
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            # The client went away mid-response; nothing useful can be sent any more.
            self.close_connection = True

    def _proxy_one(self) -> None:
        # Read the body first, whatever happens next: an unread body would be parsed as the next
        # request on this keep-alive connection.
        try:
            body = self._read_body()
        except _BadRequestBody as bad:
            self._reply(bad.status, str(bad), close=True)
            return
        host_header = self.headers.get("Host")
        if not host_header:
            self._reply(400, "missing Host header")
            return
        hostname = hostname_from_host_header(host_header, self.server.domain_suffix)
        hostname = self.server.routes.resolve(hostname)  # a verified custom domain: its service's
        routes = self.server.routes.snapshot()
        if hostname not in routes:
            why = self.server.routes.why_not_routed(hostname)
            self._reply(404, why or f"no service is routed for host {hostname!r}")
            return
        upstreams = routes[hostname]
        first = self.server.routes.turn(hostname) if upstreams else 0
        for attempt in range(len(upstreams)):
            host, port = upstreams[(first + attempt) % len(upstreams)]
            upstream = http.client.HTTPConnection(host, port, timeout=UPSTREAM_TIMEOUT_SECONDS)
            try:
                try:
                    upstream.connect()
                except OSError:
                    # Nothing was sent yet, so another replica may take the request whatever it is:
                    # this one just died and the runtime has not taken it out of the route yet.
                    continue
                try:
                    response = self._send(upstream, host_header, body)
                except (OSError, http.client.HTTPException) as exc:
                    if _listening(host, port):
                        self._reply(502, f"the service behind {host_header!r} did not answer: {exc}")
                        return
                    if self.command in _SAFE_TO_REPEAT:
                        continue  # it died under the request; a safe request may go to another one
                    break
                self._relay(response)
                return
            finally:
                upstream.close()
        self._reply(
            503,
            f"service {hostname!r} is not running (it stopped, crashed or is restarting); "
            "try again in a moment",
        )

    def _send(
        self, upstream: http.client.HTTPConnection, host_header: str, body: bytes | None
    ) -> http.client.HTTPResponse:
        upstream.putrequest(self.command, self._target(), skip_host=True, skip_accept_encoding=True)
        for name, value in self._request_headers(host_header):
            upstream.putheader(name, value)
        if body is not None:
            upstream.putheader("Content-Length", str(len(body)))
        upstream.endheaders(body or None)
        return upstream.getresponse()

    def _target(self) -> str:
        # A client may send the absolute form (`GET http://host/path`); upstreams expect origin form.
        if self.path.startswith(("http://", "https://")):
            parts = urlsplit(self.path)
            return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return self.path

    def _request_headers(self, host_header: str) -> list[tuple[str, str]]:
        dropped = HOP_BY_HOP | _FORWARDED | {"content-length"}
        dropped |= {token.strip().lower() for token in self.headers.get("Connection", "").split(",")}
        headers = [(name, value) for name, value in self.headers.items() if name.lower() not in dropped]
        headers += [
            ("X-Forwarded-For", self.client_address[0]),
            ("X-Forwarded-Host", host_header),
            ("X-Forwarded-Proto", "http"),
            # One upstream connection per request: no pool to keep healthy across instance switches.
            ("Connection", "close"),
        ]
        return headers

    def _read_body(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            return None
        try:
            size = int(length)
        except ValueError:
            raise _BadRequestBody(400, "invalid Content-Length") from None
        if size < 0:
            raise _BadRequestBody(400, "invalid Content-Length")
        if size > MAX_BODY_BYTES:
            raise _BadRequestBody(413, "request body too large")
        return self.rfile.read(size)

    def _read_chunked(self) -> bytes:
        """De-chunk the client's body; it is forwarded with a Content-Length."""
        body = bytearray()
        while True:
            line = self.rfile.readline(_CHUNK)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BadRequestBody(400, "malformed chunked body") from None
            if size == 0:
                while self.rfile.readline(_CHUNK) not in (b"\r\n", b"\n", b""):
                    pass  # trailers are hop-by-hop for us; drop them
                return bytes(body)
            if len(body) + size > MAX_BODY_BYTES:
                raise _BadRequestBody(413, "request body too large")
            body += self.rfile.read(size)
            self.rfile.readline(_CHUNK)

    def _relay(self, response: http.client.HTTPResponse) -> None:
        dropped = HOP_BY_HOP | {"content-length"}
        dropped |= {token.strip().lower() for token in (response.getheader("Connection") or "").split(",")}
        self.send_response_only(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in dropped:
                self.send_header(name, value)

        if self.command == "HEAD" or response.status in (204, 304) or response.status < 200:
            # No body follows; a HEAD answer still tells the length a GET would have.
            declared = response.getheader("Content-Length")
            if self.command == "HEAD" and declared is not None:
                self.send_header("Content-Length", declared)
            self.end_headers()
            return

        if response.length is not None and not response.chunked:
            self.send_header("Content-Length", str(response.length))
            self.end_headers()
            self._copy(response, chunked=False)
        elif self.request_version == "HTTP/1.1" and not self.close_connection:
            # Unknown length (chunked or close-delimited upstream): re-chunk so the client connection
            # survives and streamed answers (server-sent events) arrive as they are produced.
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self._copy(response, chunked=True)
        else:
            self.send_header("Connection", "close")
            self.end_headers()
            self._copy(response, chunked=False)

    def _copy(self, response: http.client.HTTPResponse, *, chunked: bool) -> None:
        try:
            while data := response.read1(_CHUNK):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
        except (OSError, http.client.HTTPException):
            # The upstream died mid-body. Headers are gone already; closing without the final chunk
            # (or short of Content-Length) is how HTTP tells the client the answer is incomplete.
            self.close_connection = True
            return
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def _reply(self, status: int, text: str, *, close: bool = False) -> None:
        body = (text + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def _listening(host: str, port: int) -> bool:
    """Whether a process still listens on the replica's port (a slow answer counts as yes)."""
    try:
        socket.create_connection((host, port), timeout=_PROBE_TIMEOUT_SECONDS).close()
    except ConnectionRefusedError:
        return False
    except OSError:
        return True
    return True
