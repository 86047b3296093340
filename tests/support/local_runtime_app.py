"""A tiny stdlib HTTP app packed as a release artifact, and the helpers tests of LocalRuntime use to
publish, activate and ask it (tests/integration/test_local_runtime*.py).

The app's behaviour is chosen by variables: VERSION (what it answers), MODE (ok | unhealthy | crash |
exit), START_DELAY, CRASH_AFTER, TERM_DELAY (trap SIGTERM and exit that many seconds later, writing
TERM_FILE first) and UNHEALTHY_REPLICA (the replica number whose health check answers 500).
"""

from __future__ import annotations

import http.client
import io
import json
import shlex
import sys
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

from chalicelib.adapters.runtime.local import LocalRuntime
from chalicelib.domain.models import ServiceSettings
from chalicelib.domain.ports import ReleaseSpec
from tests.fakes import FakeBlobStore
from tests.support.local_runtime import BUCKET

HOST = "web-production-demo"
SERVICE = "svc_web"
PYTHON = shlex.quote(sys.executable)

APP = r"""
import json, os, signal, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = os.environ.get("VERSION", "v0")
MODE = os.environ.get("MODE", "ok")
REPLICA = os.environ.get("RAILYARD_REPLICA_ID")
UNHEALTHY = MODE == "unhealthy" or REPLICA == os.environ.get("UNHEALTHY_REPLICA")


def on_sigterm(signum, frame):
    def leave():
        if os.environ.get("TERM_FILE"):
            with open(os.environ["TERM_FILE"], "w") as done:
                done.write("exited on its own after SIGTERM")
        os._exit(0)

    threading.Timer(float(os.environ["TERM_DELAY"]), leave).start()


if "TERM_DELAY" in os.environ:
    signal.signal(signal.SIGTERM, on_sigterm)
time.sleep(float(os.environ.get("START_DELAY", "0")))
print(f"app {VERSION} booting", flush=True)
if MODE == "exit":
    print("boom: cannot start", file=sys.stderr, flush=True)
    sys.exit(2)
crash_armed = []


class Handler(BaseHTTPRequestHandler):
    def _send(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Set-Cookie", "a=1")
        self.send_header("Set-Cookie", "b=2")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        if MODE == "crash" and not crash_armed:
            crash_armed.append(1)
            timer = threading.Timer(float(os.environ.get("CRASH_AFTER", "0.3")), lambda: os._exit(3))
            timer.daemon = True
            timer.start()
        if self.path.startswith("/health"):
            return self._send(500 if UNHEALTHY else 200, {"mode": MODE})
        if self.path.startswith("/slow"):
            time.sleep(float(self.path.partition("=")[2] or "1"))
        names = (
            "APP_HOME", "GREETING", "AWS_SECRET_ACCESS_KEY", "RAILYARD_TOKEN", "PORT",
            "RAILWAY_REPLICA_ID", "RAILYARD_REPLICA_ID",
        )
        self._send(200, {
            "version": VERSION, "pid": os.getpid(), "path": self.path,
            "env": {name: os.environ.get(name) for name in names},
            "headers": {k.lower(): v for k, v in self.headers.items()},
        })

    do_HEAD = do_GET

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self._send(201, {"version": VERSION, "echo": body.decode()})

    def log_message(self, format, *args):
        print(f"{VERSION} {self.command} {self.path}", flush=True)


server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
server.daemon_threads = True
server.serve_forever()
"""


class MemoryLog:
    """LogSink that keeps every line; written from several threads."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.flushes = 0
        self._lock = threading.Lock()

    def write(self, message: str) -> None:
        with self._lock:
            self.lines.append(message)

    def flush(self) -> None:
        with self._lock:
            self.flushes += 1

    def text(self) -> str:
        with self._lock:
            return "\n".join(self.lines)


class CrashRecorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.called = threading.Event()

    def __call__(self, deployment_id: str, reason: str) -> None:
        self.calls.append((deployment_id, reason))
        self.called.set()


def publish(blobs: FakeBlobStore, name: str, extra: dict[str, str] | None = None) -> str:
    """Pack app.py (+ extra files, path → text) as the build runner would; return the artifact key."""
    files = {"app.py": APP, **(extra or {})}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o755 if path.startswith("bin/") else 0o644
            tar.addfile(info, io.BytesIO(data))
    key = f"artifacts/{name}.tar.gz"
    blobs.put_bytes(BUCKET, key, buffer.getvalue())
    return key


def release(
    blobs: FakeBlobStore,
    release_id: str,
    *,
    start_command: str = f"exec {PYTHON} app.py",
    extra: dict[str, str] | None = None,
    **variables: str,
) -> ReleaseSpec:
    return ReleaseSpec(
        service_id=SERVICE,
        hostname=HOST,
        deployment_id=f"dep_{release_id}",
        release_id=release_id,
        artifact_key=publish(blobs, release_id, extra),
        start_command=start_command,
        variables={"VERSION": release_id, **variables},
        settings=ServiceSettings(
            healthcheck_path="/health",
            healthcheck_timeout=5.0,
            restart_policy_max_retries=2,
            overlap_seconds=0.3,
            draining_seconds=1.0,
        ),
    )


def with_settings(spec: ReleaseSpec, **settings: Any) -> ReleaseSpec:
    base = spec.settings.to_dict()
    return ReleaseSpec(**{**spec.__dict__, "settings": ServiceSettings(**{**base, **settings})})


def request(
    runtime: LocalRuntime,
    path: str = "/",
    *,
    host: str = f"{HOST}.localhost",
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes, http.client.HTTPResponse]:
    connection = http.client.HTTPConnection("127.0.0.1", runtime.router_port, timeout=10)
    try:
        connection.request(
            method, path, body=body, headers={"Host": f"{host}:{runtime.router_port}", **(headers or {})}
        )
        response = connection.getresponse()
        return response.status, response.read(), response
    finally:
        connection.close()


def answer(runtime: LocalRuntime, path: str = "/") -> dict[str, Any]:
    status, body, _ = request(runtime, path)
    assert status == 200, body
    return dict(json.loads(body))


def answer_directly(port: int, path: str = "/") -> dict[str, Any]:
    """Ask one process on its own port, bypassing the router."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        assert response.status == 200, body
        return dict(json.loads(body))
    finally:
        connection.close()


def alive(pid: int) -> bool:
    """True while `pid` runs; a zombie (exited, not yet reaped by its new parent) counts as dead."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):  # gone, or reaped between open() and read()
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def eventually(check: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def never_cancelled() -> None:
    return None
