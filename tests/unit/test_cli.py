"""The `railyard` CLI against a fake Railyard API served over real HTTP on 127.0.0.1.

The fake implements only the routes the CLI uses, with canned status sequences: each GET of a
deployment advances it one step, and its build/deploy logs appear as it goes. It also plays the
presigned-upload target (PUT /fake-s3/...) and the router (any request whose Host is not
127.0.0.1), so `railyard up` runs end to end over sockets without AWS.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import re
import socket
import stat
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from typer.testing import CliRunner, Result

from railyard import cli
from railyard.commands import following
from railyard.settings import Config, Link, save_config, save_link
from railyard.tarball import TarballError, pack_directory

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


@pytest.fixture
def fake_api() -> Iterator[FakeState]:
    server = FakeApiServer(("127.0.0.1", 0), FakeApiHandler)
    server.state = FakeState(port=server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def isolated_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Config under tmp_path, no developer environment leaking in, and fast polling."""
    monkeypatch.setenv("RAILYARD_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RAILYARD_API_URL", raising=False)
    monkeypatch.delenv("RAILYARD_TOKEN", raising=False)
    monkeypatch.setattr(following, "POLL_INTERVAL_SECONDS", 0.01)
    monkeypatch.setattr(following, "ROUTER_CHECK_SECONDS", 1.0)


def api_url(state: FakeState) -> str:
    return f"http://127.0.0.1:{state.port}"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli.app, list(args))


def logged_in(state: FakeState) -> None:
    save_config(Config(api_url=api_url(state), token=TOKEN))


def linked_app(state: FakeState, directory: Path) -> dict[str, Any]:
    """A project 'demo' with service 'web' in production, linked from ``directory``."""
    project, env = state.add_project("demo")
    service = state.add_service(env, "web")
    directory.mkdir(parents=True, exist_ok=True)
    save_link(
        directory,
        Link(
            projectId=project["id"],
            environmentId=env["id"],
            serviceId=service["id"],
            project="demo",
            environment="production",
            service="web",
        ),
    )
    return service


def write_tree(root: Path, files: dict[str, str]) -> None:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)


APP_FILES = {
    "app.py": "print('hi')\n",
    "requirements.txt": "flask\n",
    "src/lib/util.py": "X = 1\n",
    "static/logo.svg": "<svg/>\n",
    ".railyardignore": "# local only\n*.log\nsecrets/\n/build\n",
    # everything below must stay out of the tarball
    ".git/HEAD": "ref: refs/heads/main\n",
    "node_modules/left-pad/index.js": "module.exports = 1\n",
    ".venv/bin/python": "#!/bin/sh\n",
    "venv/lib/site.py": "\n",
    "__pycache__/app.cpython-311.pyc": "\0",
    "src/lib/__pycache__/util.cpython-311.pyc": "\0",
    "src/stale.pyc": "\0",
    ".railyard/cache": "x\n",
    "debug.log": "noise\n",
    "secrets/key.pem": "-----BEGIN-----\n",
    "build/out.js": "built\n",
}
EXPECTED_PACKED = {"app.py", "requirements.txt", "src/lib/util.py", "static/logo.svg", ".railyardignore"}


# -- login / init -----------------------------------------------------------------------------------


def test_login_verifies_the_token_and_saves_config(fake_api: FakeState, tmp_path: Path) -> None:
    result = run("login", "--token", TOKEN, "--api-url", api_url(fake_api) + "/")

    assert result.exit_code == 0, result.output
    config_file = tmp_path / "home" / "config.json"
    assert json.loads(config_file.read_text()) == {"api_url": api_url(fake_api), "token": TOKEN}
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600  # it holds a bearer token
    assert ("GET", "/v1/whoami") in fake_api.requests


def test_login_with_a_bad_token_saves_nothing(fake_api: FakeState, tmp_path: Path) -> None:
    result = run("login", "--token", "wrong", "--api-url", api_url(fake_api))

    assert result.exit_code == 1
    assert "error: Unauthorized: invalid or missing token" in result.stderr
    assert not (tmp_path / "home" / "config.json").exists()


def test_login_without_token_checks_the_config_the_platform_wrote(fake_api: FakeState) -> None:
    logged_in(fake_api)

    result = run("login")

    assert result.exit_code == 0, result.output
    assert "Already logged in" in result.output
    assert fake_api.requests == [("GET", "/v1/whoami")]


