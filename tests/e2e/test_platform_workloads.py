"""End to end: services that are not web servers (a bot, a queue worker, a job) and a web service
without a health-check path, deployed with `railyard up` on one `railyard dev` subprocess, as a
user sees them: `up`'s verdict, `status`, the API's views, the logs and the router.
Semantics: README "Web services, workers and jobs", chalicelib/domain/workloads.py."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.platform import Dev, running_dev

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "workloads"
SETTLE_SECONDS = 3  # shorter than the default, so the workers here go live sooner


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    extra = {"RAILYARD_WORKER_SETTLE_SECONDS": str(SETTLE_SECONDS)}
    with running_dev(tmp_path_factory.mktemp("railyard-home"), extra_env=extra) as platform:
        yield platform


def init(dev: Dev, tmp_path: Path, fixture: str, project: str) -> Path:
    app = tmp_path / project
    shutil.copytree(FIXTURES / fixture, app)
    dev.cli("init", "--project", project, "--name", "svc", cwd=app)
    return app


def swap(app: Path, fixture: str) -> None:
    """The same service, another app: its next `up` deploys this code."""
    shutil.copy(FIXTURES / fixture / "main.py", app / "main.py")


def service(dev: Dev, app: Path) -> dict[str, Any]:
    return dev.api("GET", f"/v1/services/{dev.link(app)['serviceId']}")["service"]  # type: ignore[no-any-return]


def deployments(dev: Dev, app: Path) -> list[dict[str, Any]]:
    path = f"/v1/services/{dev.link(app)['serviceId']}/deployments"
    return dev.api("GET", path)["deployments"]  # type: ignore[no-any-return]


def test_a_bot_that_opens_no_port_is_a_live_worker_without_a_url(dev: Dev, tmp_path: Path) -> None:
    app = init(dev, tmp_path, "bot", "bot")
    up = dev.cli("up", cwd=app)
    assert "Running as a worker: it opened no port, so it has no URL" in up.stdout
    latest = deployments(dev, app)[0]
    assert (latest["status"], latest["workload"], latest["url"]) == ("SUCCESS", "worker", None)
    assert (service(dev, app)["workload"], service(dev, app)["url"]) == ("worker", None)
    status = dev.cli("status", cwd=app).stdout
    assert "URL:      - (a worker: it serves no HTTP)" in status and "SUCCESS" in status
    logs = dev.cli("logs", cwd=app).stdout
    assert "bot: logged in as railyard-bot#0001" in logs and "bot: heartbeat 1" in logs
    assert f"stays up {SETTLE_SECONDS}s without (a worker)" in logs
    code, body = dev.get("svc-production-bot")
    assert code == 404 and "is a worker (it opened no port): it serves no HTTP" in body


def test_a_queue_worker_keeps_consuming_after_it_went_live(dev: Dev, tmp_path: Path) -> None:
    app = init(dev, tmp_path, "queue-worker", "queue")
    dev.cli("up", cwd=app)
    assert deployments(dev, app)[0]["workload"] == "worker"
    dev.wait_for_log(deployments(dev, app)[0]["id"], "worker: processed job 20", within=20)
    logs = dev.cli("logs", cwd=app).stdout
    assert "worker: processed job 20" in logs, logs
    assert deployments(dev, app)[0]["status"] == "SUCCESS"  # still running: never restarted or crashed


def test_a_web_app_without_a_healthcheck_path_gets_its_url(dev: Dev, tmp_path: Path) -> None:
    app = init(dev, tmp_path, "web", "plainweb")
    up = dev.cli("up", cwd=app)
    assert "Deployed: http://svc-production-plainweb.localhost" in up.stdout
    assert dev.get("svc-production-plainweb") == (200, "hello from web")
    latest = deployments(dev, app)[0]
    assert latest["workload"] == "web" and latest["url"].startswith("http://svc-production-plainweb.")
    assert "accepting connections on $PORT" in dev.cli("logs", cwd=app).stdout


def test_a_job_completes_replaces_the_web_release_and_keeps_its_logs(dev: Dev, tmp_path: Path) -> None:
    # GIVEN a live web service
    app = init(dev, tmp_path, "web", "nightly")
    dev.cli("up", cwd=app)
    web_id = deployments(dev, app)[0]["id"]
    # WHEN its next release is a script that prints and exits 0
    swap(app, "job")
    up = dev.cli("up", cwd=app)
    # THEN `up` reports it completed, it is the active deployment (as on Railway) and the web one
    # was replaced; its output stays readable and the host says why nothing answers there
    assert "Completed: the job ran to completion (exit code 0)" in up.stdout
    job, web = deployments(dev, app)[:2]
    assert (job["status"], job["workload"], job["url"]) == ("COMPLETED", "job", None)
    assert (web["id"], web["status"]) == (web_id, "REMOVED")
    assert service(dev, app)["activeDeploymentId"] == job["id"]
    logs = dev.cli("logs", cwd=app).stdout
    assert "job: processed 3 records" in logs and "completed: the process exited with code 0" in logs
    status = dev.cli("status", cwd=app).stdout
    assert "COMPLETED" in status and "URL:      - (a job: it serves no HTTP)" in status
    deadline = time.monotonic() + 15  # the web release drains (overlap + draining) in the background
    while (answer := dev.get("svc-production-nightly"))[0] != 404:
        assert time.monotonic() < deadline, answer
        time.sleep(0.3)
    assert "is a job (it ran to completion)" in answer[1]


def test_a_job_that_exits_non_zero_fails_naming_the_code_and_the_web_release_keeps_serving(
    dev: Dev, tmp_path: Path
) -> None:
    app = init(dev, tmp_path, "web", "brokenjob")
    dev.cli("up", cwd=app)
    dev.cli("variables", "set", "EXIT_CODE=3", cwd=app)  # a variable change redeploys the web release
    swap(app, "job")
    up = dev.cli("up", cwd=app, check=False)
    assert up.returncode == 1 and "FAILED" in up.stdout and "exited with code 3" in up.stdout
    assert dev.get("svc-production-brokenjob") == (200, "hello from web")
    assert "job: processed 3 records" in dev.cli("logs", cwd=app).stdout
