"""End to end: deploys, redeploys, variables and failed builds through the `railyard` CLI and the
router, on one `railyard dev` subprocess (tests/e2e/conftest.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

from chalicelib.adapters.builds import toolchain_store
from tests.support.platform import RAILYARD, Dev

pytestmark = pytest.mark.e2e


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


def test_dev_demo_exit_deploys_the_sample_and_exits_zero(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RAILYARD_"))}
    env["RAILYARD_HOME"] = str(tmp_path)
    try:
        result = subprocess.run(
            [*RAILYARD, "dev", "--demo", "--exit", "--api-port", "0", "--router-port", "0"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:  # a clean stop keeps the toolchain store (toolchain_store.py): this test's home goes
        toolchain_store.remove_store((tmp_path / "data").resolve())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "✔ Deployed: http://hello-python-production-demo.localhost:" in result.stdout
    assert re.search(
        r"The dashboard shows it at http://127\.0\.0\.1:\d+/dashboard/signin/#token=ry_", result.stdout
    )
    assert not (tmp_path / "dev.json").exists()  # it cleaned up after itself
