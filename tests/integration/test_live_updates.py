"""Live updates end to end below the CLI: a real WebSocket client on the local WebSocket server
(railyard/localdev/live_server.py) calling app.py's handlers, the table on moto, publishers posting
through boto3's apigatewaymanagementapi client to the server's Management API."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websocket

from chalicelib import wiring
from chalicelib.adapters.live_channel import ApiGatewayChannel
from chalicelib.config import Settings
from chalicelib.domain.models import Deployment, DeploymentKind, DeploymentStatus, Project
from railyard.localdev.bootstrap import bootstrap
from railyard.localdev.live_server import LiveServer, websocket_handlers

TOKEN = "ry_live_test_token"
OTHER_TOKEN = "ry_live_other_workspace"
TIMEOUT = 10


@pytest.fixture
def live(aws: int, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, wiring.Container]]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from app import app

    server = LiveServer(websocket_handlers(app)).start()
    monkeypatch.setenv("RAILYARD_WEBSOCKET_URL", server.url)
    settings = Settings.from_env()
    bootstrap(settings.catalogue, settings.account_id)
    container = wiring.Container(settings)
    wiring.use(container)
    container.auth.ensure_token(TOKEN, "org_a", "test")
    container.auth.ensure_token(OTHER_TOKEN, "org_b", "test")
    container.repository.save(Project("prj_1", "org_a", "shop", "2026-12-04T12:00:00Z"))
    container.repository.save(_deployment())
    try:
        yield server.url, container
    finally:
        wiring.use(None)
        server.stop()


def _deployment() -> Deployment:
    return Deployment(
        id="dep_1",
        service_id="svc_1",
        project_id="prj_1",
        environment_id="env_1",
        kind=DeploymentKind.SOURCE,
        status=DeploymentStatus.QUEUED,
        config=None,
        created_at="2026-12-04T12:00:00Z",
        updated_at="2026-12-04T12:00:00Z",
        workspace_id="org_a",
    )


def _recv(ws: websocket.WebSocket, wanted: str) -> dict[str, Any]:
    """The next message of type `wanted` (bounded by the socket's timeout)."""
    for _ in range(50):
        message: dict[str, Any] = json.loads(ws.recv())
        if message["type"] == wanted:
            return message
    raise AssertionError(f"no {wanted!r} message")


def test_a_subscriber_sees_status_changes_and_log_lines_as_they_are_stored(live) -> None:  # type: ignore[no-untyped-def]
    url, container = live
    ws = websocket.create_connection(f"{url}/?token={TOKEN}", timeout=TIMEOUT)
    try:
        ws.send(json.dumps({"action": "subscribe", "deploymentId": "dep_1"}))
        assert _recv(ws, "subscribed") == {"type": "subscribed", "deploymentId": "dep_1"}
        assert _recv(ws, "status")["status"] == "QUEUED"

        deployment = container.repository.get_deployment("dep_1")
        container.repository.save(deployment.moved_to(DeploymentStatus.BUILDING, "2026-12-04T12:00:01Z"))
        assert _recv(ws, "status")["status"] == "BUILDING"

        writer = container.logs.open("dep_1", "build")
        writer.write("step 1\nstep 2")
        writer.flush()
        lines = _recv(ws, "log")
        assert (lines["stream"], lines["after"]) == ("build", 0)
        assert [row["line"] for row in lines["lines"]] == ["step 1", "step 2"]
        # The cursor is the HTTP route's: reading after it gives nothing more.
        assert container.logs.read("dep_1", "build", lines["cursor"], 10) == []
        writer.write("step 3")
        writer.flush()
        more = _recv(ws, "log")  # the next block's lines follow the previous block's last line
        assert (more["after"], [row["line"] for row in more["lines"]]) == (lines["cursor"], ["step 3"])
    finally:
        ws.close()


def test_a_resubscription_after_a_cursor_gets_only_the_lines_after_it(live) -> None:  # type: ignore[no-untyped-def]
    url, container = live
    writer = container.logs.open("dep_1", "deploy")
    writer.write("old")
    writer.flush()
    writer.write("new")
    writer.flush()
    cursor = container.logs.read("dep_1", "deploy", 0, 10)[0].seq
    ws = websocket.create_connection(f"{url}/?token={TOKEN}", timeout=TIMEOUT)
    try:
        ws.send(json.dumps({"action": "subscribe", "deploymentId": "dep_1", "after": {"deploy": cursor}}))
        backfill = _recv(ws, "log")
        assert (backfill["after"], [row["line"] for row in backfill["lines"]]) == (cursor, ["new"])
    finally:
        ws.close()


def test_a_bad_token_is_refused_at_connect_and_another_workspace_sees_nothing(live) -> None:  # type: ignore[no-untyped-def]
    url, _container = live
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(f"{url}/?token=ry_wrong", timeout=TIMEOUT)
    assert refused.value.status_code == 401
    ws = websocket.create_connection(url, timeout=TIMEOUT)  # no token: the subscribe carries it
    try:
        ws.send(json.dumps({"action": "subscribe", "deploymentId": "dep_1", "token": OTHER_TOKEN}))
        error = _recv(ws, "error")
        assert error["Code"] == "NotFound"
        ws.send(json.dumps({"action": "subscribe", "projectId": "prj_1"}))
        assert _recv(ws, "error")["Code"] == "Unauthorized"
    finally:
        ws.close()


def test_a_closed_connection_is_gone_for_publishers(live) -> None:  # type: ignore[no-untyped-def]
    url, _container = live
    ws = websocket.create_connection(f"{url}/?token={TOKEN}", timeout=TIMEOUT)
    ws.send(json.dumps({"action": "ping"}))
    assert _recv(ws, "pong") == {"type": "pong"}
    ws.close()
    assert ApiGatewayChannel(url).send("no-such-connection", {"type": "pong"}) is False