def test_init_creates_project_and_service_and_links_the_directory(
    fake_api: FakeState, tmp_path: Path
) -> None:
    logged_in(fake_api)
    app_dir = tmp_path / "My Cool_App"
    app_dir.mkdir()

    result = run("init", "--dir", str(app_dir))

    assert result.exit_code == 0, result.output
    link = json.loads((app_dir / ".railyard.json").read_text())
    service = fake_api.services[link["serviceId"]]
    assert (link["project"], link["environment"], link["service"]) == (
        "my-cool-app",
        "production",
        "my-cool-app",
    )
    assert service["name"] == "my-cool-app"
    assert fake_api.environments[link["environmentId"]]["projectId"] == link["projectId"]

    posts_before = [r for r in fake_api.requests if r[0] == "POST"]
    again = run("init", "--dir", str(app_dir))
    assert again.exit_code == 0
    assert "Already linked to my-cool-app/production/my-cool-app" in again.output
    assert [r for r in fake_api.requests if r[0] == "POST"] == posts_before


# -- up -----------------------------------------------------------------------------------------------


def test_up_uploads_the_source_follows_logs_and_checks_the_router(
    fake_api: FakeState, tmp_path: Path
) -> None:
    logged_in(fake_api)
    app_dir = tmp_path / "app"
    service = linked_app(fake_api, app_dir)
    write_tree(app_dir, APP_FILES)

    result = run("up", "--dir", str(app_dir))

    assert result.exit_code == 0, result.output
    # The upload is a real .tar.gz with exactly the files that should ship, sent without our token.
    [tarball] = fake_api.uploads.values()
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        packed = {member.name for member in tar.getmembers() if not member.isdir()}
    assert packed == EXPECTED_PACKED
    assert fake_api.upload_auth_headers == [None]
    # Build logs, then deploy logs, each line once, in order.
    output = result.output
    positions = [output.index(line) for line in [*BUILD_LINES, *DEPLOY_LINES]]
    assert positions == sorted(positions)
    assert all(output.count(line) == 1 for line in [*BUILD_LINES, *DEPLOY_LINES])
    # The router was asked for the app's host (not 127.0.0.1), and the URL is reported.
    assert fake_api.router_hosts
    assert fake_api.router_hosts[0].startswith("web-production-demo.localhost")
    assert f"✔ Deployed: {service['url']}" in output
    assert service["url"] == f"http://web-production-demo.localhost:{fake_api.port}"


def test_up_exits_1_with_the_reason_when_the_deployment_fails(fake_api: FakeState, tmp_path: Path) -> None:
    logged_in(fake_api)
    app_dir = tmp_path / "app"
    linked_app(fake_api, app_dir)
    write_tree(app_dir, {"app.py": "x\n"})
    fake_api.next_statuses = ["QUEUED", "BUILDING", "FAILED"]
    fake_api.next_reason = "build failed: no start command found"

    result = run("up", "--dir", str(app_dir))

    assert result.exit_code == 1
    assert "FAILED: build failed: no start command found" in result.output
    assert "Deployed:" not in result.output
    assert fake_api.router_hosts == []


def test_up_of_a_cron_service_reports_the_schedule_and_probes_no_url(
    fake_api: FakeState, tmp_path: Path
) -> None:
    logged_in(fake_api)
    app_dir = tmp_path / "app"
    linked_app(fake_api, app_dir)
    write_tree(app_dir, {"app.py": "x\n"})
    fake_api.next_cron_schedule = "*/5 * * * *"

    result = run("up", "--dir", str(app_dir))

    assert result.exit_code == 0, result.output
    assert "Scheduled: `*/5 * * * *` (UTC)" in result.output
    assert "Deployed:" not in result.output
    assert fake_api.router_hosts == []  # a cron service has no route: nothing to probe


