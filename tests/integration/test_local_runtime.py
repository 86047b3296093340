"""LocalRuntime and its router against real processes and real HTTP on 127.0.0.1.

Each test packs a tiny stdlib HTTP app into a tar.gz (the artifact contract of the build runner),
stores it in an in-memory BlobStore and activates it (the app and helpers:
tests/support/local_runtime_app.py). Replicas and cron services have their own files
(test_local_runtime_replicas.py, _cron.py).
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters.runtime.local import LocalRuntime
from chalicelib.adapters.runtime.router import Router
from chalicelib.adapters.runtime.router_table import RouteTable
from chalicelib.domain.errors import DeploymentCancelled, HealthCheckFailed, PreDeployFailed
from tests.fakes import FakeBlobStore
from tests.support.local_runtime_app import (
    BUCKET,
    HOST,
    PYTHON,
    SERVICE,
    CrashRecorder,
    MemoryLog,
    alive,
    answer,
    answer_directly,
    eventually,
    never_cancelled,
    release,
    request,
    with_settings,
)

pytestmark = pytest.mark.timeout(30)

# fixtures and helpers


# tests


def test_activate_serves_through_the_router_with_the_artifact_environment(
    runtime: LocalRuntime, blobs: FakeBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN platform secrets in the environment and an artifact whose runtime.json puts its bin/ on PATH
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "platform-secret")
    monkeypatch.setenv("RAILYARD_TOKEN", "platform-token")
    runtime_json = {"env": {"APP_HOME": "{app}", "PATH": "{app}/bin:{PATH}", "GREETING": "from-json"}}
    spec = release(
        blobs,
        "rel_1",
        start_command="serve-app",  # found only through the runtime.json PATH
        extra={
            ".railyard/runtime.json": json.dumps(runtime_json),
            "bin/serve-app": f"#!/bin/sh\nexec {PYTHON} app.py\n",
        },
        GREETING="from-variables",
    )
    log = MemoryLog()

    # WHEN it is activated
    runtime.activate(spec, log, never_cancelled)

    # THEN the router forwards by Host header to the app, with the right environment
    app = answer(runtime, "/hello?x=1")
    assert app["version"] == "rel_1"
    assert app["path"] == "/hello?x=1"
    app_dir = str(Path(runtime.data_dir, "releases", "rel_1", "app"))
    assert app["env"]["APP_HOME"] == app_dir
    assert app["env"]["GREETING"] == "from-variables"  # service variables win over runtime.json
    assert app["env"]["AWS_SECRET_ACCESS_KEY"] is None
    assert app["env"]["RAILYARD_TOKEN"] is None
    assert app["headers"]["x-forwarded-host"] == f"{HOST}.localhost:{runtime.router_port}"
    assert app["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert runtime.active_release(HOST) == "rel_1"
    assert runtime.url_for(HOST) == f"http://{HOST}.localhost:{runtime.router_port}"
    text = log.text()
    assert "healthcheck: waiting for 200 on /health (timeout 5s)" in text
    assert "healthcheck: passed after" in text
    # app output keeps flowing into the sink after activate returned
    eventually(lambda: "rel_1 GET /hello?x=1" in log.text())


def test_router_proxies_bodies_heads_duplicate_headers_and_unknown_hosts(
    runtime: LocalRuntime, blobs: FakeBlobStore
) -> None:
    runtime.activate(release(blobs, "rel_1"), MemoryLog(), never_cancelled)

    status, body, _ = request(runtime, "/echo", method="POST", body=b"hello body")
    assert (status, json.loads(body)["echo"]) == (201, "hello body")

    status, body, response = request(runtime, "/", method="HEAD")
    assert status == 200 and body == b""
    assert int(response.getheader("Content-Length") or 0) > 0
    assert response.msg.get_all("Set-Cookie") == ["a=1", "b=2"]

    status, body, _ = request(runtime, host="nobody.localhost")
    assert status == 404 and b"nobody" in body


def test_router_answers_503_not_running_when_the_upstream_refuses() -> None:
    routes = RouteTable()
    router = Router(routes)
    port = router.start()
    try:
        routes.set("gone", 9)  # discard port: nothing listens on it (the process just died)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", "/", headers={"Host": "gone.localhost"})
        response = connection.getresponse()
        assert response.status == 503 and b"'gone' is not running" in response.read()
        connection.close()
    finally:
        router.stop()


class _NamedUpstream(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = str(self.connection.getsockname()[1]).encode()  # which upstream answered
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_router_round_robins_and_skips_an_upstream_that_refuses() -> None:
    # GIVEN a host routed to two live upstreams and one port where nothing listens
    upstreams = [ThreadingHTTPServer(("127.0.0.1", 0), _NamedUpstream) for _ in range(2)]
    for server in upstreams:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    live = [server.server_port for server in upstreams]
    routes = RouteTable()
    router = Router(routes)
    port = router.start()
    try:

        def ask() -> tuple[int, bytes]:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            try:
                connection.request("GET", "/", headers={"Host": "multi.localhost"})
                response = connection.getresponse()
                return response.status, response.read()
            finally:
                connection.close()

        # WHEN both live upstreams are routed, THEN they take strict turns
        routes.set("multi", live)
        assert sorted(int(ask()[1]) for _ in range(4)) == sorted(live * 2)
        # WHEN a port where nothing listens is routed between them (a replica that just died)
        routes.set("multi", [live[0], 9, live[1]])
        answers = [ask() for _ in range(6)]
        # THEN every request still succeeds: the refused turn moved on to the next upstream
        assert {status for status, _ in answers} == {200}
        assert {int(body) for _, body in answers} == set(live)
        # AND a host with no upstream up answers 503
        routes.set("multi", [])
        assert ask()[0] == 503
    finally:
        router.stop()
        for server in upstreams:
            server.shutdown()
            server.server_close()


class _UnframedUpstream(BaseHTTPRequestHandler):
    """HTTP/1.0 answers without Content-Length: the body ends when the connection closes."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"got:" + body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_router_reframes_unframed_answers_and_chunked_requests() -> None:
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _UnframedUpstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    routes = RouteTable()
    router = Router(routes)
    port = router.start()
    try:
        routes.set("raw", upstream.server_address[1])
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        # a chunked HTTP/1.1 request body, forwarded with a Content-Length
        connection.request(
            "POST", "/", body=iter([b"abc", b"de"]), headers={"Host": "raw.localhost"}, encode_chunked=True
        )
        first = connection.getresponse()
        assert first.getheader("Transfer-Encoding") == "chunked"  # re-chunked: the connection stays open
        assert first.read() == b"got:abcde"
        kept_alive = connection.sock
        connection.request("POST", "/", body=b"z", headers={"Host": "raw.localhost"})
        assert connection.getresponse().read() == b"got:z"
        assert connection.sock is kept_alive
        connection.close()
        # an HTTP/1.0 client gets the body delimited by the connection's end instead
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            client.sendall(b"POST / HTTP/1.0\r\nHost: raw.localhost\r\nContent-Length: 2\r\n\r\nok")
            raw = b"".join(iter(lambda: client.recv(65536), b""))
            assert raw.startswith(b"HTTP/1.1 200") and raw.endswith(b"\r\n\r\ngot:ok")
    finally:
        router.stop()
        upstream.shutdown()
        upstream.server_close()


