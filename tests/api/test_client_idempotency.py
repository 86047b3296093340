"""The CLI's client: a fresh Idempotency-Key per creating call, the same key on each of its retries.

Servers on 127.0.0.1: a scripted one that answers what each test lists (to see the retries and
their headers), and the real API served by Chalice's local server behind a proxy that loses the
first answer (to see that the retried call makes one deployment).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from railyard.client import RailyardClient
from railyard.client_transport import ApiError
from tests.api.conftest import TOKEN, Api


@dataclass
class Script:
    """The answers the scripted server gives, in order, and the requests it saw."""

    answers: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    seen: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, key


class ScriptedHandler(BaseHTTPRequestHandler):
    server: ScriptedServer

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        script = self.server.script
        script.seen.append((self.command, self.path, self.headers.get("Idempotency-Key")))
        status, body = script.answers.pop(0)
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_POST = do_PATCH = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


class ScriptedServer(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ScriptedHandler)
        self.script = Script()


@pytest.fixture
def scripted() -> Iterator[tuple[Script, RailyardClient, list[float]]]:
    server = ScriptedServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    slept: list[float] = []
    client = RailyardClient(f"http://127.0.0.1:{server.server_address[1]}", TOKEN, sleep=slept.append)
    yield server.script, client, slept
    server.shutdown()
    server.server_close()


PROJECT = {"project": {"id": "prj_1", "name": "demo", "createdAt": "t"}, "environments": []}


def test_each_creating_call_sends_a_fresh_uuid_key(
    scripted: tuple[Script, RailyardClient, list[float]],
) -> None:
    script, client, _ = scripted
    script.answers += [(201, PROJECT), (201, PROJECT)]

    client.create_project("demo")
    client.create_project("demo")

    keys = [key for _, _, key in script.seen]
    assert all(key is not None and uuid.UUID(key) for key in keys)
    assert keys[0] != keys[1]


@pytest.mark.parametrize(
    "refusal",
    [
        (503, {"Code": "TransientError", "Message": "could not start deployment; try again"}),
        (
            409,
            {"Code": "RequestInProgress", "Message": "a request with Idempotency-Key is still in progress"},
        ),
        (502, {"message": "Bad Gateway"}),
    ],
)
def test_a_retryable_answer_is_retried_with_the_same_key(
    scripted: tuple[Script, RailyardClient, list[float]], refusal: tuple[int, dict[str, Any]]
) -> None:
    script, client, slept = scripted
    deployment = {"id": "dep_1", "serviceId": "svc_1", "status": "QUEUED"}
    script.answers += [refusal, refusal, (201, {"deployment": deployment})]

    got = client.create_deployment("svc_1", source_key="sources/svc_1/a.tar.gz")

    assert got["id"] == "dep_1"
    assert [(m, p) for m, p, _ in script.seen] == [("POST", "/v1/services/svc_1/deployments")] * 3
    assert len({key for _, _, key in script.seen}) == 1
    assert slept == [0.5, 1.0]


def test_a_conflict_is_not_retried(scripted: tuple[Script, RailyardClient, list[float]]) -> None:
    script, client, slept = scripted
    script.answers += [(409, {"Code": "Conflict", "Message": "project 'demo' already exists"})]

    with pytest.raises(ApiError) as raised:
        client.create_project("demo")

    assert raised.value.code == "Conflict" and len(script.seen) == 1 and slept == []


def test_retries_stop_after_the_last_delay(scripted: tuple[Script, RailyardClient, list[float]]) -> None:
    script, client, slept = scripted
    script.answers += [(503, {"Code": "TransientError", "Message": "down"})] * 5

    with pytest.raises(ApiError) as raised:
        client.rollback("svc_1")

    assert raised.value.status == 503 and len(script.seen) == 5 and slept == [0.5, 1.0, 2.0, 4.0]


def test_variables_changes_and_cron_runs_are_keyed_but_uploads_are_not(
    scripted: tuple[Script, RailyardClient, list[float]],
) -> None:
    script, client, _ = scripted
    script.answers += [
        (200, {"variables": {"A": "1"}, "deployment": None}),
        (202, {"started": True, "releaseId": "rel_1"}),
        (201, {"uploadUrl": "http://127.0.0.1:1/u", "sourceKey": "k", "expiresIn": 900}),
    ]

    client.update_variables("svc_1", set_={"A": "1"})
    client.run_cron("svc_1")
    client.create_upload("svc_1")

    assert [(m, key is not None) for m, _, key in script.seen] == [
        ("PATCH", True),
        ("POST", True),
        ("POST", False),
    ]


class LossyProxy(ThreadingHTTPServer):
    """Forwards each request to `upstream`; for the first POST it hangs up instead of answering,
    after the API ran it: the answer is lost on the way back, as on a reset connection."""

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), LossyHandler)
        self.upstream = upstream
        self.posts = 0


class LossyHandler(BaseHTTPRequestHandler):
    server: LossyProxy

    def _forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in {"host", "content-length"}}
        answer = requests.request(
            self.command, self.server.upstream + self.path, data=body, headers=headers, timeout=30
        )
        if self.command == "POST":
            self.server.posts += 1
            if self.server.posts == 1:
                self.close_connection = True
                return  # nothing written: the client sees the connection closed with no answer
        self.send_response(answer.status_code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    do_GET = do_POST = _forward

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def lossy_api(api: Api) -> Iterator[str]:
    """The real API (served as `railyard dev` serves it) behind a LossyProxy."""
    from app import app
    from railyard.localdev.api_server import ApiServer

    server = ApiServer(app).start()
    proxy = LossyProxy(server.url)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{proxy.server_address[1]}"
    proxy.shutdown()
    proxy.server_close()
    server.stop()


def test_a_deployment_whose_first_answer_was_lost_is_made_once(api: Api, lossy_api: str) -> None:
    service = api.service()
    source_key = api.uploaded_source(service["id"])
    slept: list[float] = []
    client = RailyardClient(lossy_api, TOKEN, sleep=slept.append)

    deployment = client.create_deployment(service["id"], source_key=source_key)

    assert slept == [0.5]  # one lost answer, one retry
    _, listed = api.call("GET", f"/v1/services/{service['id']}/deployments")
    assert [d["id"] for d in listed["deployments"]] == [deployment["id"]]
    assert [d.id for d in api.workflow.started] == [deployment["id"]]
