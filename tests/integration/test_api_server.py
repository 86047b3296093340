"""The local API server (railyard/localdev/api_server.py) serving the real Chalice app on moto.

What a CLI user would notice: kept-alive requests answer without a per-request stall, a burst of 64
concurrent clients is served without a reset, access logs stay out of the terminal, and stopping
the server does not hang on connections clients keep open. Every server binds 127.0.0.1 on a free
port and is stopped by its test.
"""

from __future__ import annotations

import http.client
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from chalicelib import wiring
from chalicelib.adapters.dynamo.schema import create_table
from chalicelib.config import Settings
from railyard.localdev.api_server import ACCESS_LOGGER, ApiServer

TOKEN = "ry_api_server_test"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def app_on_moto(aws: int) -> Iterator[Any]:
    """The real Chalice app wired to the moto fixture: the table (all these routes touch) and a token."""
    from app import app

    settings = Settings.from_env()
    create_table(settings.table_name)
    container = wiring.Container(settings)
    container.auth.ensure_token(TOKEN, settings.org_id, "test")
    wiring.use(container)
    yield app
    wiring.use(None)


@pytest.fixture
def api(app_on_moto: Any) -> Iterator[ApiServer]:
    server = ApiServer(app_on_moto).start()
    yield server
    server.stop()