def test_second_release_switches_without_a_failed_request(
    runtime: LocalRuntime, blobs: FakeBlobStore
) -> None:
    # GIVEN rel_1 serving and a client requesting continuously over one keep-alive connection
    runtime.activate(release(blobs, "rel_1"), MemoryLog(), never_cancelled)
    seen: list[str] = []
    failures: list[str] = []
    switched = threading.Event()

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", runtime.router_port, timeout=10)
        after_switch = 0
        for _ in range(3000):  # bounded; normally ends ~100 requests after the switch
            try:
                connection.request("GET", "/", headers={"Host": f"{HOST}.localhost"})
                response = connection.getresponse()
                body = response.read()
                if response.status != 200:
                    failures.append(f"{response.status} {body!r}")
                else:
                    seen.append(json.loads(body)["version"])
            except (OSError, http.client.HTTPException) as exc:
                failures.append(repr(exc))
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", runtime.router_port, timeout=10)
            if switched.is_set():
                after_switch += 1
                if after_switch >= 100:
                    break
        connection.close()

    slow: list[dict[str, Any]] = []
    traffic = threading.Thread(target=client)
    traffic.start()
    eventually(lambda: len(seen) >= 20)
    # a long request to rel_1 is in flight while the switch happens
    in_flight = threading.Thread(target=lambda: slow.append(answer(runtime, "/slow?s=0.8")))
    in_flight.start()
    time.sleep(0.1)

    # WHEN rel_2 is activated (rel_1 overlaps for longer than the in-flight request still needs)
    runtime.activate(with_settings(release(blobs, "rel_2"), overlap_seconds=2), MemoryLog(), never_cancelled)
    switched.set()
    traffic.join(timeout=20)
    in_flight.join(timeout=5)

    # THEN no request failed, traffic moved to rel_2, and the in-flight request completed on rel_1
    assert failures == []
    assert "rel_1" in seen and seen[-1] == "rel_2"
    assert seen[seen.index("rel_2") :] == ["rel_2"] * len(seen[seen.index("rel_2") :])
    assert slow and slow[0]["version"] == "rel_1"
    assert runtime.active_release(HOST) == "rel_2"


