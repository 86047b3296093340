"""LocalRuntime with apps that are not (only) web servers: real processes, the real router.

Without a health-check path a release is live once its process accepts connections on $PORT (web)
or stays up for the settle time (worker); one that exits 0 and is not restarted ran to completion
(job). With a path the check stays strict. Semantics: chalicelib/domain/workloads.py.
"""

from __future__ import annotations

import shlex
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters.runtime.local import LocalRuntime
from chalicelib.domain.errors import HealthCheckFailed
from chalicelib.domain.models import ServiceSettings
from chalicelib.domain.ports import ReleaseSpec
from chalicelib.domain.workloads import Workload
from tests.fakes import FakeBlobStore, FakeLog
from tests.support.local_runtime import published_release, running_runtime
from tests.support.router import get_through_router
from tests.support.tarballs import small_source

pytestmark = pytest.mark.timeout(60)

HOST = "jobs-production-demo"
SETTLE = 1.0
PYTHON = shlex.quote(sys.executable)

# One app, its behaviour chosen by MODE: web (answers 500 on every path: no HTTP check is made),
# worker (prints forever, opens no port), job (prints, exits EXIT_CODE after RUN_SECONDS).
APP = r"""
import os, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODE = os.environ["MODE"]
if MODE == "web":
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = os.environ["VERSION"].encode()
            self.send_response(int(os.environ.get("STATUS", "200")))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *args):
            pass
    time.sleep(0.3)
    ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
elif MODE == "worker":
    beat = 0
    while True:
        beat += 1
        print(f"worker heartbeat {beat}", flush=True)
        time.sleep(0.2)
else:
    print("job: processed 3 records", flush=True)
    time.sleep(float(os.environ.get("RUN_SECONDS", "0")))
    sys.exit(int(os.environ.get("EXIT_CODE", "0")))
"""


class Promotion:
    def __init__(self) -> None:
        self.workloads: list[Workload] = []

    def check(self) -> None:
        pass

    def commit(self, workload: Workload = Workload.WEB) -> None:
        self.workloads.append(workload)


