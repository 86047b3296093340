"""The API under test: the Chalice app through chalice.test.Client, DynamoDB and S3 on moto.

The workflow starter is a fake (a real execution would race the assertions: LOCAL_AWS_FACTS.md)
that can hold a start open, so a test can send a second request while the first is still running.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from chalice.test import Client

from chalicelib import wiring
from chalicelib.config import Settings
from chalicelib.domain.events import AuditRecorded
from chalicelib.domain.models import Deployment
from tests.fakes import FakeWorkflow
from tests.support.leaks import LeakScan, recording_events
from tests.support.moto_store import MotoStore

TOKEN = "ry_test_token"
OTHER_ORG_TOKEN = "ry_other_org_token"
OTHER_ORG = "org_other"


@dataclass
class GatedWorkflow(FakeWorkflow):
    """A FakeWorkflow whose start() waits for `release` while `hold` is set, after setting `entered`."""

    hold: bool = False
    entered: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)

    def start(self, deployment: Deployment, audit: AuditRecorded | None = None) -> None:
        if self.hold:
            self.entered.set()
            assert self.release.wait(10), "the test never released the held workflow start"
        super().start(deployment, audit)


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    text: str
    headers: Mapping[str, str]


class Api:
    def __init__(
        self, client: Client, container: wiring.Container, workflow: GatedWorkflow, scan: LeakScan
    ) -> None:
        self.client = client
        self.container = container
        self.workflow = workflow
        self.scan = scan

    def send(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: str | None = TOKEN,
        raw: bytes | None = None,
        key: str | None = None,
    ) -> Reply:
        """One request; `key` is sent as the Idempotency-Key header."""
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if key is not None:
            headers["Idempotency-Key"] = key
        payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        self.scan.request(body, headers.get("Authorization"))
        response = getattr(self.client.http, method.lower())(path, headers=headers, body=payload)
        text = response.body.decode() if isinstance(response.body, bytes) else str(response.body or "")
        self.scan.answer(f"{method} {path}", response.status_code, text)
        return Reply(response.status_code, json.loads(text) if text else None, text, response.headers)

    def call(
        self, method: str, path: str, body: Any = None, token: str | None = TOKEN, raw: bytes | None = None
    ) -> tuple[int, Any]:
        reply = self.send(method, path, body, token, raw)
        return reply.status, reply.body

    def uploaded_source(self, service_id: str) -> str:
        """The sourceKey of a new upload whose bytes are in S3."""
        _, upload = self.call("POST", f"/v1/services/{service_id}/uploads")
        self.container.blobs.put_bytes(self.container.settings.sources_bucket, upload["sourceKey"], b"x")
        return upload["sourceKey"]  # type: ignore[no-any-return]

    def queued_deployment(self) -> str:
        """A new service with one uploaded source, deployed (QUEUED: the workflow is a fake)."""
        service = self.service()
        source_key = self.uploaded_source(service["id"])
        _, body = self.call("POST", f"/v1/services/{service['id']}/deployments", {"sourceKey": source_key})
        return body["deployment"]["id"]  # type: ignore[no-any-return]

    def service(self) -> dict[str, Any]:
        _, created = self.call("POST", "/v1/projects", {"name": "demo"})
        env_id = created["environments"][0]["id"]
        status, body = self.call("POST", f"/v1/environments/{env_id}/services", {"name": "web"})
        assert status == 201
        return body["service"]  # type: ignore[no-any-return]


@pytest.fixture
def idempotency_ttl() -> int | None:
    """RAILYARD_IDEMPOTENCY_TTL_SECONDS for the API under test (None: the default); a test
    parametrizes it to watch a record expire."""
    return None


@pytest.fixture
def api(
    aws_env: int,
    moto_store: MotoStore,
    idempotency_ttl: int | None,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> Iterator[Api]:
    """The API; when the test is over, every answer, the process's output and every event it put
    are scanned for the passwords, tokens and sealed values the test used (tests/support/leaks.py)."""
    from app import app

    if idempotency_ttl is not None:
        monkeypatch.setenv("RAILYARD_IDEMPOTENCY_TTL_SECONDS", str(idempotency_ttl))
    settings = Settings.from_env()
    moto_store.bootstrapped(settings.catalogue, settings.account_id)  # as fresh, made once a worker
    workflow = GatedWorkflow()
    container = wiring.Container(settings, workflow=workflow)
    container.auth.ensure_token(TOKEN, settings.org_id, "test")
    container.auth.ensure_token(OTHER_ORG_TOKEN, OTHER_ORG, "other")
    wiring.use(container)
    scan = LeakScan()
    with recording_events(scan), Client(app) as client:
        yield Api(client, container, workflow, scan)
    wiring.use(None)
    out, err = capfd.readouterr()
    sys.stdout.write(out)  # still shown by pytest when the test fails
    sys.stderr.write(err)
    scan.secrets.discard(TOKEN)  # the fixture's own admin token is written by the test itself
    leaks = scan.leaks(out + err)
    assert not leaks, "secrets where they must not be:\n" + "\n".join(leaks)
