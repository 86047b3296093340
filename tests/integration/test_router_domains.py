"""The local router and custom domains: a domain answers as its service's hostname only while it is
set as an alias (verified), and an unknown or removed one is 404. Real sockets on 127.0.0.1."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chalicelib.adapters.runtime.router import Router
from chalicelib.adapters.runtime.router_table import RouteTable

HOSTNAME = "web-production-shop"
DOMAIN = "api.example.test"


class _App(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"web saw Host {self.headers['Host']}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def routed() -> Iterator[tuple[RouteTable, int]]:
    app = ThreadingHTTPServer(("127.0.0.1", 0), _App)
    threading.Thread(target=app.serve_forever, daemon=True).start()
    routes = RouteTable()
    routes.set(HOSTNAME, app.server_address[1])
    router = Router(routes)
    port = router.start()
    try:
        yield routes, port
    finally:
        router.stop()
        app.shutdown()
        app.server_close()


def _get(port: int, host: str) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/", headers={"Host": host})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def test_a_custom_domain_is_served_only_while_it_is_an_alias(routed: tuple[RouteTable, int]) -> None:
    routes, port = routed
    # GIVEN the service answers on its generated host, and the domain is not verified yet
    assert _get(port, f"{HOSTNAME}.localhost:{port}")[0] == 200
    status, body = _get(port, DOMAIN)
    assert status == 404 and DOMAIN in body
    # WHEN it is verified (the runtime sets the service's domains), THEN the app answers on it,
    # seeing the Host the client sent
    routes.set_aliases(HOSTNAME, [DOMAIN, "www.example.test"])
    assert _get(port, f"{DOMAIN}:{port}") == (200, f"web saw Host {DOMAIN}:{port}")
    assert _get(port, "WWW.Example.test.")[0] == 200
    # WHEN one is removed, THEN only the other still answers
    routes.set_aliases(HOSTNAME, ["www.example.test"])
    assert _get(port, DOMAIN)[0] == 404
    assert _get(port, "www.example.test")[0] == 200
    # a service's domains never move another service's, and a stale list cannot take one back
    routes.set_aliases("other-production-shop", ["shop.example.test"])
    assert _get(port, "www.example.test")[0] == 200
    routes.set_aliases(HOSTNAME, ["www.example.test", "shop.example.test"])
    assert routes.resolve("shop.example.test") == "other-production-shop"
    # ... while a verification (the newest word on who holds it) does move it
    routes.set_aliases(HOSTNAME, ["www.example.test", "shop.example.test"], take=True)
    assert routes.resolve("shop.example.test") == HOSTNAME