class Ends:
    """The CrashListener: what the runtime reported about live releases that stopped for good."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, bool]] = []
        self.reported = threading.Event()

    def __call__(self, deployment_id: str, reason: str, completed: bool = False) -> None:
        self.calls.append((deployment_id, reason, completed))
        self.reported.set()


@pytest.fixture
def ends() -> Ends:
    return Ends()


@pytest.fixture
def runtime(tmp_path: Path, blobs: FakeBlobStore, ends: Ends) -> Iterator[LocalRuntime]:
    with running_runtime(tmp_path, blobs, ends, worker_settle_seconds=SETTLE) as rt:
        yield rt


def spec(
    blobs: FakeBlobStore, number: int, mode: str, settings: dict[str, Any] | None = None, **variables: str
) -> ReleaseSpec:
    return published_release(
        blobs,
        number,
        small_source({"app.py": APP.encode()}),
        service_id="svc_jobs",
        hostname=HOST,
        start_command=f"exec {PYTHON} app.py",
        variables={"MODE": mode, "VERSION": f"v{number}", **variables},
        settings=ServiceSettings(overlap_seconds=0.1, draining_seconds=1.0, **(settings or {})),
    )


def get(runtime: LocalRuntime) -> tuple[int, str]:
    return get_through_router(runtime.router_port, HOST)


def eventually(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def activate(runtime: LocalRuntime, release: ReleaseSpec, log: FakeLog | None = None) -> Promotion:
    promotion = Promotion()
    runtime.activate(release, log or FakeLog(), lambda: None, promotion)
    return promotion


def test_without_a_path_a_web_app_is_live_once_it_accepts_connections_whatever_it_answers(
    runtime: LocalRuntime, blobs: FakeBlobStore
) -> None:
    log = FakeLog()
    started = time.monotonic()
    promotion = activate(runtime, spec(blobs, 1, "web", STATUS="500"), log)
    # Live as soon as the port opened (~0.3 s), long before the settle time; no HTTP check is made
    assert time.monotonic() - started < SETTLE
    assert promotion.workloads == [Workload.WEB]
    assert get(runtime) == (500, "v1")
    assert any(line.startswith("readiness: accepting connections on $PORT after") for line in log.lines)


def test_a_process_that_opens_no_port_is_a_worker_with_no_route(
    runtime: LocalRuntime, blobs: FakeBlobStore
) -> None:
    # GIVEN a live web release
    activate(runtime, spec(blobs, 1, "web"))
    log = FakeLog()
    # WHEN a release that never opens its port stays up for the settle time
    started = time.monotonic()
    promotion = activate(runtime, spec(blobs, 2, "worker"), log)
    # THEN it is live as a worker, its output is logged, and its host answers a 404 saying why
    assert time.monotonic() - started >= SETTLE
    assert promotion.workloads == [Workload.WORKER]
    assert runtime.active_release(HOST) == "rel_2"
    eventually(lambda: any(line.startswith("worker heartbeat") for line in log.lines))
    assert any("a worker; no route and no URL" in line for line in log.lines)
    eventually(lambda: get(runtime)[0] == 404)  # the web release is retired after its overlap
    assert "is a worker (it opened no port): it serves no HTTP" in get(runtime)[1]


def test_a_job_that_exits_0_completes_and_the_web_release_it_replaced_is_retired(
    runtime: LocalRuntime, blobs: FakeBlobStore, ends: Ends
) -> None:
    activate(runtime, spec(blobs, 1, "web"))
    log = FakeLog()
    promotion = activate(runtime, spec(blobs, 2, "job"), log)
    assert promotion.workloads == [Workload.JOB]  # the commit records it COMPLETED
    assert "job: processed 3 records" in log.lines
    assert any(line.startswith("completed: the process exited with code 0") for line in log.lines)
    eventually(lambda: get(runtime)[0] == 404)
    assert "is a job (it ran to completion)" in get(runtime)[1]
    assert ends.calls == []  # a committed job is not reported again
    # A redeploy of the same web code takes the host back
    activate(runtime, spec(blobs, 3, "web"))
    assert get(runtime) == (200, "v3")


def test_a_job_that_exits_non_zero_fails_with_its_code_and_the_live_release_keeps_serving(
    runtime: LocalRuntime, blobs: FakeBlobStore
) -> None:
    activate(runtime, spec(blobs, 1, "web"))
    release = spec(blobs, 2, "job", {"restart_policy_max_retries": 0}, EXIT_CODE="3")
    with pytest.raises(HealthCheckFailed, match="exited with code 3"):
        activate(runtime, release)
    assert get(runtime) == (200, "v1")


def test_a_worker_that_exits_0_later_is_reported_completed_not_crashed(
    runtime: LocalRuntime, blobs: FakeBlobStore, ends: Ends
) -> None:
    # A job that runs longer than the settle time is live (a worker) first, then completes
    log = FakeLog()
    promotion = activate(runtime, spec(blobs, 1, "job", RUN_SECONDS=str(SETTLE + 0.5)), log)
    assert promotion.workloads == [Workload.WORKER]
    assert ends.reported.wait(10)
    (deployment_id, reason, completed), *_ = ends.calls
    assert (deployment_id, completed) == ("dep_1", True)
    assert "exited with code 0" in reason and "ON_FAILURE does not restart a clean exit" in reason
    eventually(lambda: any(line.startswith("completed: ") for line in log.lines))


def test_an_explicit_healthcheck_path_keeps_the_strict_check(
    runtime: LocalRuntime, blobs: FakeBlobStore
) -> None:
    release = spec(blobs, 1, "worker", {"healthcheck_path": "/health", "healthcheck_timeout": 2})
    with pytest.raises(HealthCheckFailed, match="timeout after 2s waiting for 200 on /health"):
        activate(runtime, release)
