"""End to end on `railyard dev`: live updates over its WebSocket (docs/decisions/0040). A client sees
a deployment go QUEUED → … → SUCCESS with its log lines; `railyard up` and `railyard logs -f` follow
over the WebSocket; with the WebSocket unreachable they say so on stderr and poll instead."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import websocket

from tests.support.platform import RAILYARD, Dev

pytestmark = pytest.mark.e2e
NOTICE = "live updates unavailable"


def _websocket_url(dev: Dev) -> str:
    url = requests.get(f"{dev.api_url}/v1/health", timeout=10).json()["websocketUrl"]
    assert url.startswith("ws://127.0.0.1:")
    return str(url)


def test_a_websocket_client_sees_a_deployment_go_from_queued_to_success_with_its_logs(
    dev: Dev, tmp_path: Path
) -> None:
    app = dev.app(tmp_path, "hello-python", "livews")
    dev.cli("init", cwd=app)
    project_id = dev.link(app)["projectId"]
    ws = websocket.create_connection(f"{_websocket_url(dev)}/?token={dev.token}", timeout=60)
    try:
        ws.send(json.dumps({"action": "subscribe", "projectId": project_id}))
        assert json.loads(ws.recv())["type"] == "subscribed"
        dev.cli("up", "--detach", cwd=app)
        statuses: list[str] = []
        lines: dict[str, list[str]] = {"build": [], "deploy": []}
        deadline = time.monotonic() + 180
        while "SUCCESS" not in statuses and time.monotonic() < deadline:
            message: dict[str, Any] = json.loads(ws.recv())
            if message["type"] == "status":
                if not statuses:  # the project's first news of it: follow the deployment itself
                    ws.send(json.dumps({"action": "subscribe", "deploymentId": message["deploymentId"]}))
                if not statuses or statuses[-1] != message["status"]:
                    statuses.append(message["status"])
            elif message["type"] == "log":
                lines[message["stream"]] += [row["line"] for row in message["lines"]]
    finally:
        ws.close()
    assert statuses[0] == "QUEUED" and statuses[-1] == "SUCCESS", statuses
    assert {"BUILDING", "DEPLOYING"} <= set(statuses), statuses
    assert any("build: provider python" in line for line in lines["build"]), lines["build"][:20]


def test_up_and_logs_follow_over_the_websocket_and_poll_when_it_is_unreachable(
    dev: Dev, tmp_path: Path
) -> None:
    app = dev.app(tmp_path, "hello-python", "livecli")
    dev.cli("init", cwd=app)
    up = dev.cli("up", cwd=app)
    assert "✔ Deployed: http://web-production-livecli.localhost:" in up.stdout
    assert "build: provider python" in up.stdout and NOTICE not in up.stderr
    logs = dev.cli("logs", "--build", "-f", cwd=app, timeout=60)
    assert "build: provider python" in logs.stdout and NOTICE not in logs.stderr

    # Nothing listens on the port of a socket we opened and closed: the WebSocket is unreachable.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**dev.env(), "RAILYARD_WEBSOCKET_URL": f"ws://127.0.0.1:{port}"}
    (app / "VERSION").write_text("2\n")
    polled = subprocess.run(
        [*RAILYARD, "up"], cwd=app, env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert polled.returncode == 0, polled.stdout + polled.stderr
    assert NOTICE in polled.stderr and "polling instead" in polled.stderr
    assert "✔ Deployed:" in polled.stdout and "build: provider python" in polled.stdout
    logs_polled = subprocess.run(
        [*RAILYARD, "logs", "--build", "-f"], cwd=app, env=env, capture_output=True, text=True, timeout=60
    )
    assert NOTICE in logs_polled.stderr and "build: provider python" in logs_polled.stdout