def test_up_exits_1_when_the_router_does_not_answer(
    fake_api: FakeState, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logged_in(fake_api)
    app_dir = tmp_path / "app"
    linked_app(fake_api, app_dir)
    write_tree(app_dir, {"app.py": "x\n"})
    fake_api.router_status = 502
    monkeypatch.setattr(following, "ROUTER_CHECK_SECONDS", 0.3)

    result = run("up", "--dir", str(app_dir))

    assert result.exit_code == 1
    assert "did not answer" in result.output
    assert "HTTP 502" in result.output


def test_ctrl_c_while_following_stops_watching_but_not_the_deployment(
    fake_api: FakeState, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logged_in(fake_api)
    app_dir = tmp_path / "app"
    linked_app(fake_api, app_dir)
    write_tree(app_dir, {"app.py": "x\n"})

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(following, "sleep", interrupted)
    result = run("up", "--dir", str(app_dir))

    assert result.exit_code == 130
    assert "continues" in result.output
    assert not any(path.endswith("/cancel") for _, path in fake_api.requests)


def test_up_detach_returns_after_creating_the_deployment(fake_api: FakeState, tmp_path: Path) -> None:
    logged_in(fake_api)
    app_dir = tmp_path / "app"
    linked_app(fake_api, app_dir)
    write_tree(app_dir, {"app.py": "x\n"})

    result = run("up", "--detach", "--dir", str(app_dir))

    assert result.exit_code == 0, result.output
    assert "dep-0001" in result.output
    assert not any(path.startswith("/v1/deployments/") for _, path in fake_api.requests)


# -- variables, rollback, status, logs, deployments ------------------------------------------------------


def test_variables_set_sends_one_patch_with_every_pair(
    fake_api: FakeState, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logged_in(fake_api)
    linked_app(fake_api, tmp_path / "app")
    monkeypatch.chdir(tmp_path / "app")

    result = run("variables", "set", "A=1", "DATABASE_URL=postgres://u:p@h/db?x=y", "_EMPTY=", "--detach")

    assert result.exit_code == 0, result.output
    patches = [r for r in fake_api.requests if r[0] == "PATCH"]
    assert len(patches) == 1
    assert fake_api.variable_patches == [
        {"set": {"A": "1", "DATABASE_URL": "postgres://u:p@h/db?x=y", "_EMPTY": ""}}
    ]
    assert "dep-0001" in result.output

    listed = run("variables")
    assert listed.exit_code == 0
    assert "DATABASE_URL=postgres://u:p@h/db?x=y" in listed.stdout.splitlines()


@pytest.mark.parametrize("bad", ["NOEQUALS", "=value", "1ABC=x", "BAD-KEY=x", "BAD KEY=x"])
def test_malformed_assignment_is_rejected_before_any_request(
    fake_api: FakeState, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    logged_in(fake_api)
    linked_app(fake_api, tmp_path / "app")
    monkeypatch.chdir(tmp_path / "app")

    result = run("variables", "set", "GOOD=1", bad)

    assert result.exit_code != 0
    assert fake_api.requests == []


def test_rollback_sends_the_target_and_follows(fake_api: FakeState, tmp_path: Path) -> None:
    logged_in(fake_api)
    app_dir = tmp_path / "app"
    linked_app(fake_api, app_dir)

    result = run("rollback", "dep-0042", "--dir", str(app_dir))

    assert result.exit_code == 0, result.output
    assert fake_api.rollback_bodies == [{"deploymentId": "dep-0042"}]
    assert "✔ Deployed:" in result.output


def test_rollback_preview_names_what_would_come_back_and_makes_nothing(
    fake_api: FakeState, tmp_path: Path
) -> None:
    logged_in(fake_api)
    app_dir = tmp_path / "app"
    linked_app(fake_api, app_dir)

    result = run("rollback", "dep-0042", "--preview", "--dir", str(app_dir))

    assert result.exit_code == 0, result.output
    assert "A rollback would run release v1" in result.output
    assert "values of GREETING differ from the current ones" in result.output
    assert fake_api.rollback_bodies == []


def test_status_logs_and_deployments_read_the_latest_deployment(fake_api: FakeState, tmp_path: Path) -> None:
    logged_in(fake_api)
    app_dir = tmp_path / "app"
    service = linked_app(fake_api, app_dir)
    fake_api.next_statuses = ["SUCCESS"]
    first = fake_api.add_deployment(service["id"], "source")
    second = fake_api.add_deployment(service["id"], "redeploy")
    second.body["createdBy"] = {"kind": "token", "name": "ci", "userId": None, "label": "token ci"}
    service["activeDeploymentId"] = first.body["id"]

    status = run("status", "--dir", str(app_dir))
    logs = run("logs", "--dir", str(app_dir))
    build_logs = run("logs", "--build", "--follow", "--deployment", first.body["id"], "--dir", str(app_dir))
    table = run("deployments", "--dir", str(app_dir))

    assert status.exit_code == 0, status.output
    assert re.search(r"Active:\s+SUCCESS\s+dep-0001", status.output)
    assert re.search(r"Latest:\s+SUCCESS\s+dep-0002", status.output)
    assert service["url"] in status.output
    assert logs.exit_code == 0 and logs.output.splitlines() == DEPLOY_LINES
    assert build_logs.exit_code == 0 and build_logs.output.splitlines() == BUILD_LINES
    assert table.exit_code == 0
    assert table.output.index(second.body["id"]) < table.output.index(first.body["id"])
    # BY: who made it (ADR 0042); "-" for a deployment made before that was recorded
    header, *lines = table.output.splitlines()
    by = {line.split()[0]: line[header.index(" BY ") + 1 :].split("  ")[0] for line in lines}
    assert by == {second.body["id"]: "token ci", first.body["id"]: "-"}


def test_logs_after_a_skipped_deployment_read_the_live_deployment(
    fake_api: FakeState, tmp_path: Path
) -> None:
    logged_in(fake_api)
    app_dir = tmp_path / "app"
    service = linked_app(fake_api, app_dir)
    fake_api.next_statuses = ["SUCCESS"]
    live = fake_api.add_deployment(service["id"], "source")
    service["activeDeploymentId"] = live.body["id"]
    fake_api.next_statuses = ["SKIPPED"]
    skipped = fake_api.add_deployment(service["id"], "source")

    logs = run("logs", "--dir", str(app_dir))
    build_logs = run("logs", "--build", "--dir", str(app_dir))

    assert logs.exit_code == 0 and build_logs.exit_code == 0
    read = [path for method, path in fake_api.requests if method == "GET" and path.endswith("/logs")]
    assert read[0].startswith(f"/v1/deployments/{live.body['id']}/")  # the app's output lives there
    assert read[-1].startswith(f"/v1/deployments/{skipped.body['id']}/")  # why it was skipped


def test_status_of_a_cron_service_shows_its_schedule_instead_of_a_url(
    fake_api: FakeState, tmp_path: Path
) -> None:
    logged_in(fake_api)
    app_dir = tmp_path / "app"
    service = linked_app(fake_api, app_dir)
    fake_api.next_statuses = ["SUCCESS"]
    fake_api.next_cron_schedule = "0 3 * * 1"
    live = fake_api.add_deployment(service["id"], "source")
    service["activeDeploymentId"] = live.body["id"]
    # A deployment that watch patterns skipped was never built, so it knows no schedule: the live
    # release, not the latest deployment, says what the service is.
    fake_api.next_statuses, fake_api.next_cron_schedule = ["SKIPPED"], None
    fake_api.add_deployment(service["id"], "source")

    result = run("status", "--dir", str(app_dir))

    assert result.exit_code == 0, result.output
    assert re.search(r"Schedule:\s+`0 3 \* \* 1` \(UTC", result.output)
    assert "URL:" not in result.output and service["url"] not in result.output
    assert re.search(r"Active:\s+SUCCESS\s+dep-0001", result.output)
    assert re.search(r"Latest:\s+SKIPPED\s+dep-0002", result.output)
    assert fake_api.router_hosts == []


def test_status_before_anything_is_live_reads_the_schedule_of_the_latest_deployment(
    fake_api: FakeState, tmp_path: Path
) -> None:
    logged_in(fake_api)
    app_dir = tmp_path / "app"
    service = linked_app(fake_api, app_dir)
    fake_api.next_statuses = ["BUILDING"]
    fake_api.next_cron_schedule = "*/10 * * * *"
    fake_api.add_deployment(service["id"], "source")

    result = run("status", "--dir", str(app_dir))

    assert result.exit_code == 0, result.output
    assert "Schedule: `*/10 * * * *`" in result.output
    assert "Active:   - (nothing deployed yet)" in result.output


def test_following_never_repeats_lines_even_if_the_server_ignores_after(
    fake_api: FakeState, tmp_path: Path
) -> None:
    logged_in(fake_api)
    app_dir = tmp_path / "app"
    linked_app(fake_api, app_dir)
    write_tree(app_dir, {"app.py": "x\n"})
    fake_api.logs_ignore_after = True

    result = run("up", "--dir", str(app_dir))

    assert result.exit_code == 0, result.output
    assert all(result.output.count(line) == 1 for line in [*BUILD_LINES, *DEPLOY_LINES])


# -- errors -------------------------------------------------------------------------------------------------


def test_missing_config_and_missing_link_say_what_to_run(fake_api: FakeState, tmp_path: Path) -> None:
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    write_tree(app_dir, {"app.py": "x\n"})
    linked_elsewhere = tmp_path / "linked"
    linked_app(fake_api, linked_elsewhere)

    no_config = run("status", "--dir", str(linked_elsewhere))
    logged_in(fake_api)
    no_link = run("up", "--dir", str(app_dir))

    assert no_config.exit_code == 1
    assert "railyard dev" in no_config.stderr and "railyard login" in no_config.stderr
    assert no_link.exit_code == 1
    assert "railyard init" in no_link.stderr
    assert fake_api.requests == []


def test_an_unreachable_api_is_one_line_naming_its_url(fake_api: FakeState, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    save_config(Config(api_url=f"http://127.0.0.1:{closed_port}", token=TOKEN))
    linked_app(fake_api, tmp_path / "app")

    result = run("status", "--dir", str(tmp_path / "app"))

    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"error: cannot reach the Railyard API at http://127.0.0.1:{closed_port} "
        "(connection refused); is `railyard dev` running?"
    ]


def test_an_api_error_prints_code_and_message(fake_api: FakeState, tmp_path: Path) -> None:
    logged_in(fake_api)
    app_dir = tmp_path / "app"
    linked_app(fake_api, app_dir)

    result = run("logs", "--deployment", "dep-missing", "--follow", "--build", "--dir", str(app_dir))

    assert result.exit_code == 1
    assert "error: NotFound: deployment dep-missing not found" in result.stderr


# -- tarball ------------------------------------------------------------------------------------------------


def test_tarball_is_deterministic_and_normalised(tmp_path: Path) -> None:
    first_dir, second_dir = tmp_path / "one", tmp_path / "two"
    write_tree(first_dir, APP_FILES)
    # Same content created in the opposite order, with other mtimes and permission noise.
    write_tree(second_dir, dict(reversed(list(APP_FILES.items()))))
    for path in second_dir.rglob("*"):
        os.utime(path, (1_000_000, 1_000_000))
    (second_dir / "app.py").chmod(0o664)

    first = pack_directory(first_dir)
    again = pack_directory(first_dir)
    second = pack_directory(second_dir)

    assert first.data == again.data
    assert first.data == second.data
    assert set(first.files) == EXPECTED_PACKED
    with tarfile.open(fileobj=io.BytesIO(first.data), mode="r:gz") as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == sorted(m.name for m in members)
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, 0, "", "")}


def test_tarball_refuses_an_empty_or_oversized_directory(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    write_tree(empty, {".git/HEAD": "x\n", "node_modules/a.js": "x\n"})
    big = tmp_path / "big"
    write_tree(big, {"blob.bin": "x" * 2048})

    with pytest.raises(TarballError, match="nothing to deploy"):
        pack_directory(empty)
    with pytest.raises(TarballError, match="limit"):
        pack_directory(big, max_bytes=1024)


# -- railyard plan (local, no API) ---------------------------------------------------------------------

NODE_MANIFEST = {
    "name": "shop",
    "scripts": {"build": "vite build", "start": "node server.js"},
    "dependencies": {"express": "^4.19.0"},
}


def test_plan_prints_the_plan_as_json_without_the_api(tmp_path: Path) -> None:
    write_tree(tmp_path, {"package.json": json.dumps(NODE_MANIFEST), "server.js": "\n"})

    result = run("plan", str(tmp_path), "--json")

    assert result.exit_code == 0, result.output
    planned = json.loads(result.stdout)
    assert planned["provider"] == "node"
    assert planned["start_command"] == "npm start"
    assert planned["build"] == ["npm run build"]
    assert any(command.startswith("npm ") for command in planned["install"])
    assert "package.json" in planned["files_read"]
    for key in ("language_version", "cache_dirs", "env", "watch_patterns", "config_files"):
        assert key in planned


def test_plan_prints_a_readable_summary_of_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_tree(tmp_path, {"package.json": json.dumps(NODE_MANIFEST), "server.js": "\n"})
    monkeypatch.chdir(tmp_path)

    result = run("plan")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "Provider:         node" in lines
    assert "Start command:    npm start" in lines
    assert "Build:            npm run build" in lines
    assert any(line.startswith("Install:          npm ") for line in lines)
    for label in ("Language version:", "Cache dirs:", "Config files:"):
        assert any(line.startswith(label) for line in lines), label


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"package.json": '{"name": '}, "package.json"),  # malformed manifest: BuildFailed
        ({"README.md": "hi\n"}, "could not tell how to build"),  # no provider: NothingToBuild
    ],
)
def test_plan_errors_are_one_error_line_and_exit_1(
    tmp_path: Path, files: dict[str, str], message: str
) -> None:
    write_tree(tmp_path, files)

    result = run("plan", str(tmp_path))

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert message in result.stderr