def test_previous_release_keeps_answering_during_the_overlap_then_exits_on_sigterm(
    runtime: LocalRuntime, blobs: FakeBlobStore, tmp_path: Path
) -> None:
    # GIVEN rel_1 serving, an app that exits 0.2 s after SIGTERM (writing a file as it does)
    term_file = tmp_path / "rel_1.term"
    runtime.activate(
        release(blobs, "rel_1", TERM_DELAY="0.2", TERM_FILE=str(term_file)), MemoryLog(), never_cancelled
    )
    old = answer(runtime)
    old_port = int(old["env"]["PORT"])
    log = MemoryLog()

    # WHEN rel_2 goes live with a 1 s overlap and up to 3 s of draining
    switched = time.monotonic()
    runtime.activate(
        with_settings(release(blobs, "rel_2"), overlap_seconds=1.0, draining_seconds=3.0),
        log,
        never_cancelled,
    )

    # THEN the router sends new requests to rel_2 while rel_1 still answers on its own port
    assert answer(runtime)["version"] == "rel_2"
    assert answer_directly(old_port)["version"] == "rel_1"
    time.sleep(max(0.0, switched + 0.6 - time.monotonic()))
    assert answer_directly(old_port)["pid"] == old["pid"]  # 0.6 s in: still overlapping, no SIGTERM yet
    assert "SIGTERM; draining" not in log.text()
    # AND after the overlap it gets SIGTERM, exits on its own within the draining time, no SIGKILL
    eventually(lambda: not alive(old["pid"]), timeout=5)
    assert time.monotonic() - switched >= 1.0
    assert term_file.read_text() == "exited on its own after SIGTERM"
    eventually(lambda: "after SIGTERM" in log.text())
    text = log.text()
    assert "previous release rel_1: overlap 1s (it keeps running so requests in flight finish)" in text
    assert "previous release rel_1: SIGTERM; draining up to 3s" in text
    assert "SIGKILL" not in text


def test_previous_release_that_outlives_its_draining_time_is_killed(
    runtime: LocalRuntime, blobs: FakeBlobStore, tmp_path: Path
) -> None:
    # GIVEN rel_1 traps SIGTERM and would exit only 30 s later
    term_file = tmp_path / "rel_1.term"
    runtime.activate(
        release(blobs, "rel_1", TERM_DELAY="30", TERM_FILE=str(term_file)), MemoryLog(), never_cancelled
    )
    old_pid = answer(runtime)["pid"]
    log = MemoryLog()

    # WHEN rel_2 goes live with no overlap and 0.6 s of draining
    switched = time.monotonic()
    runtime.activate(
        with_settings(release(blobs, "rel_2"), overlap_seconds=0, draining_seconds=0.6), log, never_cancelled
    )

    # THEN rel_1 survives SIGTERM for the draining time, then is SIGKILLed
    eventually(lambda: "SIGTERM; draining up to 0.6s" in log.text(), timeout=2)
    time.sleep(max(0.0, switched + 0.3 - time.monotonic()))
    assert alive(old_pid)
    eventually(lambda: not alive(old_pid), timeout=5)
    assert time.monotonic() - switched >= 0.6
    eventually(lambda: "SIGKILL" in log.text())
    assert "previous release rel_1: SIGKILL after 0.6s (it did not exit on SIGTERM)" in log.text()
    assert not term_file.exists()
    assert answer(runtime)["version"] == "rel_2"


