"""End to end: `railyard metrics` on one `railyard dev` after a success, a failing deploy and its
fix; the figures come from the metrics queue's local consumer, fed by the deploy workflow's events.
The cleanup queue's consumer runs beside it: retention is applied after each deployment."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.platform import Dev

pytestmark = pytest.mark.e2e

# Healthy unless a BROKEN file was deployed with it.
APP = """
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BROKEN = os.path.exists(os.path.join(os.path.dirname(os.path.abspath(__file__)), "BROKEN"))

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"broken" if BROKEN else b"good"
        self.send_response(500 if BROKEN else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""


def _metrics(dev: Dev, app: Path, ended: int) -> dict[str, Any]:
    """`railyard metrics --json` once `ended` deployments reached an end in the figures (the consumer
    is asynchronous), or after 30 s. The wait polls the API (a `railyard` per poll is a new Python
    process, ~0.4 s of CPU)."""
    path = f"/v1/projects/{dev.link(app)['projectId']}/metrics"
    deadline = time.monotonic() + 30
    while sum(dev.api("GET", path)["byStatus"].values()) < ended and time.monotonic() < deadline:
        time.sleep(0.5)
    return json.loads(dev.cli("metrics", "--json", cwd=app).stdout)  # type: ignore[no-any-return]


def _retention_applied(dev: Dev, deployment_ids: set[str]) -> set[str]:
    """The deployments the local cleanup consumer applied retention after (its log lines)."""
    deadline = time.monotonic() + 30
    while True:
        lines = (dev.data_dir / "logs" / "railyard.log").read_text().splitlines()
        entries = [json.loads(line) for line in lines if '"retention applied"' in line]
        seen = {e["correlation_id"] for e in entries} & deployment_ids
        if seen == deployment_ids or time.monotonic() > deadline:
            return seen
        time.sleep(0.5)


def test_metrics_show_three_deployments_two_thirds_successful_and_the_time_to_restore(
    dev: Dev, tmp_path: Path
) -> None:
    # GIVEN a service deployed, then deployed broken (its health check fails), then fixed
    app = tmp_path / "measured"
    app.mkdir()
    (app / "main.py").write_text(APP)
    dev.cli("init", "--project", "measured", "--name", "web", cwd=app)
    service_id = dev.link(app)["serviceId"]
    settings = {"healthcheckPath": "/", "healthcheckTimeout": 2}
    dev.api("PATCH", f"/v1/services/{service_id}", json={"settings": settings})
    dev.cli("up", cwd=app)
    (app / "BROKEN").write_text("")
    assert dev.cli("up", cwd=app, check=False).returncode == 1
    (app / "BROKEN").unlink()
    (app / "main.py").write_text(APP + "# fixed\n")  # a new source: built, not the first one reused
    dev.cli("up", cwd=app)

    # WHEN the user asks for the project's metrics
    figures = _metrics(dev, app, ended=3)
    table = dev.cli("metrics", "--days", "7", cwd=app).stdout

    # THEN three deployments, two of three successful, one outage restored, every duration > 0
    assert figures["deployments"] == 3 and figures["byStatus"] == {"FAILED": 1, "SUCCESS": 2}
    assert figures["successRate"] == 0.6667 and figures["inProgress"] == 0
    assert figures["timeToRestore"]["count"] == 1 and figures["timeToRestore"]["p50Seconds"] > 0
    assert figures["restoresPending"] == 0
    assert figures["buildDuration"]["count"] == 3 and figures["buildDuration"]["p50Seconds"] > 0
    assert figures["deployDuration"]["count"] == 3 and figures["deployDuration"]["p50Seconds"] > 0
    assert "last 7 days" in table and "FAILED 1, SUCCESS 2" in table
    (overall,) = [line.split() for line in table.splitlines() if line.startswith("all ")]
    assert overall[1:4] == ["3", "0.429", "67%"]  # deployments, per day over 7 days, success rate
    assert "-" not in overall[4:]  # a build, a deploy and a restore time, each p50 / p90

    # ... and the cleanup queue's local consumer applied retention after each of them
    deployments = dev.api("GET", f"/v1/services/{service_id}/deployments")["deployments"]
    ids = {d["id"] for d in deployments}
    assert len(ids) == 3 and _retention_applied(dev, ids) == ids
