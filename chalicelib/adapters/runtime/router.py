"""The local runtime's HTTP router: one port in front of every running service, routed by Host.

Owns the route table (hostname → the upstream addresses, one per replica that is up: a port on
127.0.0.1, or the address of the replica's own network namespace, chalicelib/adapters/netns.py), the
round-robin choice among them and the reverse proxy that serves it. `LocalRuntime` owns one
`RouteTable` and swaps entries in it; the router only reads snapshots, so a switch to a new release
is atomic for every request: a request is proxied to a port that was routed when it arrived, and
requests already in flight keep their upstream connection.

A replica that refuses the connection (it just died; the runtime has not taken it out of the route
yet) is skipped: the request was not sent, so the next replica takes it. A replica that drops the
request without answering is probed: if its port now refuses, it died with the request in hand (or
in its listen queue), and a request that is safe to repeat (RFC 9110 §9.2.1) goes to the next one.

Custom domains are aliases of a generated hostname (`api.example.com` → `web-production-shop`),
set per service by the runtime from the service's verified domains (chalicelib/domain/domains.py):
a request for an alias is routed exactly as one for its hostname, and a domain that is not (or no
longer) verified is an unknown host. Aliases contain a dot and generated hostnames never do, so
the two never shadow each other.

Answers of the router itself: unknown host → 404 (a worker's or a job's host: a 404 saying so); a
host with no replica running (stopped, crashed, restarting, or every replica died under the
request) → 503 naming the service, so a crash loop reads as "not running", never as a bad gateway;
a replica that is alive but fails the request → 502.
Stdlib only, so importing it stays cheap.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import logging
import socket
import threading
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

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
LOOPBACK = "127.0.0.1"
Upstream = tuple[str, int]  # (host, port) of one replica


class RouteTable:
    """hostname → upstreams (one per replica that is up); an empty tuple is a known host that
    must answer 503. An upstream given as a bare port is on 127.0.0.1.

    Writers copy the mapping and swap the reference under a lock; readers take `snapshot()` without
    locking and see either the whole old table or the whole new one.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: Mapping[str, tuple[Upstream, ...]] = MappingProxyType({})
        self._aliases: Mapping[str, str] = MappingProxyType({})  # custom domain -> hostname
        # Hosts of services that serve no HTTP (a worker, a job) -> why: the 404 says so.
        self._withheld: Mapping[str, str] = MappingProxyType({})
        self._turns: dict[str, itertools.count[int]] = {}

    def snapshot(self) -> Mapping[str, tuple[Upstream, ...]]:
        return self._routes

    def set(self, hostname: str, upstreams: int | Iterable[int | Upstream]) -> None:
        """Route `hostname` to one upstream or to several (round robin); none at all means 503."""
        listed = [upstreams] if isinstance(upstreams, int) else upstreams
        self._replace(hostname, tuple((LOOPBACK, u) if isinstance(u, int) else u for u in listed))

    def withhold(self, hostname: str, why: str) -> None:
        """The host's service serves no HTTP: no route, and the 404 answers `why`."""
        self.remove(hostname)
        with self._lock:
            self._withheld = MappingProxyType({**self._withheld, hostname.lower(): why})

    def why_not_routed(self, hostname: str) -> str | None:
        return self._withheld.get(hostname)

    def mark_unavailable(self, hostname: str) -> None:
        """Keep the host known but answer 503 (the service was stopped or crashed)."""
        self._replace(hostname, ())

    def set_aliases(self, hostname: str, domains: Iterable[str], *, take: bool = False) -> None:
        """Make `domains` (and only those) route as `hostname` does; an empty list drops them all.

        A domain routed for another hostname stays with it unless `take`: a release's spec may be
        stale (its deploy read the service before the domain moved away), while a verification
        (`take=True`) is the newest word on who holds a domain."""
        hostname = hostname.lower()
        with self._lock:
            aliases = {d: h for d, h in self._aliases.items() if h != hostname}
            for domain in domains:
                if take:
                    aliases[domain.lower()] = hostname
                else:
                    aliases.setdefault(domain.lower(), hostname)
            self._aliases = MappingProxyType(aliases)

    def resolve(self, host: str) -> str:
        """The hostname a request for `host` is routed as: its own, or the one it is an alias of."""
        return self._aliases.get(host, host)

    def remove(self, hostname: str) -> None:
        """Forget the host entirely (the router then answers 404)."""
        with self._lock:
            routes = dict(self._routes)
            routes.pop(hostname.lower(), None)
            self._turns.pop(hostname.lower(), None)
            self._routes = MappingProxyType(routes)

    def turn(self, hostname: str) -> int:
        """The next number of `hostname`'s round robin (callers take it modulo their port count)."""
        counter = self._turns.get(hostname)
        if counter is None:
            with self._lock:
                counter = self._turns.setdefault(hostname, itertools.count())
        # next() on itertools.count is atomic under the GIL: concurrent requests get distinct turns.
        return next(counter)

    def _replace(self, hostname: str, upstreams: tuple[Upstream, ...]) -> None:
        with self._lock:
            self._routes = MappingProxyType({**self._routes, hostname.lower(): upstreams})
            if hostname.lower() in self._withheld:
                self._withheld = MappingProxyType(
                    {h: why for h, why in self._withheld.items() if h != hostname.lower()}
                )


def hostname_from_host_header(host: str, domain_suffix: str) -> str:
    """`web-production-demo.localhost:8080` → `web-production-demo` (lower case)."""
    host = host.strip().lower()
    if host.startswith("["):  # an IPv6 literal keeps its colons
        host = host[: host.find("]") + 1] if "]" in host else host
    elif ":" in host:
        host = host.rsplit(":", 1)[0]
    host = host.rstrip(".")
    suffix = "." + domain_suffix.strip(".").lower()
    if host.endswith(suffix):
        host = host[: -len(suffix)]
    return host


class _BadRequestBody(Exception):
    """The client's body framing is malformed or too large; the reply is 400/413."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _ProxyHandler(BaseHTTPRequestHandler):
    """One client connection (keep-alive capable); every request is proxied independently."""

    protocol_version = "HTTP/1.1"
    timeout = CLIENT_IDLE_TIMEOUT_SECONDS  # idle keep-alive connections must not pin threads forever
    # Headers and body go out in separate writes; with Nagle on, a keep-alive client waits for the
    # delayed ACK (~40 ms) on every response.
    disable_nagle_algorithm = True
    server: _RouterServer

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


class _RouterServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], routes: RouteTable, domain_suffix: str) -> None:
        self.routes = routes
        self.domain_suffix = domain_suffix
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _ProxyHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall on a DNS lookup.
        TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake handler threads blocked on idle keep-alive connections so they end now."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class Router:
    """The reverse proxy on `host:port` (port 0 = any free port; `port` holds the bound one)."""

    def __init__(
        self, routes: RouteTable, host: str = "127.0.0.1", port: int = 0, domain_suffix: str = "localhost"
    ) -> None:
        self.routes = routes
        self.host = host
        self.port = port
        self.domain_suffix = domain_suffix
        self._server: _RouterServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> int:
        if self._server is None:
            self._server = _RouterServer((self.host, self.port), self.routes, self.domain_suffix)
            self.port = int(self._server.server_address[1])
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.2},
                name=f"railyard-router:{self.port}",
                daemon=True,
            )
            self._thread.start()
        return self.port

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        server.shutdown()
        server.server_close()
        server.close_connections()
        if thread is not None:
            thread.join(timeout=5)
