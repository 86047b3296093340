"""Faults: the platform killed (SIGKILL) in the middle of a user's deployments, then started again
on the same data directory (test_restart.py covers kills and stops between commands).

One platform (and its RAILYARD_HOME) serves the module; the tests run in file order and each
restarts it. A deployment that was in flight ends FAILED "interrupted by a platform restart" within
the restart, the previous releases serve, and no app or build process of the old run is left, even
when the reaper that stops them was killed first. Last, `railyard dev --fresh` starts empty (it runs
here rather than in test_restart.py to even out the two modules' times).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.faults import HELLO_V1, group_alive, process_groups, running, wait_gone, wait_status
from tests.support.platform import Dev, DevProcess

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]
INTERRUPTED = "interrupted by a platform restart"


def _wait_status(dev: Dev, deployment_id: str, wanted: set[str], bound: float = 60.0) -> dict[str, Any]:
    deployment = wait_status(dev, deployment_id, wanted, bound)
    assert deployment["status"] in wanted, f"{deployment_id} is {deployment['status']} after {bound}s"
    return deployment


def _deploy_detached(dev: Dev, app: Path) -> str:
    out = dev.cli("up", "--detach", cwd=app).stdout
    link = dev.link(app)
    deployments = dev.api("GET", f"/v1/services/{link['serviceId']}/deployments")["deployments"]
    assert deployments, out
    return str(deployments[0]["id"])


def test_killed_mid_build_and_mid_rollout_both_end_failed_and_the_previous_releases_serve(
    platform: DevProcess, tmp_path: Path
) -> None:
    dev = running(platform)
    building = dev.app(tmp_path, "hello-python", "midbuild")
    rolling = dev.app(tmp_path, "hello-python", "midroll")
    for app in (building, rolling):
        dev.cli("up", cwd=app)
        (app / "VERSION").write_text("2\n")
    (building / "railway.json").write_text(json.dumps({"build": {"buildCommand": "sleep 300"}}))
    slow_start = {"deploy": {"startCommand": "sleep 300; python main.py", "healthcheckTimeout": 600}}
    (rolling / "railway.json").write_text(json.dumps(slow_start))
    in_build = _deploy_detached(dev, building)
    in_rollout = _deploy_detached(dev, rolling)
    _wait_status(dev, in_rollout, {"DEPLOYING"}, bound=90)
    _wait_status(dev, in_build, {"BUILDING"})
    dev.wait_for_log(in_build, "$ sleep 300", within=30, stream="build")  # the API, not a `railyard` a poll
    build_log = dev.cli("logs", "--build", "--deployment", in_build, cwd=building).stdout
    assert "$ sleep 300" in build_log, "the build command never started"
    time.sleep(0.5)  # the new release's process is starting
    groups = process_groups(dev)  # both live apps, the build command, the release that is starting

    platform.kill()
    outlived = wait_gone(groups)
    started = time.monotonic()
    dev = platform.start()
    restart = time.monotonic() - started
    print(f"\nkilled mid-build and mid-rollout: processes outlived the platform by {outlived:.2f}s")
    for app, deployment_id in ((building, in_build), (rolling, in_rollout)):
        # Ended within the restart itself: before the platform said it was ready.
        ended = _wait_status(dev, deployment_id, {"FAILED"}, bound=0)
        assert ended["reason"] == INTERRUPTED
        assert INTERRUPTED in dev.cli("logs", "--deployment", deployment_id, cwd=app).stdout
        service = dev.api("GET", f"/v1/services/{dev.link(app)['serviceId']}")["service"]
        assert service["activeDeploymentId"] != deployment_id
    assert dev.get("web-production-midbuild") == (200, HELLO_V1)  # the previous releases serve
    assert dev.get("web-production-midroll") == (200, HELLO_V1)
    print(f"restart with two interrupted deployments: {restart:.1f}s to ready")


def test_a_killed_reaper_too_the_next_start_stops_what_was_left(platform: DevProcess, tmp_path: Path) -> None:
    dev = running(platform)
    dev.cli("up", cwd=dev.app(tmp_path, "hello-python", "orphans"))
    groups = process_groups(dev)
    assert groups
    reaper = _child_pid(platform, "railyard.localdev.reaper")
    os.kill(reaper, 9)  # first the reaper, then the platform: nobody stops the apps now
    platform.kill()
    time.sleep(0.5)
    assert any(group_alive(pgid) for pgid in groups)  # the apps outlived both
    dev = platform.start()
    assert "processes left by the previous run" in platform.output()
    wait_gone(groups, bound=1)
    assert dev.get("web-production-orphans") == (200, HELLO_V1)  # and the live releases came back


def test_fresh_starts_empty(platform: DevProcess, tmp_path: Path) -> None:
    dev = running(platform)
    dev.cli("up", cwd=dev.app(tmp_path, "hello-python", "forgotten"))
    platform.stop()
    dev = platform.start("--fresh")
    assert dev.api("GET", "/v1/projects")["projects"] == []
    assert dev.get("web-production-forgotten")[0] == 404


def _child_pid(platform: DevProcess, module: str) -> int:
    assert platform.proc is not None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == platform.proc.pid and module in cmdline:
            return int(entry.name)
    raise AssertionError(f"no child running {module}")
