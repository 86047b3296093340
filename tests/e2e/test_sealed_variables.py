"""End to end on `railyard dev`: a sealed variable reaches the running app (and comes back after a
restart and a rollback) but no API response, CLI output, build or deploy log line, event, platform
log file or file of the data directory ever holds its plaintext; a plain PEM value with a trailing
newline reaches the app byte for byte (docs/decisions/0023)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from railyard.localdev.emulator_auth import ensure_credentials
from tests.support.platform import Dev, DevProcess, write_app

pytestmark = pytest.mark.e2e

SECRET = "sk_live_e2e_5f0c2b9a7d41e8c36a"
OLD_SECRET = "sk_live_e2e_old_91b7de3c0a55"
PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDEq\n"
    "-----END PRIVATE KEY-----\n"
)
HOST = "web-production-sealed"

# Answers what it sees of a variable without ever printing it: presence, length and SHA-256.
APP = {
    "main.py": """
import hashlib, json, os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        value = os.environ.get(self.path.strip("/"))
        seen = {"present": value is not None}
        if value is not None:
            seen.update(length=len(value), sha256=hashlib.sha256(value.encode()).hexdigest())
        body = json.dumps(seen).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
""",
    "requirements.txt": "# the standard library only\n",
    # The build prints its whole environment: a sealed value would show up in the build log.
    "railway.json": json.dumps({"build": {"buildCommand": "env | sort"}}),
}


def _seen(dev: Dev, name: str) -> dict[str, Any]:
    status, body = dev.get(HOST, f"/{name}")
    assert status == 200, body
    return json.loads(body)  # type: ignore[no-any-return]


def _digest(value: str) -> dict[str, Any]:
    return {"present": True, "length": len(value), "sha256": hashlib.sha256(value.encode()).hexdigest()}


def _everything_the_api_says(dev: Dev, service_id: str) -> str:
    """Every read route of the service and of each of its deployments, logs included."""
    texts = [
        json.dumps(dev.api("GET", f"/v1/services/{service_id}/{what}"))
        for what in ("", "variables", "deployments?limit=100", "releases?limit=100")
    ]
    for deployment in dev.api("GET", f"/v1/services/{service_id}/deployments?limit=100")["deployments"]:
        texts.append(json.dumps(dev.api("GET", f"/v1/deployments/{deployment['id']}")))
        for stream in ("build", "deploy"):
            logs = dev.api("GET", f"/v1/deployments/{deployment['id']}/logs?stream={stream}&limit=1000")
            texts.append(json.dumps(logs))
    return "\n".join(texts)


CAPTURE = "sealed-test-capture"  # the test's own queue and rule: every local queue has a consumer


def _aws(dev: Dev, service: str) -> Any:
    key_id, secret = ensure_credentials(dev.data_dir / "aws")  # the only ones the emulator answers
    return boto3.client(
        service,
        endpoint_url=f"http://127.0.0.1:{dev.moto_port}",
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
    )


def _capture_events(dev: Dev) -> None:
    """A queue of the test's own that the bus delivers every deployment event to (the metrics rule's
    pattern), so it can read them all while the platform's consumers drain their queues."""
    sqs, events = _aws(dev, "sqs"), _aws(dev, "events")
    url = sqs.create_queue(QueueName=CAPTURE)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = "railyard-dev-bus"
    pattern = events.describe_rule(Name="railyard-dev-metrics", EventBusName=bus)["EventPattern"]
    events.put_rule(Name=CAPTURE, EventPattern=pattern, EventBusName=bus)
    events.put_targets(Rule=CAPTURE, EventBusName=bus, Targets=[{"Id": "capture", "Arn": arn}])


def _events(dev: Dev) -> str:
    """The deployment events the bus delivered to the test's capture queue."""
    sqs = _aws(dev, "sqs")
    url = sqs.get_queue_url(QueueName=CAPTURE)["QueueUrl"]
    bodies = []
    for _ in range(20):
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60)
        if not batch.get("Messages"):
            break
        bodies += [m["Body"] for m in batch["Messages"]]
    return "\n".join(bodies)


def _files_holding(root: Path, needles: list[bytes]) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            found += [f"{path} holds {n.decode()[:12]}…" for n in needles if n in data]
    return found


def test_a_sealed_value_reaches_only_the_running_app(tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    platform = DevProcess(tmp_path / "home")
    dev = platform.start()
    _capture_events(dev)
    said: list[str] = []  # everything the CLI printed and the API answered
    try:
        app = write_app(tmp_path / "sealed", APP)
        dev.cli("init", "--project", "sealed", "--name", "web", cwd=app)
        service_id = dev.link(app)["serviceId"]
        # Before the first release: stored for the first deployment, which builds without them.
        for args in (
            ("variables", "set", f"CERT={PEM}", "MODE=live"),
            ("variables", "set", "--sealed", f"STRIPE_KEY={OLD_SECRET}"),
        ):
            result = dev.cli(*args, cwd=app)
            said += [result.stdout, result.stderr]
        first = dev.cli("up", cwd=app)
        said += [first.stdout, first.stderr]
        assert "build: sealed variables are not given to builds: STRIPE_KEY" in first.stdout
        assert "MODE=live" in first.stdout  # the build's `env | sort` ran, and plain variables were there
        assert _seen(dev, "CERT") == _digest(PEM)  # byte for byte, trailing newline included
        assert _seen(dev, "STRIPE_KEY") == _digest(OLD_SECRET)

        changed = dev.cli("variables", "set", "--sealed", f"STRIPE_KEY={SECRET}", cwd=app)  # a redeploy
        said += [changed.stdout, changed.stderr]
        assert _seen(dev, "STRIPE_KEY") == _digest(SECRET)
        listed = dev.cli("variables", cwd=app).stdout
        said.append(listed)
        assert "STRIPE_KEY=<sealed>" in listed and "MODE=live" in listed

        back = dev.cli("rollback", cwd=app)  # the first release, with the value it was made with
        said += [back.stdout, back.stderr]
        assert _seen(dev, "STRIPE_KEY") == _digest(OLD_SECRET)
        said.append(_everything_the_api_says(dev, service_id))
        said.append(_events(dev))
        assert "deployment.completed" in said[-1]  # the events were really read

        platform.stop()
        dev = platform.start()  # the live release comes back with its sealed value opened again
        assert _seen(dev, "STRIPE_KEY") == _digest(OLD_SECRET)
    finally:
        platform.close()
    for secret in (SECRET, OLD_SECRET):
        assert [text for text in said if secret in text] == []
    # The platform's own files: its terminal output, request/worker/emulator logs, the table and
    # buckets on disk, the build and release directories.
    assert _files_holding(tmp_path / "home", [SECRET.encode(), OLD_SECRET.encode()]) == []
