"""`railyard up`: the upload, following the build and deploy logs, the router check, and how it
ends (failed, cron, detached, Ctrl-C), against the fake Railyard API of tests/support/fake_cli_api.py
over real HTTP on 127.0.0.1."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from railyard.commands import following
from tests.support.cli_runs import (
    APP_FILES,
    EXPECTED_PACKED,
    logged_in_app,
    run,
)
from tests.support.fake_cli_api import BUILD_LINES, DEPLOY_LINES, FakeState

pytestmark = pytest.mark.usefixtures("isolated_cli")


def test_up_uploads_the_source_follows_logs_and_checks_the_router(
    fake_api: FakeState, tmp_path: Path
) -> None:
    app_dir, service = logged_in_app(fake_api, tmp_path, APP_FILES)

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
    app_dir, _ = logged_in_app(fake_api, tmp_path, {"app.py": "x\n"})
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
    app_dir, _ = logged_in_app(fake_api, tmp_path, {"app.py": "x\n"})
    fake_api.next_cron_schedule = "*/5 * * * *"

    result = run("up", "--dir", str(app_dir))

    assert result.exit_code == 0, result.output
    assert "Scheduled: `*/5 * * * *` (UTC)" in result.output
    assert "Deployed:" not in result.output
    assert fake_api.router_hosts == []  # a cron service has no route: nothing to probe


def test_up_exits_1_when_the_router_does_not_answer(
    fake_api: FakeState, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app_dir, _ = logged_in_app(fake_api, tmp_path, {"app.py": "x\n"})
    fake_api.router_status = 502
    monkeypatch.setattr(following, "ROUTER_CHECK_SECONDS", 0.3)

    result = run("up", "--dir", str(app_dir))

    assert result.exit_code == 1
    assert "did not answer" in result.output
    assert "HTTP 502" in result.output


def test_ctrl_c_while_following_stops_watching_but_not_the_deployment(
    fake_api: FakeState, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app_dir, _ = logged_in_app(fake_api, tmp_path, {"app.py": "x\n"})

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(following, "sleep", interrupted)
    result = run("up", "--dir", str(app_dir))

    assert result.exit_code == 130
    assert "continues" in result.output
    assert not any(path.endswith("/cancel") for _, path in fake_api.requests)


def test_up_detach_returns_after_creating_the_deployment(fake_api: FakeState, tmp_path: Path) -> None:
    app_dir, _ = logged_in_app(fake_api, tmp_path, {"app.py": "x\n"})

    result = run("up", "--detach", "--dir", str(app_dir))

    assert result.exit_code == 0, result.output
    assert "dep-0001" in result.output
    assert not any(path.startswith("/v1/deployments/") for _, path in fake_api.requests)


def test_following_never_repeats_lines_even_if_the_server_ignores_after(
    fake_api: FakeState, tmp_path: Path
) -> None:
    app_dir, _ = logged_in_app(fake_api, tmp_path, {"app.py": "x\n"})
    fake_api.logs_ignore_after = True

    result = run("up", "--dir", str(app_dir))

    assert result.exit_code == 0, result.output
    assert all(result.output.count(line) == 1 for line in [*BUILD_LINES, *DEPLOY_LINES])
