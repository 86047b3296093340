"""The local runtime's HTTP router: one port in front of every running service, routed by Host.

Owns the server and its lifecycle (start on a free port, stop with every keep-alive connection
woken). Its parts: router_table.py (hostname → the upstreams of the replicas that are up, their
round robin, custom domains as aliases; `LocalRuntime` swaps entries, the router reads snapshots,
so a switch to a new release is atomic for every request: a request is proxied to a port that was
routed when it arrived, and requests already in flight keep their upstream connection) and
router_proxy.py (the reverse proxy of each request, and the router's own answers: 404, 503, 502).
Stdlib only, so importing it stays cheap.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from http.server import ThreadingHTTPServer
from socketserver import TCPServer
from typing import Any

from chalicelib.adapters.runtime.router_proxy import ProxyHandler
from chalicelib.adapters.runtime.router_table import RouteTable


class RouterServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], routes: RouteTable, domain_suffix: str) -> None:
        self.routes = routes
        self.domain_suffix = domain_suffix
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, ProxyHandler)

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
        self._server: RouterServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> int:
        if self._server is None:
            self._server = RouterServer((self.host, self.port), self.routes, self.domain_suffix)
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
