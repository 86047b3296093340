"""`railyard status`, `railyard logs` and `railyard deployments`: what a service runs, and which
deployment's logs are read (against the fake Railyard API of tests/support/fake_cli_api.py, over real
HTTP on 127.0.0.1)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.cli_runs import logged_in_app, run
from tests.support.fake_cli_api import BUILD_LINES, DEPLOY_LINES, FakeState

pytestmark = pytest.mark.usefixtures("isolated_cli")


def test_status_logs_and_deployments_read_the_latest_deployment(fake_api: FakeState, tmp_path: Path) -> None:
    app_dir, service = logged_in_app(fake_api, tmp_path)
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
    app_dir, service = logged_in_app(fake_api, tmp_path)
    live = fake_api.add_live_deployment(service)
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
    app_dir, service = logged_in_app(fake_api, tmp_path)
    fake_api.next_cron_schedule = "0 3 * * 1"
    fake_api.add_live_deployment(service)
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
    app_dir, service = logged_in_app(fake_api, tmp_path)
    fake_api.next_statuses = ["BUILDING"]
    fake_api.next_cron_schedule = "*/10 * * * *"
    fake_api.add_deployment(service["id"], "source")

    result = run("status", "--dir", str(app_dir))

    assert result.exit_code == 0, result.output
    assert "Schedule: `*/10 * * * *`" in result.output
    assert "Active:   - (nothing deployed yet)" in result.output