def test_activating_the_active_release_again_is_a_no_op(runtime: LocalRuntime, blobs: FakeBlobStore) -> None:
    spec = release(blobs, "rel_1")
    runtime.activate(spec, MemoryLog(), never_cancelled)
    pid = answer(runtime)["pid"]
    log = MemoryLog()

    runtime.activate(spec, log, never_cancelled)

    assert answer(runtime)["pid"] == pid
    assert "already active" in log.text()


def test_never_healthy_release_fails_and_the_old_one_keeps_serving(
    runtime: LocalRuntime, blobs: FakeBlobStore
) -> None:
    runtime.activate(release(blobs, "rel_1"), MemoryLog(), never_cancelled)
    bad = with_settings(release(blobs, "rel_2", MODE="unhealthy"), healthcheck_timeout=1.5)
    log = MemoryLog()

    started = time.monotonic()
    with pytest.raises(HealthCheckFailed, match=r"timeout after 1.5s waiting for 200 on /health"):
        runtime.activate(bad, log, never_cancelled)

    assert time.monotonic() - started < 4
    assert answer(runtime)["version"] == "rel_1"
    assert runtime.active_release(HOST) == "rel_1"
    assert "healthcheck: failed: timeout after 1.5s" in log.text()
    assert "app rel_2 booting" in log.text()  # the last output lines are part of the reason


def test_release_that_exits_at_boot_is_restarted_then_fails_with_its_output(
    runtime: LocalRuntime, blobs: FakeBlobStore
) -> None:
    runtime.activate(release(blobs, "rel_1"), MemoryLog(), never_cancelled)
    log = MemoryLog()

    with pytest.raises(HealthCheckFailed, match=r"exited with code 2 \(3 times\)") as failure:
        runtime.activate(release(blobs, "rel_2", MODE="exit"), log, never_cancelled)

    assert "boom: cannot start" in str(failure.value)
    assert "restarting (attempt 2/2)" in log.text()
    assert answer(runtime)["version"] == "rel_1"


def test_cancellation_during_healthcheck_kills_the_new_release(
    runtime: LocalRuntime, blobs: FakeBlobStore
) -> None:
    runtime.activate(release(blobs, "rel_1"), MemoryLog(), never_cancelled)
    calls = []

    def cancel_on_second_call() -> None:
        calls.append(1)
        if len(calls) >= 2:
            raise DeploymentCancelled("cancelled by user")

    slow = with_settings(release(blobs, "rel_2", START_DELAY="30"), healthcheck_timeout=60)
    log = MemoryLog()
    with pytest.raises(DeploymentCancelled):
        runtime.activate(slow, log, cancel_on_second_call)

    assert answer(runtime)["version"] == "rel_1"
    pid_line = next(line for line in log.lines if line.startswith("started release rel_2 (pid "))
    new_pid = int(pid_line.split("(pid ")[1].split(",")[0])
    assert not alive(new_pid)


def test_slow_starting_release_passes_its_healthcheck(runtime: LocalRuntime, blobs: FakeBlobStore) -> None:
    log = MemoryLog()
    runtime.activate(release(blobs, "rel_1", START_DELAY="1"), log, never_cancelled)

    assert answer(runtime)["version"] == "rel_1"
    passed = next(line for line in log.lines if line.startswith("healthcheck: passed after"))
    assert float(passed.split("after ")[1].rstrip("s")) >= 1.0


