"""Helpers of the fault suite (tests/faults/): a tiny app that says which release answers, bounded
waits on deployments, a paced HTTP load through the router with its latency figures, a line of
figures each test prints (and records on its report), and what the restart tests look at: the
process groups a platform recorded and whether they are gone.

Everything talks to a `Dev` (tests/support/platform.py) on 127.0.0.1 only, and every wait has a bound.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.platform import Dev, DevProcess

IN_PROGRESS = frozenset({"QUEUED", "BUILDING", "DEPLOYING"})
HELLO_V1 = "Hello from Railyard! (python, version 1)\n"  # what examples/hello-python answers on /

# The app tells which release answers (RAILWAY_REPLICA_ID is `<release id>-<n>`) and the value of
# ROUND its release was deployed with. CRASH_AFTER=s makes it exit s seconds after it started
# listening (after passing its first health check when s exceeds the check's interval);
# CRASH_AFTER=0 makes it exit before it ever listens. Single-threaded on purpose: it exits between
# two requests (shutdown() returns after the request in hand), so a crash never cuts an answer short.
ECHO_APP = """
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

CRASH_AFTER = os.environ.get("CRASH_AFTER")
if CRASH_AFTER is not None and float(CRASH_AFTER) <= 0:
    print("crash-loop app: exiting before listening", flush=True)
    sys.exit(3)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps(
            {
                "release": os.environ["RAILWAY_REPLICA_ID"].rsplit("-", 1)[0],
                "round": os.environ.get("ROUND"),
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


server = HTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
if CRASH_AFTER is not None:
    threading.Timer(float(CRASH_AFTER), server.shutdown).start()
print("echo app listening", flush=True)
server.serve_forever(poll_interval=0.05)
server.server_close()
if CRASH_AFTER is not None:
    print("crash-loop app: exiting", flush=True)
    sys.exit(3)
"""


def echo_app(dev: Dev, tmp: Path, project: str, variables: dict[str, str] | None = None) -> tuple[Path, str]:
    """A linked directory holding the echo app (not deployed yet) and its service id. Variables are
    set before the first deployment, so setting them deploys nothing."""
    directory = tmp / project
    directory.mkdir()
    (directory / "main.py").write_text(ECHO_APP)
    dev.cli("init", "--project", project, "--name", "web", cwd=directory)
    if variables:
        dev.cli("variables", "set", *(f"{k}={v}" for k, v in variables.items()), cwd=directory)
    return directory, dev.link(directory)["serviceId"]


def hostname(project: str) -> str:
    return f"web-production-{project}"


def deployments(dev: Dev, service_id: str) -> list[dict[str, Any]]:
    return dev.api("GET", f"/v1/services/{service_id}/deployments?limit=100")["deployments"]  # type: ignore[no-any-return]


def wait_settled(dev: Dev, service_id: str, ids: Iterable[str], bound: float) -> dict[str, dict[str, Any]]:
    """The deployments `ids` once none of them is in progress, or as they are when `bound` seconds
    have passed (the caller's assertions then say which one is stuck)."""
    wanted = set(ids)
    deadline = time.monotonic() + bound
    while True:
        seen = {d["id"]: d for d in deployments(dev, service_id) if d["id"] in wanted}
        if len(seen) == len(wanted) and not any(d["status"] in IN_PROGRESS for d in seen.values()):
            return seen
        if time.monotonic() > deadline:
            return seen
        time.sleep(0.5)  # each poll is an API call competing with the deployments for the CPU


def wait_status(dev: Dev, deployment_id: str, statuses: set[str], bound: float) -> dict[str, Any]:
    """The deployment once its status is one of `statuses`, or as it is after `bound` seconds."""
    deadline = time.monotonic() + bound
    while True:
        deployment: dict[str, Any] = dev.api("GET", f"/v1/deployments/{deployment_id}")["deployment"]
        if deployment["status"] in statuses or time.monotonic() > deadline:
            return deployment
        time.sleep(0.2)


def running(platform: DevProcess) -> Dev:
    """The handles of a platform that must be running now."""
    assert platform.dev is not None and platform.proc is not None and platform.proc.poll() is None
    return platform.dev


def process_groups(dev: Dev) -> set[int]:
    """The process groups (apps, builds) the platform recorded as running."""
    directory = dev.data_dir / "run" / "groups"
    return {int(entry.name) for entry in directory.iterdir() if entry.name.isdigit()}


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_gone(groups: set[int], bound: float = 10.0) -> float:
    """Seconds until none of `groups` has a process left; fails past `bound`."""
    started = time.monotonic()
    while any(group_alive(pgid) for pgid in groups):
        assert time.monotonic() - started < bound, f"still alive after {bound}s: {groups}"
        time.sleep(0.05)
    return time.monotonic() - started


def router_json(dev: Dev, project: str) -> dict[str, Any]:
    status, body = dev.get(hostname(project))
    assert status == 200, (status, body)
    return json.loads(body)  # type: ignore[no-any-return]


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def figures(record: Callable[[str, object], None], title: str, **values: object) -> None:
    """One line of figures on stdout (`pytest -s`, the CI log) and on the test's report."""
    print(f"\n[faults] {title}: " + ", ".join(f"{k}={v}" for k, v in values.items()))
    for name, value in values.items():
        record(name, value)


@dataclass
class Load:
    """Requests to one routed host at a steady rate from `clients` threads, each request on a new
    connection, until `stop()`. Any answer but 200, and any socket error, is a failure."""

    dev: Dev
    host: str
    rate: float
    clients: int = 4
    bound: float = 120.0  # a failing test still stops sending
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)
    started: float = 0.0
    elapsed: float = 0.0

    def start(self) -> Load:
        self.started = time.monotonic()
        for n in range(self.clients):
            thread = threading.Thread(target=self._run, args=(n,), name=f"load-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)
        self.elapsed = time.monotonic() - self.started

    @property
    def sent(self) -> int:
        return sum(self.statuses.values()) + sum(not f.startswith("status ") for f in self.failures)

    def _run(self, n: int) -> None:
        interval = self.clients / self.rate
        next_at = self.started + n * interval / self.clients
        while not self._stop.is_set() and time.monotonic() - self.started < self.bound:
            delay = next_at - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                return
            next_at += interval
            self._one()

    def _one(self) -> None:
        began = time.perf_counter()
        connection = http.client.HTTPConnection("127.0.0.1", self.dev.router_port, timeout=10)
        try:
            connection.request("GET", "/", headers={"Host": f"{self.host}.localhost"})
            response = connection.getresponse()
            body = response.read().decode(errors="replace")
            took = time.perf_counter() - began
            with self._lock:
                self.statuses[response.status] = self.statuses.get(response.status, 0) + 1
                self.latencies.append(took)
                self.bodies.append(body)
                if response.status != 200:
                    self.failures.append(f"status {response.status}: {body.strip()[:200]}")
        except (OSError, http.client.HTTPException) as error:
            with self._lock:
                self.failures.append(repr(error))
        finally:
            connection.close()

    def summary(self) -> dict[str, object]:
        return {
            "requests": self.sent,
            "failed": len(self.failures),
            "rate_per_s": round(self.sent / self.elapsed, 1) if self.elapsed else 0,
            "p50_ms": round(percentile(self.latencies, 0.50) * 1000, 1),
            "p99_ms": round(percentile(self.latencies, 0.99) * 1000, 1),
            "max_ms": round(max(self.latencies, default=0) * 1000, 1),
        }
