"""End to end: apps that never get healthy or crash, on one `railyard dev` subprocess; a crash after
going live reaches the project's webhook as `deployment.failed` with status CRASHED, and its metrics."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support.platform import Dev
from tests.support.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.e2e


UNHEALTHY_WHEN_FLAGGED = """
import os
import re
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BROKEN = os.path.exists(os.path.join(os.path.dirname(os.path.abspath(__file__)), "BROKEN"))
CRASH_AFTER = float(os.environ.get("CRASH_AFTER", "0"))

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"broken" if BROKEN else b"good"
        self.send_response(500 if BROKEN else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

if CRASH_AFTER:
    import threading
    threading.Timer(CRASH_AFTER, lambda: os._exit(1)).start()
ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""


def test_an_app_that_never_gets_healthy_fails_and_the_previous_release_keeps_serving(
    dev: Dev, tmp_path: Path
) -> None:
    app = tmp_path / "sick"
    app.mkdir()
    (app / "main.py").write_text(UNHEALTHY_WHEN_FLAGGED)
    dev.cli("init", "--project", "sick", "--name", "web", cwd=app)
    service_id = dev.link(app)["serviceId"]
    # An explicit path keeps the strict check (without one, an app that opened its port is live)
    settings = {"healthcheckPath": "/", "healthcheckTimeout": 2}
    dev.api("PATCH", f"/v1/services/{service_id}", json={"settings": settings})
    dev.cli("up", cwd=app)
    assert dev.get("web-production-sick") == (200, "good")
    (app / "BROKEN").write_text("")
    result = dev.cli("up", cwd=app, check=False)
    assert result.returncode == 1
    assert "HealthCheckFailed" in result.stdout and "timeout after 2" in result.stdout
    assert dev.get("web-production-sick") == (200, "good")


def test_a_crashing_app_is_restarted_then_marked_crashed_and_its_webhook_told(
    dev: Dev, tmp_path: Path
) -> None:
    app = tmp_path / "crashy"
    app.mkdir()
    (app / "main.py").write_text(UNHEALTHY_WHEN_FLAGGED)
    dev.cli("init", "--project", "crashy", "--name", "web", cwd=app)
    linked = dev.link(app)
    service_id = linked["serviceId"]
    dev.api("PATCH", f"/v1/services/{service_id}", json={"settings": {"restartPolicyMaxRetries": 2}})
    dev.cli("variables", "set", "CRASH_AFTER=1.5", cwd=app)  # no release yet: no deployment
    with WebhookReceiver() as receiver:
        hook = {"url": receiver.url, "events": ["deployment.failed"]}
        dev.api("POST", f"/v1/projects/{linked['projectId']}/webhooks", json=hook)
        dev.cli("up", cwd=app)
        deployment_id = dev.api("GET", f"/v1/services/{service_id}/deployments")["deployments"][0]["id"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            deployment = dev.api("GET", f"/v1/deployments/{deployment_id}")["deployment"]
            if deployment["status"] == "CRASHED":
                break
            time.sleep(0.2)
        assert deployment["status"] == "CRASHED"
        logs = dev.cli("logs", "--deployment", deployment_id, cwd=app).stdout
        assert "restarting (attempt 1/2)" in logs and "restarting (attempt 2/2)" in logs
        assert dev.get("web-production-crashy")[0] == 503
        assert "CRASHED" in dev.cli("status", cwd=app).stdout
        # The crash came after the deployment went live: the webhook hears of it as a failure
        (request,) = receiver.wait_for(1, timeout=30)
    assert request.headers["x-railyard-event"] == "deployment.failed"
    payload = request.json()
    assert payload["type"] == "Deployment.failed" and payload["details"]["id"] == deployment_id
    assert payload["details"]["status"] == "CRASHED" and payload["details"]["reason"] == deployment["reason"]
    # AND the project's metrics count it CRASHED, a service still to restore (their consumer is
    # asynchronous too: its queue may come after the webhook's)
    metrics_of = f"/v1/projects/{linked['projectId']}/metrics"
    deadline = time.monotonic() + 10
    metrics = dev.api("GET", metrics_of)
    while metrics["byStatus"] != {"CRASHED": 1} and time.monotonic() < deadline:
        time.sleep(0.2)
        metrics = dev.api("GET", metrics_of)
    assert metrics["byStatus"] == {"CRASHED": 1} and metrics["restoresPending"] == 1
