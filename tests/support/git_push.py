"""A git repository on disk and the GitHub webhook deliveries a push to it would send, signed as
GitHub signs them (X-Hub-Signature-256), for the push-to-deploy tests (docs/decisions/0035)."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from chalicelib.domain.git import sign

if TYPE_CHECKING:
    from tests.support.platform import Dev

_GIT = ["git", "-c", "user.name=Octo Cat", "-c", "user.email=octo@example.com", "-c", "commit.gpgsign=false"]


@dataclass
class LocalRepo:
    path: Path

    @classmethod
    def create(cls, path: Path, files: dict[str, str], branch: str = "main") -> LocalRepo:
        path.mkdir(parents=True)
        subprocess.run([*_GIT, "init", "-q", "-b", branch, str(path)], check=True, timeout=30)
        repo = cls(path)
        repo.commit(files, "First commit")
        return repo

    def git(self, *args: str) -> str:
        done = subprocess.run(
            [*_GIT, "-C", str(self.path), *args], check=True, timeout=30, capture_output=True, text=True
        )
        return done.stdout.strip()

    def commit(self, files: dict[str, str], message: str) -> str:
        for name, text in files.items():
            (self.path / name).parent.mkdir(parents=True, exist_ok=True)
            (self.path / name).write_text(text)
        self.git("add", "-A", *files)
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")


def push_payload(branch: str, sha: str, message: str, author: str = "octo") -> dict[str, object]:
    """The part of GitHub's push payload Railyard reads."""
    return {
        "ref": f"refs/heads/{branch}",
        "before": "0" * 40,
        "after": sha,
        "deleted": False,
        "repository": {"full_name": "acme/shop"},
        "head_commit": {"id": sha, "message": message, "author": {"name": "Octo Cat", "username": author}},
    }


def pull_request_payload(
    action: str, number: int, base: str, head: str, sha: str, title: str = "A change", merged: bool = False
) -> dict[str, object]:
    """The part of GitHub's pull_request payload Railyard reads."""
    return {
        "action": action,
        "number": number,
        "pull_request": {
            "number": number,
            "title": title,
            "user": {"login": "octo"},
            "merged": merged,
            "base": {"ref": base, "sha": "0" * 40},
            "head": {"ref": head, "sha": sha},
        },
        "repository": {"full_name": "acme/shop"},
    }


def deliver(
    url: str,
    secret: str,
    payload: dict[str, object],
    *,
    event: str = "push",
    delivery: str | None = None,
    signature: str | None = None,
) -> requests.Response:
    """POST one delivery as GitHub does; `signature` overrides the correct one."""
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/test",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": signature if signature is not None else sign(secret.encode(), body),
    }
    return requests.post(url, data=body, headers=headers, timeout=30)


def webhook_of(link_output: str) -> tuple[str, str]:
    """The payload URL and the secret `railyard link` printed."""
    fields = {}
    for line in link_output.splitlines():
        name, _, value = line.strip().partition(":")
        if name in ("Payload URL", "Secret"):
            fields[name] = value.split()[0]
    return fields["Payload URL"], fields["Secret"]


# An app that answers api/message.txt: which commit is live shows in its answer.
APP_SERVER = """
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "api", "message.txt"), "rb") as f:
    MESSAGE = f.read()

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(MESSAGE)))
        self.end_headers()
        self.wfile.write(MESSAGE)

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""

ENDED = {"SUCCESS", "FAILED", "CRASHED", "CANCELLED", "SKIPPED", "COMPLETED", "REMOVED"}


def deployments_of(dev: Dev, service_id: str) -> list[dict[str, Any]]:
    return dev.api("GET", f"/v1/services/{service_id}/deployments?limit=100")["deployments"]  # type: ignore[no-any-return]


def ended_deployment_of(dev: Dev, service_id: str, sha: str, timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [d for d in deployments_of(dev, service_id) if d.get("commitSha") == sha]
        if found and found[0]["status"] in ENDED:
            assert len(found) == 1, found
            return found[0]
        time.sleep(0.5)
    raise AssertionError(
        f"no ended deployment of {sha} within {timeout} s: {deployments_of(dev, service_id)}"
    )
