"""A fake Railyard API for the `railyard` CLI's tests, served over real HTTP on 127.0.0.1.

The fake implements only the routes the CLI uses, with canned status sequences: each GET of a
deployment advances it one step, and its build/deploy logs appear as it goes. It also plays the
presigned-upload target (PUT /fake-s3/...) and the router (any request whose Host is not
127.0.0.1), so `railyard up` runs end to end over sockets without AWS. The tests start it with the
`fake_api` fixture (tests/unit/conftest.py).
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "good-token"
HAPPY_PATH = ["QUEUED", "BUILDING", "BUILDING", "DEPLOYING", "DEPLOYING", "SUCCESS"]
BUILD_LINES = ["#1 detect: python", "#2 pip install -r requirements.txt", "#3 build complete"]
DEPLOY_LINES = ["starting web", "listening on :3000"]


@dataclass
class FakeDeployment:
    """A deployment with its scripted future: each GET moves ``step`` one status along."""

    body: dict[str, Any]
    statuses: list[str]
    reason: str | None = None
    step: int = 0

    @property
    def status(self) -> str:
        return self.statuses[min(self.step, len(self.statuses) - 1)]


@dataclass
class FakeState:
    """Everything the fake API knows and everything it saw."""

    port: int = 0
    requests: list[tuple[str, str]] = field(default_factory=list)
    projects: dict[str, dict[str, Any]] = field(default_factory=dict)
    environments: dict[str, dict[str, Any]] = field(default_factory=dict)
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    deployments: dict[str, FakeDeployment] = field(default_factory=dict)
    uploads: dict[str, bytes] = field(default_factory=dict)
    upload_auth_headers: list[str | None] = field(default_factory=list)
    router_hosts: list[str] = field(default_factory=list)
    router_status: int = 200
    logs_ignore_after: bool = False  # misbehave: answer every log request from the start
    variables: dict[str, str] = field(default_factory=dict)
    variable_patches: list[dict[str, Any]] = field(default_factory=list)
    rollback_bodies: list[dict[str, Any]] = field(default_factory=list)
    next_statuses: list[str] = field(default_factory=lambda: list(HAPPY_PATH))
    next_reason: str | None = None
    next_cron_schedule: str | None = None  # new deployments are of a cron service with this schedule
    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self.ids):04d}"

    def add_project(self, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
        project = {"id": self.new_id("prj"), "name": name, "createdAt": "2026-01-01T00:00:00Z"}
        env = {
            "id": self.new_id("env"),
            "projectId": project["id"],
            "name": "production",
            "createdAt": "2026-01-01T00:00:00Z",
        }
        self.projects[project["id"]] = project
        self.environments[env["id"]] = env
        return project, env

    def add_service(self, env: dict[str, Any], name: str) -> dict[str, Any]:
        project = self.projects[env["projectId"]]
        hostname = f"{name}-{env['name']}-{project['name']}.localhost"
        service = {
            "id": self.new_id("svc"),
            "projectId": env["projectId"],
            "environmentId": env["id"],
            "name": name,
            "hostname": hostname,
            "url": f"http://{hostname}:{self.port}",
            "settings": {},
            "activeDeploymentId": None,
            "activeReleaseId": None,
            "createdAt": "2026-01-01T00:00:00Z",
        }
        self.services[service["id"]] = service
        return service

    def add_deployment(self, service_id: str, kind: str) -> FakeDeployment:
        deployment_id = f"dep-{len(self.deployments) + 1:04d}"
        body = {
            "id": deployment_id,
            "serviceId": service_id,
            "projectId": self.services[service_id]["projectId"],
            "environmentId": self.services[service_id]["environmentId"],
            "kind": kind,
            "status": "QUEUED",
            "reason": None,
            "releaseId": None,
            "releaseNumber": len(self.deployments) + 1,
            "buildCached": False,
            "cronSchedule": self.next_cron_schedule,
            "url": self.services[service_id]["url"],
            "createdAt": f"2026-01-01T00:00:{len(self.deployments):02d}Z",
            "updatedAt": "2026-01-01T00:00:00Z",
        }
        fake = FakeDeployment(body, list(self.next_statuses), self.next_reason)
        self.deployments[deployment_id] = fake
        return fake

    def add_live_deployment(self, service: dict[str, Any]) -> FakeDeployment:
        """A deployment that succeeded and is the service's active one; later ones succeed too
        unless the test says otherwise."""
        self.next_statuses = ["SUCCESS"]
        live = self.add_deployment(service["id"], "source")
        service["activeDeploymentId"] = live.body["id"]
        return live

    def deployment_json(self, fake: FakeDeployment) -> dict[str, Any]:
        status = fake.status
        return {**fake.body, "status": status, "reason": fake.reason if status != "SUCCESS" else None}

    def logs(self, fake: FakeDeployment, stream: str, after: int) -> dict[str, Any]:
        status = fake.status
        building_or_later = status != "QUEUED"
        if stream == "build":
            # Reveal build lines one GET at a time so the CLI has to follow, not read once.
            visible = BUILD_LINES[: max(0, fake.step)] if building_or_later else []
            if status not in ("QUEUED", "BUILDING"):
                visible = BUILD_LINES
            done = status not in ("QUEUED", "BUILDING")
        else:
            visible = DEPLOY_LINES if status not in ("QUEUED", "BUILDING") else []
            done = status in ("SUCCESS", "FAILED", "CRASHED", "CANCELLED", "REMOVED")
        lines = [
            {"seq": seq, "ts": "2026-01-01T00:00:00Z", "message": message}
            for seq, message in enumerate(visible, start=1)
            if seq > after
        ]
        return {"lines": lines, "next": lines[-1]["seq"] if lines else after, "done": done}


class FakeApiHandler(BaseHTTPRequestHandler):
    """Routes of docs/api.md the CLI uses, plus the upload target and the router."""

    server: FakeApiServer

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode() if not isinstance(body, bytes) else body
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _handle(self) -> None:
        state = self.server.state
        host = self.headers.get("Host", "")
        if not host.startswith("127.0.0.1"):
            state.router_hosts.append(host)
            self._send(state.router_status, b"hello from the app")
            return
        parts = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        with state.lock:
            state.requests.append((self.command, parts.path))
            if parts.path.startswith("/fake-s3/"):
                state.upload_auth_headers.append(self.headers.get("Authorization"))
                state.uploads[parts.path.removeprefix("/fake-s3/")] = self._body()
                self._send(200, b"")
                return
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self._send(401, {"Code": "Unauthorized", "Message": "invalid or missing token"})
                return
            raw = self._body()
            body = json.loads(raw) if raw else {}
            status, answer = self._route(state, self.command, parts.path, query, body)
            self._send(status, answer)

    def _route(
        self, state: FakeState, method: str, path: str, query: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, Any]:
        segments = path.strip("/").split("/")[1:]  # drop "v1"
        match (method, segments):
            case ("GET", ["whoami"]):
                grant = {"workspaceId": "org_default", "role": "admin", "actions": ["read"]}
                who = {"kind": "token", "name": "local admin", "userId": None, "tokenId": None}
                return 200, {"whoami": {**who, "sessionId": None, "grants": [grant]}}
            case ("GET", ["projects"]):
                return 200, {"projects": list(state.projects.values())}
            case ("POST", ["projects"]):
                project, env = state.add_project(body["name"])
                return 201, {"project": project, "environments": [env]}
            case ("GET", ["projects", project_id]):
                envs = [e for e in state.environments.values() if e["projectId"] == project_id]
                return 200, {"project": state.projects[project_id], "environments": envs}
            case ("GET", ["environments", env_id, "services"]):
                found = [s for s in state.services.values() if s["environmentId"] == env_id]
                return 200, {"services": found}
            case ("POST", ["environments", env_id, "services"]):
                return 201, {"service": state.add_service(state.environments[env_id], body["name"])}
            case ("GET", ["services", service_id]):
                return 200, {"service": state.services[service_id]}
            case ("POST", ["services", service_id, "uploads"]):
                key = f"sources/{service_id}/{len(state.uploads) + 1}.tar.gz"
                url = f"http://127.0.0.1:{state.port}/fake-s3/{key}?X-Amz-Signature=abc"
                return 201, {"uploadUrl": url, "sourceKey": key, "expiresIn": 900}
            case ("POST", ["services", service_id, "deployments"]):
                if "sourceKey" in body and body["sourceKey"] not in state.uploads:
                    return 400, {"Code": "BadRequest", "Message": "sourceKey was never uploaded"}
                kind = "redeploy" if body.get("redeploy") else "source"
                return 201, {"deployment": state.deployment_json(state.add_deployment(service_id, kind))}
            case ("GET", ["services", service_id, "deployments"]):
                mine = [d for d in state.deployments.values() if d.body["serviceId"] == service_id]
                newest_first = [state.deployment_json(d) for d in reversed(mine)]
                return 200, {"deployments": newest_first[: int(query.get("limit", 20))]}
            case ("GET", ["deployments", deployment_id, *_]) if deployment_id not in state.deployments:
                return 404, {"Code": "NotFound", "Message": f"deployment {deployment_id} not found"}
            case ("GET", ["deployments", deployment_id]):
                fake = state.deployments[deployment_id]
                answer = state.deployment_json(fake)
                fake.step += 1
                return 200, {"deployment": answer}
            case ("GET", ["deployments", deployment_id, "logs"]):
                fake = state.deployments[deployment_id]
                after = 0 if state.logs_ignore_after else int(query.get("after", 0))
                return 200, state.logs(fake, query["stream"], after)
            case ("POST", ["services", service_id, "rollback"]):
                state.rollback_bodies.append(body)
                return 201, {
                    "deployment": state.deployment_json(state.add_deployment(service_id, "rollback"))
                }
            case ("GET", ["services", service_id, "rollback"]):
                return 200, {"release": {"number": 1}, "variablesChanged": ["GREETING"]}
            case ("GET", ["services", service_id, "variables"]):
                return 200, {"variables": state.variables}
            case ("PATCH", ["services", service_id, "variables"]):
                state.variable_patches.append(body)
                state.variables.update(body.get("set", {}))
                for key in body.get("unset", []):
                    state.variables.pop(key, None)
                fake = state.add_deployment(service_id, "redeploy")
                return 200, {"variables": state.variables, "deployment": state.deployment_json(fake)}
        return 404, {"Code": "NotFound", "Message": f"no route {method} {path}"}

    do_GET = do_POST = do_PUT = do_PATCH = _handle


class FakeApiServer(ThreadingHTTPServer):
    daemon_threads = True
    state: FakeState


@contextmanager
def running_fake_api() -> Iterator[FakeState]:
    """The fake on a free port of 127.0.0.1 until the block ends."""
    server = FakeApiServer(("127.0.0.1", 0), FakeApiHandler)
    server.state = FakeState(port=server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.state
    finally:
        server.shutdown()
        server.server_close()
