"""End to end: `railyard dev` as a subprocess, driven only through the `railyard` CLI and the router.

One platform serves the whole module (starting it costs a few seconds); each test uses its own
project so they do not interfere. Every server binds 127.0.0.1 on free ports and the platform is
stopped with SIGTERM at the end (it stops every app it started).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.platform import RAILYARD, Dev, running_dev

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    with running_dev(tmp_path_factory.mktemp("railyard-home")) as platform:
        yield platform


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
import re
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


def write_app(directory: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(text)
    return directory


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
    deadline = time.monotonic() + 10
    logs = ""
    while time.monotonic() < deadline:
        logs = dev.cli("logs", cwd=job).stdout
        if "exited with code 3" in logs:
            break
        time.sleep(0.2)
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


def test_dev_with_the_codebuild_builder_ends_builds_from_codebuild_state_change_events(
    tmp_path: Path,
) -> None:
    import boto3

    home = tmp_path / "home"
    home.mkdir()
    with running_dev(home, {"RAILYARD_BUILDER": "codebuild"}) as cb:
        # GIVEN the platform with the CodeBuild builder (infrastructure creates the project on AWS;
        # here the test does, on the platform's embedded AWS)
        aws = {
            "endpoint_url": f"http://127.0.0.1:{cb.moto_port}",
            "region_name": "us-east-1",
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "codebuild.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        role = boto3.client("iam", **aws).create_role(
            RoleName="railyard-codebuild", AssumeRolePolicyDocument=json.dumps(trust)
        )["Role"]
        codebuild = boto3.client("codebuild", **aws)
        project = "railyard-dev-builds"
        codebuild.create_project(
            name=project,
            source={"type": "S3", "location": "railyard-dev-sources/placeholder.zip"},
            artifacts={"type": "NO_ARTIFACTS"},
            environment={
                "type": "LINUX_CONTAINER",
                "image": "aws/codebuild/standard:7.0",
                "computeType": "BUILD_GENERAL1_SMALL",
            },
            serviceRole=role["Arn"],
        )
        app = write_app(tmp_path / "built-elsewhere", {"main.py": "print('hi')\n"})
        cb.cli("init", "--project", "elsewhere", "--name", "web", cwd=app)

        # WHEN `railyard up` starts a CodeBuild build and CodeBuild then reports it FAILED
        up = subprocess.Popen(
            [*RAILYARD, "up"],
            cwd=app,
            env=cb.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 30
            builds: list[str] = []
            while not builds and time.monotonic() < deadline and up.poll() is None:
                builds = codebuild.list_builds_for_project(projectName=project)["ids"]
                time.sleep(0.2)
            assert builds, "no CodeBuild build was started"
            (build,) = codebuild.batch_get_builds(ids=builds)["builds"]
            detail = {
                "build-status": "FAILED",
                "project-name": project,
                "build-id": build["arn"],
                "current-phase": "COMPLETED",
                "additional-information": {
                    "build-complete": True,
                    "phases": [
                        {
                            "phase-type": "BUILD",
                            "phase-status": "FAILED",
                            "phase-context": ["COMMAND_EXECUTION_ERROR: exit status 2"],
                        }
                    ],
                },
            }
            sent = boto3.client("events", **aws).put_events(
                Entries=[
                    {
                        "Source": "aws.codebuild",
                        "DetailType": "CodeBuild Build State Change",
                        "Detail": json.dumps(detail),
                        "Resources": [build["arn"]],
                    }
                ]
            )
            assert sent["FailedEntryCount"] == 0
            out, _ = up.communicate(timeout=30)
        finally:
            if up.poll() is None:
                up.kill()
                up.communicate()
        # THEN the build-events poller handed the event to functions/build_events and `up` ends
        # with CodeBuild's reason
        assert f"started CodeBuild build {build['id']}" in out
        assert up.returncode == 1, out
        assert f"CodeBuild build {build['id']} FAILED in phase BUILD" in out
        assert "COMMAND_EXECUTION_ERROR: exit status 2" in out
