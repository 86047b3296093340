"""End to end: environments through the `railyard` CLI on the local platform (ADR 0036): a copy of
production, `use` re-points the directory so `up` deploys staging, promotion runs staging's build in
production with production's variables, deleting staging stops its app and keeps what production
runs, and production cannot be deleted."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.platform import RAILYARD, Dev

# What the sample answers once its VERSION file says 2.
VERSION_2 = (200, "Hello from Railyard! (python, version 2)\n")

pytestmark = pytest.mark.e2e


def _wait_live(dev: Dev, service_id: str, deployment_id: str, timeout: float = 120) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        deployment = dev.api("GET", f"/v1/deployments/{deployment_id}")["deployment"]
        if deployment["status"] not in ("QUEUED", "BUILDING", "DEPLOYING"):
            return deployment  # type: ignore[no-any-return]
        time.sleep(0.5)
    raise AssertionError(f"deployment {deployment_id} of {service_id} did not end in {timeout}s")


def _delete_typing(dev: Dev, app: Path, name: str, typed: str) -> subprocess.CompletedProcess[str]:
    """`railyard environment delete NAME`, answering its prompt with `typed`."""
    return subprocess.run(
        [*RAILYARD, "environment", "delete", name],
        cwd=app,
        env=dev.env(),
        input=f"{typed}\n",
        capture_output=True,
        text=True,
        timeout=120,
    )


def _env_var(dev: Dev, hostname: str, name: str) -> str | None:
    status, body = dev.get(hostname, f"/env/{name}")
    assert status == 200, body
    return json.loads(body)[name]  # type: ignore[no-any-return]


def test_copy_use_up_promote_and_delete_an_environment(dev: Dev, tmp_path: Path) -> None:
    app = dev.app(tmp_path, "hello-python", "envs")
    dev.cli("variables", "set", "MODE=production", cwd=app)
    dev.cli("up", cwd=app)
    production_link = dev.link(app)
    assert dev.get("web-production-envs") == (200, "Hello from Railyard! (python, version 1)\n")

    made = dev.cli("environment", "new", "staging", "--copy", "production", cwd=app).stdout
    assert "Created environment staging as a copy of production" in made and "web" in made
    listed = dev.cli("environment", "list", cwd=app).stdout
    assert "* production" in listed and "  staging" in listed

    dev.cli("environment", "use", "staging", cwd=app)
    assert dev.link(app)["environment"] == "staging"
    assert "* staging" in dev.cli("environment", "list", cwd=app).stdout
    (app / "VERSION").write_text("2\n")
    dev.cli("up", cwd=app)  # deploys the staging service, not production's
    assert dev.get_once_routed("web-staging-envs", VERSION_2) == VERSION_2
    assert _env_var(dev, "web-staging-envs", "MODE") == "production"  # the copied variable
    assert dev.get("web-production-envs")[1] == "Hello from Railyard! (python, version 1)\n"
    dev.cli("variables", "set", "MODE=staging", cwd=app)
    assert _env_var(dev, "web-staging-envs", "MODE") == "staging"

    promoted = dev.cli("environment", "promote", "--from", "staging", "--to", "production", cwd=app).stdout
    assert "staging → production" in promoted and "variables and settings apply" in promoted
    [latest] = dev.api("GET", f"/v1/services/{production_link['serviceId']}/deployments?limit=1")[
        "deployments"
    ]
    assert latest["kind"] == "promotion"
    ended = _wait_live(dev, production_link["serviceId"], latest["id"])
    assert ended["status"] == "SUCCESS", ended
    assert dev.get_once_routed("web-production-envs", VERSION_2) == VERSION_2
    assert _env_var(dev, "web-production-envs", "MODE") == "production"  # the target's own

    refused = dev.cli("environment", "delete", "production", "--yes", cwd=app, check=False)
    assert refused.returncode == 1 and "ProductionEnvironment" in refused.stderr
    mistyped = _delete_typing(dev, app, "staging", typed="stagign")
    assert mistyped.returncode == 1 and "not deleted" in mistyped.stderr
    assert dev.get("web-staging-envs")[0] == 200
    deleted = _delete_typing(dev, app, "staging", typed="staging")
    assert deleted.returncode == 0, deleted.stderr
    assert "Deleted environment staging" in deleted.stdout
    assert dev.get("web-staging-envs")[0] != 200  # its app is stopped
    # Production runs the artifact staging built: it is kept, and production keeps serving.
    assert dev.get("web-production-envs") == (200, "Hello from Railyard! (python, version 2)\n")
    assert dev.link(app)["environment"] == "production"  # the directory was using staging
    assert "staging" not in dev.cli("environment", "list", cwd=app).stdout
    dev.cli("redeploy", cwd=app)  # the kept artifact still deploys
    assert dev.get("web-production-envs")[1] == "Hello from Railyard! (python, version 2)\n"


def test_service_settings_shows_and_sets_through_flags_from_the_settings_table(
    dev: Dev, tmp_path: Path
) -> None:
    app = dev.app(tmp_path, "hello-python", "knobs")
    shown = dev.cli("service", "settings", cwd=app).stdout
    assert "Settings of knobs/production/web" in shown and "replicas" in shown and "healthcheck-path" in shown
    out = dev.cli(
        "service",
        "settings",
        "--replicas",
        "2",
        "--healthcheck-path",
        "/healthz",
        "--start-command",
        "python main.py",
        cwd=app,
    ).stdout
    assert "numReplicas=2" in out and "Applied by the next deployment" in out
    settings = dev.api("GET", f"/v1/services/{dev.link(app)['serviceId']}")["service"]["settings"]
    assert (settings["numReplicas"], settings["healthcheckPath"], settings["startCommand"]) == (
        2,
        "/healthz",
        "python main.py",
    )
    dev.cli("service", "settings", "--healthcheck-path", "", cwd=app)  # "" unsets a clearable one
    assert (
        dev.api("GET", f"/v1/services/{dev.link(app)['serviceId']}")["service"]["settings"]["healthcheckPath"]
        is None
    )
    bad = dev.cli("service", "settings", "--replicas", "0", cwd=app, check=False)
    assert bad.returncode == 1 and "numReplicas" in bad.stderr
