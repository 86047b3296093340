"""End to end: `railyard dev` as a subprocess, driven only through the `railyard` CLI and the router.

One platform serves the whole module (starting it costs a few seconds); each test uses its own
project so they do not interfere. Every server binds 127.0.0.1 on free ports and the platform is
stopped with SIGTERM at the end (it stops every app it started).
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
RAILYARD = [str(Path(sys.executable).parent / "railyard")]


@dataclass
class Dev:
    home: Path
    api_url: str
    router_port: int
    token: str

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RAILYARD_"))}
        env["RAILYARD_HOME"] = str(self.home)
        return env

    def cli(
        self, *args: str, cwd: Path, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*RAILYARD, *args], cwd=cwd, env=self.env(), capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"railyard {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
            )
        return result

    def get(self, hostname: str, path: str = "/") -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.router_port, timeout=5)
        try:
            conn.request("GET", path, headers={"Host": f"{hostname}.localhost:{self.router_port}"})
            response = conn.getresponse()
            return response.status, response.read().decode()
        finally:
            conn.close()

    def api(self, method: str, path: str, **kwargs: object) -> dict:  # type: ignore[type-arg]
        response = requests.request(
            method,
            self.api_url + path,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
            **kwargs,  # type: ignore[arg-type]
        )
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def app(self, tmp: Path, example: str, project: str, service: str = "web") -> Path:
        directory = tmp / project
        shutil.copytree(ROOT / "examples" / example, directory)
        self.cli("init", "--project", project, "--name", service, cwd=directory)
        return directory

    def link(self, directory: Path) -> dict:  # type: ignore[type-arg]
        return json.loads((directory / ".railyard.json").read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    home = tmp_path_factory.mktemp("railyard-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RAILYARD_"))}
    env["RAILYARD_HOME"] = str(home)
    log = open(home / "dev.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [*RAILYARD, "dev", "--api-port", "0", "--router-port", "0"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not (home / "dev.json").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("railyard dev did not start:\n" + (home / "dev.log").read_text())
            time.sleep(0.1)
        state = json.loads((home / "dev.json").read_text())
        config = json.loads((home / "config.json").read_text())
        yield Dev(home, state["api_url"], state["router_port"], config["token"])
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_deploy_python_and_node_samples_and_reach_them_through_the_router(dev: Dev, tmp_path: Path) -> None:
    python_app = dev.app(tmp_path, "hello-python", "py")
    out = dev.cli("up", cwd=python_app).stdout
    assert "✔ Deployed: http://web-production-py.localhost:" in out
    assert "build: provider python" in out  # the build log was streamed
    assert dev.get("web-production-py") == (200, "Hello from Railyard! (python, version 1)\n")
    again = dev.cli("up", cwd=python_app).stdout  # nothing changed: the build is skipped
    assert "build: skipped: this exact source was built before" in again
    assert dev.get("web-production-py") == (200, "Hello from Railyard! (python, version 1)\n")

    node_app = dev.app(tmp_path, "hello-node", "js")
    dev.cli("up", cwd=node_app)
    assert dev.get("web-production-js") == (200, "Hello from Railyard! (node, version 1)\n")
    status = dev.cli("status", cwd=node_app).stdout
    assert "SUCCESS" in status and "web-production-js.localhost" in status


def test_redeploy_switches_with_zero_failed_requests_then_rollback_restores_v1(
    dev: Dev, tmp_path: Path
) -> None:
    app = dev.app(tmp_path, "hello-python", "zero")
    dev.cli("up", cwd=app)
    (app / "VERSION").write_text("2\n")
    seen: list[tuple[int, str]] = []
    failures: list[str] = []
    stop = threading.Event()

    def hammer() -> None:
        deadline = time.monotonic() + 90  # bounded even if the test fails
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                seen.append(dev.get("web-production-zero"))
                if seen[-1][0] != 200:
                    failures.append(f"status {seen[-1][0]}")
            except OSError as error:
                failures.append(repr(error))

    client = threading.Thread(target=hammer)
    client.start()
    try:
        dev.cli("up", cwd=app)
        time.sleep(0.5)  # keep requesting while the old release drains
    finally:
        stop.set()
        client.join()
    bodies = [body for _, body in seen]
    assert failures == []
    assert "Hello from Railyard! (python, version 1)\n" in bodies
    assert bodies[-1] == "Hello from Railyard! (python, version 2)\n"
    assert len(seen) > 50

    out = dev.cli("rollback", cwd=app).stdout
    assert "✔ Deployed" in out
    assert dev.get("web-production-zero")[1] == "Hello from Railyard! (python, version 1)\n"
    listed = dev.cli("deployments", cwd=app).stdout
    assert "rollback" in listed and "REMOVED" in listed


def test_three_variables_make_exactly_one_deployment_that_exposes_them(dev: Dev, tmp_path: Path) -> None:
    app = dev.app(tmp_path, "hello-node", "vars")
    dev.cli("up", cwd=app)
    service_id = dev.link(app)["serviceId"]
    before = dev.api("GET", f"/v1/services/{service_id}/deployments")["deployments"]
    dev.cli("variables", "set", "GREETING=hi", "COLOUR=green", "SIZE=3", cwd=app)
    after = dev.api("GET", f"/v1/services/{service_id}/deployments")["deployments"]
    assert len(after) == len(before) + 1
    assert after[0]["kind"] == "redeploy" and after[0]["status"] == "SUCCESS"
    for name, value in (("GREETING", "hi"), ("COLOUR", "green"), ("SIZE", "3")):
        assert json.loads(dev.get("web-production-vars", f"/env/{name}")[1]) == {name: value}
    assert "COLOUR=green" in dev.cli("variables", cwd=app).stdout


def test_a_directory_with_nothing_to_build_fails_listing_what_was_looked_for(
    dev: Dev, tmp_path: Path
) -> None:
    app = tmp_path / "empty"
    app.mkdir()
    (app / "README.md").write_text("nothing to run here\n")
    dev.cli("init", "--project", "nothing", "--name", "web", cwd=app)
    result = dev.cli("up", cwd=app, check=False)
    assert result.returncode == 1
    assert "FAILED" in result.stdout
    for looked_for in ("requirements.txt", "package.json", "index.html", "Procfile"):
        assert looked_for in result.stdout
    assert dev.get("web-production-nothing")[0] == 404  # nothing ever went live


def test_a_failing_build_command_fails_with_exit_code_and_log_tail(dev: Dev, tmp_path: Path) -> None:
    app = dev.app(tmp_path, "hello-node", "broken")
    manifest = json.loads((app / "package.json").read_text())
    manifest["scripts"]["build"] = "echo compiling; echo 'error TS2304: cannot find name' >&2; exit 3"
    (app / "package.json").write_text(json.dumps(manifest))
    result = dev.cli("up", cwd=app, check=False)
    assert result.returncode == 1
    assert "exited with code 3" in result.stdout
    assert "error TS2304: cannot find name" in result.stdout


UNHEALTHY_WHEN_FLAGGED = """
import os
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
    dev.api("PATCH", f"/v1/services/{service_id}", json={"settings": {"healthcheckTimeout": 2}})
    dev.cli("up", cwd=app)
    assert dev.get("web-production-sick") == (200, "good")
    (app / "BROKEN").write_text("")
    result = dev.cli("up", cwd=app, check=False)
    assert result.returncode == 1
    assert "HealthCheckFailed" in result.stdout and "timeout after 2" in result.stdout
    assert dev.get("web-production-sick") == (200, "good")


