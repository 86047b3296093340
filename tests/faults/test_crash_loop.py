"""Faults: an app that crash-loops, with a client sending requests through the router all along.

The router never answers 502 for it and never drops a connection: while no process of the service is
up (between a crash and the restart, and after the restarts are exhausted) it answers a clean 503
whose message names the service and says it is not running. The deployment ends CRASHED (it served,
then died) or FAILED (it never got healthy; the previous release keeps serving), with the reason.
The last tests hold the router itself to that: a replica that died with a request in hand is "not
running" (503, and a GET goes to the next replica), one that is alive but dropped it is a 502.
"""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from chalicelib.adapters.runtime.router import Router
from chalicelib.adapters.runtime.router_table import RouteTable
from tests.support.faults import Load, deployments, echo_app, figures, hostname, router_json, wait_status
from tests.support.platform import Dev

pytestmark = [pytest.mark.faults, pytest.mark.timeout(180)]

RATE = 20.0  # requests per second through the router
RETRIES = 2
END_SECONDS = 45  # bound for the deployment to end CRASHED / FAILED


def _unclean(load: Load) -> list[str]:
    """Every answer that is neither a 200 nor a 503: 502s, other statuses, socket errors."""
    return [f for f in load.failures if not f.startswith("status 503")]


def test_an_app_that_crashes_after_getting_healthy_answers_503_never_502_and_ends_crashed(
    dev: Dev, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    # GIVEN an app that exits two seconds after it starts listening, restarted at most twice
    app, service_id = echo_app(dev, tmp_path, "crashloop", {"CRASH_AFTER": "2"})
    dev.api("PATCH", f"/v1/services/{service_id}", json={"settings": {"restartPolicyMaxRetries": RETRIES}})
    load = Load(dev, hostname("crashloop"), RATE, clients=2)
    try:
        # WHEN it is deployed while a client sends requests to it
        dev.cli("up", cwd=app, check=False)  # it may have crashed before `up` looked again
        load.start()
        deployment_id = deployments(dev, service_id)[0]["id"]
        deployment = wait_status(dev, deployment_id, {"CRASHED", "FAILED"}, END_SECONDS)
        # (and the client keeps asking after the crash)
        after = [dev.get(hostname("crashloop")) for _ in range(3)]
    finally:
        load.stop()
    figures(
        record_property,
        "crash loop after healthy",
        status=deployment["status"],
        answers=dict(sorted(load.statuses.items())),
        unclean=len(_unclean(load)),
        **{k: v for k, v in load.summary().items() if k in ("requests", "p50_ms", "p99_ms")},
    )
    # THEN it ended CRASHED and says why
    assert deployment["status"] == "CRASHED", deployment
    assert "exited with code 3" in (deployment.get("reason") or "")
    # AND every request got a 200 or a clean 503, never a 502 or a dropped connection
    assert _unclean(load) == []
    assert load.statuses.get(200, 0) > 0 and load.statuses.get(503, 0) > 0
    # AND the 503 names the service and says it is not running
    for status, body in after:
        assert status == 503
        assert hostname("crashloop") in body and "not running" in body


def test_an_app_that_exits_at_start_fails_with_the_reason_and_the_previous_release_keeps_serving(
    dev: Dev, tmp_path: Path, record_property: Callable[[str, object], None]
) -> None:
    # GIVEN a live, healthy release
    app, service_id = echo_app(dev, tmp_path, "exitloop")
    dev.api("PATCH", f"/v1/services/{service_id}", json={"settings": {"restartPolicyMaxRetries": RETRIES}})
    dev.cli("up", cwd=app)
    live = router_json(dev, "exitloop")["release"]
    load = Load(dev, hostname("exitloop"), RATE, clients=2).start()
    try:
        # WHEN a variable change deploys a release whose process exits before it ever listens
        patched = dev.api("PATCH", f"/v1/services/{service_id}/variables", json={"set": {"CRASH_AFTER": "0"}})
        deployment = wait_status(
            dev, patched["deployment"]["id"], {"SUCCESS", "CRASHED", "FAILED"}, END_SECONDS
        )
    finally:
        load.stop()
    figures(
        record_property,
        "exits at start",
        status=deployment["status"],
        answers=dict(sorted(load.statuses.items())),
        unclean=len(_unclean(load)),
        reason=deployment.get("reason"),
    )
    # THEN the deployment FAILED naming the exit, and the previous release served every request
    assert deployment["status"] == "FAILED", deployment
    assert "exited with code 3" in (deployment.get("reason") or "")
    assert load.failures == []
    assert router_json(dev, "exitloop")["release"] == live


class _Upstream:
    """A replica on a free port that takes one request and drops it unanswered; with `dies`, its
    port is closed first, as a process that exits with the request in hand."""

    def __init__(self, dies: bool) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.dies = dies
        self.thread = threading.Thread(target=self._take_one, daemon=True)
        self.thread.start()

    def _take_one(self) -> None:
        connection, _ = self.listener.accept()
        connection.recv(65536)
        if self.dies:
            self.listener.close()
        connection.close()

    def close(self) -> None:
        self.listener.close()
        self.thread.join(timeout=5)


def _ask(port: int, host: str, method: str = "GET") -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request(method, "/", body=b"x" if method == "POST" else None, headers={"Host": host})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("method", "dies", "answer"),
    [
        ("GET", True, 503),  # died under the request: not running
        ("POST", True, 503),  # the same, and not repeated elsewhere (it may have had effects)
        ("GET", False, 502),  # still listening: a live app that failed the request
    ],
)
def test_the_router_tells_a_replica_that_died_under_a_request_from_one_that_failed_it(
    method: str, dies: bool, answer: int
) -> None:
    routes = RouteTable()
    router = Router(routes)
    port = router.start()
    upstream = _Upstream(dies)
    try:
        routes.set("flaky", upstream.port)
        status, body = _ask(port, "flaky.localhost", method)
        assert status == answer, body
        assert ("'flaky' is not running" in body) == (answer == 503)
    finally:
        router.stop()
        upstream.close()


def test_a_get_that_a_dying_replica_dropped_is_answered_by_the_next_replica() -> None:
    routes = RouteTable()
    router = Router(routes)
    port = router.start()
    dying = _Upstream(dies=True)
    alive = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=alive.serve_forever, daemon=True).start()
    try:
        routes.set("pair", [dying.port, alive.server_port])  # the first turn is the dying one's
        assert _ask(port, "pair.localhost") == (200, "ok")
        dying.thread.join(timeout=5)
        assert dying.listener.fileno() == -1  # it did take the request, then died
    finally:
        router.stop()
        dying.close()
        alive.shutdown()
        alive.server_close()


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass
