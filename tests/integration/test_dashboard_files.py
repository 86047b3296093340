"""The local API server serves the dashboard's export at /dashboard/ beside the API
(railyard/localdev/dashboard_files.py): what a browser asks for is what it gets, nothing outside
the export is ever served, and the API's own routes are untouched. A real server on 127.0.0.1."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from pathlib import Path

import pytest
from chalice import Chalice

from railyard.localdev import dashboard_files
from railyard.localdev.api_server import ApiServer


@pytest.fixture
def export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "out"
    (root / "project").mkdir(parents=True)
    (root / "_next" / "static" / "chunks").mkdir(parents=True)
    (root / "index.html").write_text("<h1>home</h1>")
    (root / "404.html").write_text("<h1>no such page</h1>")
    (root / "project" / "index.html").write_text("<h1>project</h1>")
    (root / "_next" / "static" / "chunks" / "app.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("not for browsers")
    monkeypatch.setattr(dashboard_files, "EXPORT_DIR", root)
    return root


@pytest.fixture
def server() -> Iterator[ApiServer]:
    app = Chalice(app_name="dashboard-files-test")

    @app.route("/v1/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    running = ApiServer(app).start()
    yield running
    running.stop()


def _get(server: ApiServer, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    host, port = server.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        connection.request(method, path)  # sent as written: no client-side normalizing of ".."
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_pages_and_assets_are_served_with_their_types_and_caching(server: ApiServer, export: Path) -> None:
    status, headers, body = _get(server, "/dashboard/project/?id=prj_1")
    assert (status, body) == (200, b"<h1>project</h1>")
    assert headers["Content-Type"].startswith("text/html")
    assert headers["Cache-Control"] == "no-cache"  # a new build shows at the next load
    # the tokens the page holds can only go back to this origin, and the page cannot be framed
    assert "connect-src 'self'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    status, headers, body = _get(server, "/dashboard/_next/static/chunks/app.js")
    assert (status, body) == (200, b"console.log(1)")
    assert headers["Content-Type"] == "text/javascript"
    assert "immutable" in headers["Cache-Control"]  # content-hashed names never change
    assert _get(server, "/dashboard/", "HEAD")[0:3:2] == (200, b"")


def test_the_pages_may_connect_to_the_advertised_websocket_and_nowhere_else(
    server: ApiServer, export: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(dashboard_files.WEBSOCKET_URL_VARIABLE, "ws://127.0.0.1:4567/local")
    policy = _get(server, "/dashboard/")[1]["Content-Security-Policy"]
    assert "connect-src 'self' ws://127.0.0.1:4567;" in policy  # its origin: any path, no other port
    monkeypatch.delenv(dashboard_files.WEBSOCKET_URL_VARIABLE)
    assert "connect-src 'self';" in _get(server, "/dashboard/")[1]["Content-Security-Policy"]
    for odd in ("http://127.0.0.1:4567", "ws://*:4567", "*", "not a url"):
        assert "connect-src 'self';" in dashboard_files.content_security_policy(odd), odd


def test_the_bare_prefix_redirects_to_the_slash_and_unknown_pages_are_404(
    server: ApiServer, export: Path
) -> None:
    status, headers, _ = _get(server, "/dashboard")
    assert (status, headers["Location"]) == (308, "/dashboard/")
    status, _, body = _get(server, "/dashboard/nope/")
    assert (status, body) == (404, b"<h1>no such page</h1>")


@pytest.mark.parametrize(
    "path", ["/dashboard/../secret.txt", "/dashboard/%2e%2e/secret.txt", "/dashboard/..%2fsecret.txt"]
)
def test_nothing_outside_the_export_is_served(server: ApiServer, export: Path, path: str) -> None:
    status, _, body = _get(server, path)
    assert status == 404
    assert b"not for browsers" not in body


def test_the_api_is_untouched_and_a_missing_build_says_how_to_make_it(
    server: ApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dashboard_files, "EXPORT_DIR", tmp_path / "never-built")
    assert _get(server, "/v1/health")[2] == b'{"status":"ok"}'
    status, _, body = _get(server, "/dashboard/")
    assert status == 503
    assert b"make install" in body
