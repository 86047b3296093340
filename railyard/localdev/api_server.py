"""The HTTP server that serves Railyard's Chalice app on this machine (`railyard dev`, tests).

Chalice's own routing still answers every request: the handler is `chalice.local`'s, so the event
conversion, route matching and authorizers are exactly those of `chalice local`. What this module
owns is the transport around it, which `chalice.local`'s server gets wrong for a keep-alive client:

- One send per response. `chalice.local` writes the headers, then the body: with Nagle's algorithm
  on the server and delayed ACK on the client, the body waits ~40 ms for the client's ACK of the
  headers, on every request of a kept-alive connection (the CLI's `requests.Session`). Here the
  response is collected and sent with one `sendall`, and TCP_NODELAY is set as well so a response
  that still needs several sends (a 100-continue, a body larger than the socket buffer) never waits.
- A listen backlog of `LISTEN_BACKLOG` instead of 5, so bursts of concurrent clients are queued, not
  reset; one daemon thread per connection.
- A stop that returns: the accept loop ends and every kept-alive connection is shut down.
- Access logs go to the `ACCESS_LOGGER` logger (the platform routes it to a file), never stderr.
- GET and HEAD under `/dashboard/` are the dashboard's static files (dashboard_files.py), not the app's.
"""

from __future__ import annotations

import contextlib
import io
import logging
import socket
import sys
import threading
from http.server import ThreadingHTTPServer
from typing import Any

from chalice.local import ChaliceRequestHandler

from railyard.localdev import dashboard_files

ACCESS_LOGGER = "railyard.access"
# Well above the 64 concurrent clients the fault suite opens at once; Linux caps it at somaxconn.
LISTEN_BACKLOG = 128

access_log = logging.getLogger(ACCESS_LOGGER)


class _ResponseBuffer(io.BufferedIOBase):
    """The handler's `wfile`: collects what the handler writes and sends it in one `sendall` when
    http.server flushes at the end of each request."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self._sock = sock
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self._parts.append(view.tobytes())
        return view.nbytes

    def flush(self) -> None:
        if self._parts:
            payload = b"".join(self._parts)
            self._parts.clear()  # before sending: a failed send must not be retried by close()
            self._sock.sendall(payload)


class ApiRequestHandler(ChaliceRequestHandler):
    """`chalice.local`'s handler with a one-send response and access logs through logging."""

    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        self.wfile = _ResponseBuffer(self.connection)  # type: ignore[assignment]

    def do_GET(self) -> None:  # the dashboard's static files share the API's origin (ADR 0041)
        if dashboard_files.wants(self.path):
            dashboard_files.serve(self)
        else:
            self._generic_handle()

    do_HEAD = do_GET

    def handle_expect_100(self) -> bool:
        accepted = super().handle_expect_100()
        self.wfile.flush()  # the client waits for the 100 before it sends the body
        return accepted

    def log_message(self, format: str, *args: Any) -> None:
        # host:port, so the requests one kept-alive connection carried can be told apart
        access_log.info("%s:%s %s", *self.client_address[:2], format % args)


class _ApiHTTPServer(ThreadingHTTPServer):
    """Threaded, daemon threads, a deep backlog, and the open connections known for `stop()`."""

    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(self, address: tuple[str, int], handler: Any) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_open_connections(self) -> None:
        with self._open_lock:
            connections = list(self._open)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)  # wakes the handler thread blocked on a read

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away mid-response is routine; anything else is a bug worth a traceback.
        error = sys.exc_info()[1]
        level = logging.INFO if isinstance(error, ConnectionError) else logging.ERROR
        access_log.log(level, "%s error while serving: %r", client_address[0], error, exc_info=True)


class ApiServer:
    """Serves a Chalice app on host:port (0 = a free port) until `stop()`."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, stage: str = "dev") -> None:
        import functools

        from chalice.config import Config
        from chalice.local import LocalChalice

        # As chalice.local.create_local_server does, the app keeps `current_request` per thread
        # (requests are served concurrently); a subclass per app instead of re-basing Chalice's
        # shared CustomLocalChalice, so serving a second app (or this one again) cannot break it.
        if not isinstance(app, LocalChalice):
            app.__class__ = type(f"Local{type(app).__name__}", (LocalChalice, type(app)), {})
        config = Config.create(app_name=app.app_name, chalice_stage=stage)
        handler = functools.partial(ApiRequestHandler, app_object=app, config=config)
        self._server = _ApiHTTPServer((host, port), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="api", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> ApiServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()  # returns once the accept loop has ended
        self._server.close_open_connections()
        self._server.server_close()