def test_a_crashing_app_is_restarted_then_marked_crashed(dev: Dev, tmp_path: Path) -> None:
    app = tmp_path / "crashy"
    app.mkdir()
    (app / "main.py").write_text(UNHEALTHY_WHEN_FLAGGED)
    dev.cli("init", "--project", "crashy", "--name", "web", cwd=app)
    service_id = dev.link(app)["serviceId"]
    dev.api("PATCH", f"/v1/services/{service_id}", json={"settings": {"restartPolicyMaxRetries": 2}})
    dev.cli("variables", "set", "CRASH_AFTER=1.5", cwd=app)  # no release yet: no deployment
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


def test_dev_demo_exit_deploys_the_sample_and_exits_zero(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RAILYARD_"))}
    env["RAILYARD_HOME"] = str(tmp_path)
    result = subprocess.run(
        [*RAILYARD, "dev", "--demo", "--exit", "--api-port", "0", "--router-port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "✔ Deployed: http://hello-python-production-demo.localhost:" in result.stdout
    assert not (tmp_path / "dev.json").exists()  # it cleaned up after itself


RAILWAY_APP = {
    "package.json": json.dumps(
        {
            "name": "moved",
            "scripts": {"start": "node server.js"},
            "dependencies": {"greet": "file:./vendor/greet"},
        }
    ),
    "vendor/greet/package.json": json.dumps({"name": "greet", "version": "1.0.0", "main": "index.js"}),
    "vendor/greet/index.js": 'module.exports = "hello from a dependency";\n',
    "server.js": (
        'const http = require("http"); const greet = require("greet");\n'
        "http.createServer((req, res) => {\n"
        '  res.writeHead(200); res.end(req.url === "/health" ? "ok" : greet + " v1");\n'
        "})\n"
        '  .listen(parseInt(process.env.PORT, 10), "127.0.0.1");\n'
    ),
    "railway.json": json.dumps(
        {
            "$schema": "https://railway.com/railway.schema.json",
            "build": {"buildCommand": "echo built > built.txt"},
            "deploy": {"healthcheckPath": "/health", "healthcheckTimeout": 30},
        }
    ),
}


def test_a_railway_app_moves_unchanged_and_its_dependency_cache_is_visible(dev: Dev, tmp_path: Path) -> None:
    app = tmp_path / "moved"
    for name, text in RAILWAY_APP.items():
        (app / name).parent.mkdir(parents=True, exist_ok=True)
        (app / name).write_text(text)
    plan = json.loads(dev.cli("plan", "--json", cwd=app).stdout)
    assert plan["provider"] == "node" and plan["build"] == ["echo built > built.txt"]
    assert plan["config_files"] == ["railway.json"]

    dev.cli("init", "--project", "moved", "--name", "web", cwd=app)
    first = dev.cli("up", cwd=app).stdout
    assert "deps: cache miss" in first
    assert "waiting for 200 on /health" in first  # railway.json's deploy.healthcheckPath
    assert dev.get("web-production-moved") == (200, "hello from a dependency v1")

    (app / "server.js").write_text(RAILWAY_APP["server.js"].replace(" v1", " v2"))  # source only
    second = dev.cli("up", cwd=app).stdout
    assert "deps: cache hit" in second and "saved" in second
    assert dev.get("web-production-moved") == (200, "hello from a dependency v2")
    service_id = dev.link(app)["serviceId"]
    latest = dev.api("GET", f"/v1/services/{service_id}/deployments")["deployments"][0]
    assert latest["buildCache"]["deps"] == "hit"

    cold = dev.cli("up", "--no-cache", cwd=app).stdout
    assert "cache: disabled by --no-cache" in cold and "deps: cache disabled; installed in" in cold

    (app / "railway.json").write_text(
        json.dumps({"deploy": {"healthcheckPath": "/health", "restartPolicy": "x"}})
    )
    broken = dev.cli("up", cwd=app, check=False)
    assert broken.returncode == 1
    assert "railway.json" in broken.stdout and "deploy.restartPolicy" in broken.stdout
    assert dev.get("web-production-moved") == (200, "hello from a dependency v2")
