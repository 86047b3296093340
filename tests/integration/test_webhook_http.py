"""The guarded HTTP client of outgoing webhooks against real servers on 127.0.0.1: loopback only
when allowed (by address or by a name that resolves to it), no redirect followed, a bounded wait
for a receiver that never answers, and a refused connection recorded as an error."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chalicelib.adapters.webhook_http import GuardedPoster
from tests.support.webhook_receiver import WebhookReceiver


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver([201]) as running:
        yield running


def test_loopback_is_refused_unless_allowed_by_address_or_by_name(receiver: WebhookReceiver) -> None:
    by_name = receiver.url.replace("127.0.0.1", "localhost")
    for url in (receiver.url, by_name):
        refused = GuardedPoster(allow_loopback=False).post(url, b"{}", {})
        assert refused.status is None and refused.error is not None and "loopback" in refused.error
    assert receiver.received == []  # nothing reached it

    sent = GuardedPoster(allow_loopback=True).post(receiver.url + "?x=1", b'{"a":1}', {"X-Test": "yes"})

    assert (sent.status, sent.error) == (201, None) and sent.duration_ms >= 0
    (got,) = receiver.received
    assert got.path == "/hook?x=1" and got.body == b'{"a":1}' and got.headers["x-test"] == "yes"


class _Redirect(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.send_response(307)
        self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_a_redirect_is_a_failed_attempt_not_followed() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = GuardedPoster(allow_loopback=True).post(
            f"http://127.0.0.1:{server.server_address[1]}/", b"", {}
        )
    finally:
        server.shutdown()
        server.server_close()
    assert result.status == 307 and result.error is not None


def test_a_receiver_that_never_answers_is_given_up_on_after_the_timeout() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # accepts the connection, never answers
        started = time.monotonic()
        result = GuardedPoster(allow_loopback=True, timeout=0.5).post(
            f"http://127.0.0.1:{silent.getsockname()[1]}/", b"{}", {}
        )
    assert time.monotonic() - started < 3
    assert result.status is None and result.error is not None and "timed out" in result.error


def test_a_refused_connection_is_an_error_not_an_exception() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, not listening: the connection is refused
        result = GuardedPoster(allow_loopback=True).post(f"http://127.0.0.1:{port}/", b"{}", {})
    assert result.status is None and result.error is not None and "Refused" in result.error
