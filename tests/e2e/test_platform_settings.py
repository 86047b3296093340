"""End to end: Railway-style config files and deploy settings (replicas, cron, watch patterns) on one
`railyard dev` subprocess."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support.platform import Dev, write_app

pytestmark = pytest.mark.e2e


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


WHO_ANSWERS = """
import json, os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        who = {"pid": os.getpid(), "replica": os.environ.get("RAILYARD_REPLICA_ID"),
               "railway": os.environ.get("RAILWAY_REPLICA_ID")}
        body = b"ok" if self.path == "/health" else json.dumps(who).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""


def test_num_replicas_runs_two_processes_and_the_router_reaches_both(dev: Dev, tmp_path: Path) -> None:
    # GIVEN an app whose railway.json asks for two replicas
    app = write_app(
        tmp_path / "twins",
        {
            "main.py": WHO_ANSWERS,
            "railway.json": json.dumps({"deploy": {"numReplicas": 2, "healthcheckPath": "/health"}}),
        },
    )
    dev.cli("init", "--project", "twins", "--name", "web", cwd=app)
    # WHEN it is deployed
    out = dev.cli("up", cwd=app).stdout
    assert "(2 replicas, round robin)" in out
    # THEN requests through the router reach two distinct processes, one per replica id
    answers = []
    for _ in range(6):
        status, body = dev.get("web-production-twins")
        assert status == 200, body
        answers.append(json.loads(body))
    assert {a["replica"] for a in answers} == {"1", "2"}
    assert len({a["pid"] for a in answers}) == 2
    assert len({a["railway"] for a in answers}) == 2  # RAILWAY_REPLICA_ID is unique per replica


CRON_JOB = """
import sys
print("cron-marker: the job ran", flush=True)
sys.exit(3)
"""


def test_a_cron_service_is_scheduled_runs_on_demand_and_has_no_route(dev: Dev, tmp_path: Path) -> None:
    # GIVEN a job whose schedule will not fire during the test (midnight, January 1st)
    job = write_app(
        tmp_path / "nightly",
        {"main.py": CRON_JOB, "railway.json": json.dumps({"deploy": {"cronSchedule": "0 0 1 1 *"}})},
    )
    dev.cli("init", "--project", "nightly", "--name", "job", cwd=job)
    # WHEN it is deployed, THEN `up` reports the schedule and succeeds without probing a URL
    out = dev.cli("up", cwd=job).stdout
    assert "Scheduled: `0 0 1 1 *` (UTC)" in out
    assert "cron: 0 0 1 1 * (UTC), next run at" in out  # the runtime's own deploy log line
    status = dev.cli("status", cwd=job).stdout
    assert "Schedule: `0 0 1 1 *`" in status and "URL:" not in status
    assert dev.get("job-production-nightly")[0] == 404  # a cron service has no route

    # WHEN it is run now, THEN its output and exit code reach the deploy log within seconds
    ran = dev.cli("cron", "run", cwd=job)
    assert "Run started" in ran.stdout
    dev.wait_for_log(dev.latest_deployment_id(dev.link(job)["serviceId"]), "exited with code 3", within=10)
    logs = dev.cli("logs", cwd=job).stdout
    assert "cron: run started (run now" in logs
    assert "cron-marker: the job ran" in logs
    assert re.search(r"cron: run \(pid \d+\) exited with code 3 after", logs), logs
    assert logs.index("cron-marker") < logs.index("exited with code 3")

    # AND `cron run` on a web service is a clear error
    web = write_app(tmp_path / "notcron", {"main.py": WHO_ANSWERS})
    dev.cli("init", "--project", "notcron", "--name", "web", cwd=web)
    dev.cli("up", cwd=web)
    refused = dev.cli("cron", "run", cwd=web, check=False)
    assert refused.returncode == 1
    assert "is not a cron service" in refused.stderr and "cronSchedule" in refused.stderr

    # AND a web service that becomes a cron service loses its route (it answered before)
    assert dev.get("web-production-notcron")[0] == 200
    (web / "railway.json").write_text(json.dumps({"deploy": {"cronSchedule": "0 0 1 1 *"}}))
    assert "Scheduled: `0 0 1 1 *`" in dev.cli("up", cwd=web).stdout
    assert dev.get("web-production-notcron")[0] == 404


MONOREPO_SERVER = """
import os
import re
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


def test_watch_patterns_skip_a_change_outside_them_and_deploy_one_inside(dev: Dev, tmp_path: Path) -> None:
    # GIVEN a monorepo-ish directory whose service only watches /api/**, deployed once
    app = write_app(
        tmp_path / "mono",
        {
            "main.py": MONOREPO_SERVER,
            "api/message.txt": "api v1",
            "web/notes.md": "the web team's notes\n",
            "railway.json": json.dumps({"build": {"watchPatterns": ["/api/**"]}}),
        },
    )
    dev.cli("init", "--project", "mono", "--name", "api", cwd=app)
    first = dev.cli("up", cwd=app).stdout
    assert "✔ Deployed" in first
    assert dev.get("api-production-mono") == (200, "api v1")
    service_id = dev.link(app)["serviceId"]

    # WHEN only a file outside api/ changes, THEN the deployment is SKIPPED and v1 keeps serving
    (app / "web" / "notes.md").write_text("the web team's notes, edited\n")
    skipped = dev.cli("up", cwd=app)
    assert skipped.returncode == 0
    assert re.search(r"Deployment \S+ SKIPPED: watch patterns matched no changed file", skipped.stdout)
    assert "watch patterns (/api/**) matched none of the 1 changed file(s)" in skipped.stdout
    assert dev.get("api-production-mono") == (200, "api v1")
    latest = dev.api("GET", f"/v1/services/{service_id}/deployments")["deployments"][0]
    assert latest["status"] == "SKIPPED" and latest["releaseId"] is None

    # WHEN a file under api/ changes, THEN it builds, deploys and serves the new response
    (app / "api" / "message.txt").write_text("api v2")
    deployed = dev.cli("up", cwd=app).stdout
    assert "matched 1 changed file(s): api/message.txt" in deployed
    assert "✔ Deployed" in deployed
    assert dev.get("api-production-mono") == (200, "api v2")