def test_crash_loop_is_restarted_then_reported_once_and_answers_503(
    runtime: LocalRuntime, blobs: FakeBlobStore, crashes: CrashRecorder
) -> None:
    # GIVEN an app that dies (exit 3) 0.3 s after its first request, with 2 restarts allowed
    log = MemoryLog()
    runtime.activate(release(blobs, "rel_1", MODE="crash"), log, never_cancelled)

    # WHEN it keeps crashing
    assert crashes.called.wait(timeout=8)
    time.sleep(0.5)  # a second report would come now if there were one

    # THEN it was restarted twice, reported exactly once, and the host answers 503
    assert "process exited with code 3; restarting (attempt 1/2)" in log.text()
    assert "process exited with code 3; restarting (attempt 2/2)" in log.text()
    assert len(crashes.calls) == 1
    deployment_id, reason = crashes.calls[0]
    assert deployment_id == "dep_rel_1"
    assert "exited with code 3; restarts exhausted (2/2)" in reason
    status, _, _ = request(runtime)
    assert status == 503
    assert runtime.active_release(HOST) is None
    assert log.flushes >= 3  # once per process that ended


def test_stop_removes_the_route_and_the_process(runtime: LocalRuntime, blobs: FakeBlobStore) -> None:
    runtime.activate(release(blobs, "rel_1"), MemoryLog(), never_cancelled)
    pid = answer(runtime)["pid"]

    runtime.stop(SERVICE)
    runtime.stop(SERVICE)  # idempotent

    assert request(runtime)[0] == 503
    assert not alive(pid)
    assert runtime.active_release(HOST) is None


def test_close_leaves_no_process_alive(tmp_path: Path, blobs: FakeBlobStore, crashes: CrashRecorder) -> None:
    # GIVEN an active release whose start command also forks a helper, and one still overlapping
    rt = LocalRuntime(str(tmp_path / "data"), blobs, BUCKET, crashes)
    rt.start()
    try:
        command = f"sleep 60 & echo $! > helper.pid; exec {PYTHON} app.py"
        rt.activate(release(blobs, "rel_1", start_command=command), MemoryLog(), never_cancelled)
        old_pid = answer(rt)["pid"]
        second = with_settings(
            release(blobs, "rel_2", start_command=command), overlap_seconds=30, draining_seconds=30
        )
        rt.activate(second, MemoryLog(), never_cancelled)
        new_pid = answer(rt)["pid"]
        helpers = [
            int(Path(rt.data_dir, "releases", rid, "app", "helper.pid").read_text())
            for rid in ("rel_1", "rel_2")
        ]
        assert all(alive(pid) for pid in [old_pid, new_pid, *helpers])
    finally:
        # WHEN the runtime closes
        started = time.monotonic()
        rt.close()

    # THEN every process it started is gone, quickly, and the router no longer listens
    assert time.monotonic() - started < 6
    assert [pid for pid in [old_pid, new_pid, *helpers] if alive(pid)] == []
    with pytest.raises(OSError):
        http.client.HTTPConnection("127.0.0.1", rt.router_port, timeout=2).request("GET", "/")


def test_pre_deploy_command_runs_first_in_the_release_environment(
    runtime: LocalRuntime, blobs: FakeBlobStore
) -> None:
    # GIVEN a release whose pre-deploy command prints one of its variables
    spec = with_settings(
        release(blobs, "rel_1", GREETING="hi"), pre_deploy_command='echo "migrating $GREETING"'
    )
    log = MemoryLog()
    # WHEN it is activated
    runtime.activate(spec, log, never_cancelled)
    # THEN the command ran in the release's directory and environment before the app started
    assert "migrating hi" in log.lines
    assert log.lines.index("pre-deploy: done") < next(
        i for i, x in enumerate(log.lines) if x.startswith("starting:")
    )
    assert answer(runtime)["version"] == "rel_1"


def test_a_failing_pre_deploy_command_fails_and_the_old_release_keeps_serving(
    runtime: LocalRuntime, blobs: FakeBlobStore
) -> None:
    runtime.activate(release(blobs, "rel_1"), MemoryLog(), never_cancelled)
    bad = with_settings(release(blobs, "rel_2"), pre_deploy_command="echo 'relation already exists'; exit 4")
    log = MemoryLog()
    with pytest.raises(PreDeployFailed, match="exited with code 4"):
        runtime.activate(bad, log, never_cancelled)
    assert "relation already exists" in log.lines
    assert not any(x.startswith("starting:") for x in log.lines)
    assert answer(runtime)["version"] == "rel_1"