def test_kept_alive_requests_do_not_wait_for_delayed_acks(
    api: ApiServer, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN the CLI's kind of client: one requests.Session, so one kept-alive connection
    session = requests.Session()
    session.get(f"{api.url}/v1/health", timeout=5).raise_for_status()  # connect + first-request costs
    # WHEN it makes 20 requests in a row
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        started = time.perf_counter()
        for _ in range(20):
            assert session.get(f"{api.url}/v1/health", timeout=5).json() == {"status": "ok"}
        elapsed = time.perf_counter() - started
    session.close()
    # THEN they all went over one connection (the access log names the client's host:port) ...
    peers = {r.getMessage().split()[0] for r in caplog.records if r.name == ACCESS_LOGGER}
    assert len(peers) == 1, peers
    # ... and none waited out a delayed ACK: with headers and body sent separately each took ~44 ms
    # (880 ms in all); sent at once ~1 ms each on an idle machine. 400 ms leaves room for two
    # shared cores under a full test run.
    assert elapsed < 0.4, f"20 kept-alive requests took {elapsed * 1000:.0f} ms"


def test_64_concurrent_keep_alive_clients_are_all_served_without_a_reset(api: ApiServer) -> None:
    # GIVEN 64 clients, each with its own kept-alive session, released at the same moment
    clients = 64
    gate = threading.Barrier(clients)
    failures: list[BaseException] = []
    statuses: list[int] = []

    def client() -> None:
        session = requests.Session()
        try:
            gate.wait(timeout=30)
            for path in ("/v1/health", "/v1/projects", "/v1/health"):
                statuses.append(session.get(api.url + path, headers=AUTH, timeout=(5, 30)).status_code)
        except BaseException as error:
            failures.append(error)
        finally:
            session.close()

    # WHEN they all connect and make three requests each
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # THEN no connection was reset or refused and every request was answered
    assert failures == []
    assert statuses == [200] * clients * 3


def test_64_clients_connecting_while_the_server_is_busy_are_queued_not_dropped(app_on_moto: Any) -> None:
    # GIVEN a server that listens but does not accept yet, as when the platform's other threads keep
    # the accept loop from running for a while
    server = ApiServer(app_on_moto)
    host, port = server.url.removeprefix("http://").split(":")
    connections = [http.client.HTTPConnection(host, int(port), timeout=1) for _ in range(64)]
    try:
        # WHEN 64 clients connect at that moment
        for connection in connections:
            connection.connect()  # a SYN the listen queue cannot hold is dropped: a timeout here
        server.start()
        # THEN, once it serves, each of them gets its answers over the connection it opened
        answers: list[tuple[int, int]] = []

        def two_requests(connection: http.client.HTTPConnection) -> None:
            connection.sock.settimeout(30)
            for _ in range(2):
                connection.request("GET", "/v1/health")
                response = connection.getresponse()
                response.read()
                answers.append((response.status, connection.sock.getsockname()[1]))

        threads = [threading.Thread(target=two_requests, args=(c,)) for c in connections]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(answers) == sorted(
            (200, c.sock.getsockname()[1]) for c in connections for _ in range(2)
        )
    finally:
        for connection in connections:
            connection.close()
        server.stop()


def test_the_cheapest_authenticated_route_reads_the_token_and_one_thing(
    api: ApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The budget bench/api_latency.py checks: a bare route makes no DynamoDB call; GET /v1/projects
    (its "1-read" route) makes one Query, the token being known from the request before (it is read
    again after TOKEN_CACHE_SECONDS)."""
    from pynamodb.connection.base import Connection

    project = requests.post(f"{api.url}/v1/projects", json={"name": "reads"}, headers=AUTH, timeout=10)
    assert project.status_code == 201
    calls: list[str] = []
    original = Connection._make_api_call

    def counting(self: Connection, operation_name: str, operation_kwargs: dict[str, Any]) -> Any:
        calls.append(operation_name)
        return original(self, operation_name, operation_kwargs)

    monkeypatch.setattr(Connection, "_make_api_call", counting)
    assert requests.get(f"{api.url}/v1/health", timeout=10).status_code == 200
    assert calls == []
    assert [
        p["name"] for p in requests.get(f"{api.url}/v1/projects", headers=AUTH, timeout=10).json()["projects"]
    ] == ["reads"]
    assert calls == ["Query"]
    calls.clear()
    project_id = project.json()["project"]["id"]
    assert requests.get(f"{api.url}/v1/projects/{project_id}", headers=AUTH, timeout=10).status_code == 200
    assert calls == ["GetItem", "Query"]  # the project (read once) and its environments


def test_access_logs_go_to_the_access_logger_not_the_terminal(
    api: ApiServer, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        requests.get(f"{api.url}/v1/health", timeout=5).raise_for_status()
        requests.get(f"{api.url}/v1/nowhere", timeout=5)
    lines = [r.getMessage() for r in caplog.records if r.name == ACCESS_LOGGER]
    assert any('"GET /v1/health HTTP/1.1" 200' in line for line in lines), lines
    assert any('"GET /v1/nowhere HTTP/1.1" 403' in line for line in lines), lines
    out, err = capfd.readouterr()
    assert "/v1/health" not in out + err


def test_a_client_that_expects_100_continue_gets_it_before_sending_the_body(api: ApiServer) -> None:
    # GIVEN a client that, like curl with a large upload, waits for "100 Continue" before the body
    host, port = api.url.removeprefix("http://").split(":")
    body = b'{"name": "continued"}'
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(
            b"POST /v1/projects HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode() + b"\r\n"
            b"Content-Type: application/json\r\nExpect: 100-continue\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
        )
        # THEN the interim answer comes at once, not with the final response
        assert sock.recv(1024).startswith(b"HTTP/1.1 100 Continue\r\n")
        sock.sendall(body)
        answer = b""
        while b'"continued"' not in answer:
            chunk = sock.recv(65536)
            assert chunk, answer
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 201")


def test_stop_returns_promptly_and_closes_kept_alive_connections(aws: int) -> None:
    from app import app

    # GIVEN a server and a client holding a kept-alive connection open
    server = ApiServer(app).start()
    session = requests.Session()
    session.get(f"{server.url}/v1/health", timeout=5).raise_for_status()
    # WHEN the platform stops it
    started = time.perf_counter()
    server.stop()
    # THEN stop returns at once and the client's connection and the port are closed
    assert time.perf_counter() - started < 2
    with pytest.raises(requests.ConnectionError):
        session.get(f"{server.url}/v1/health", timeout=5)
    session.close()
