"""Faults: the platform killed (SIGKILL) or stopped in the middle of a user's session, then started
again on the same data directory.

One platform (and its RAILYARD_HOME) serves the module; the tests run in file order and each
restarts it. What a user must see after every restart: the same projects, services, variables,
deployments, logs and token; the live release answering again before the platform says it is
ready; a deployment that was in flight ended FAILED "interrupted by a platform restart" within the
restart; no app or build process of the old run still alive. Figures (restart times, how long a
killed platform's processes outlived it) are printed.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.faults import wait_status
from tests.support.platform import Dev, DevProcess

pytestmark = [pytest.mark.faults, pytest.mark.timeout(420)]
INTERRUPTED = "interrupted by a platform restart"
HELLO_V1 = "Hello from Railyard! (python, version 1)\n"


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevProcess]:
    process = DevProcess(tmp_path_factory.mktemp("railyard-home"))
    process.start()
    try:
        yield process
    finally:
        process.stop()


def _groups(dev: Dev) -> set[int]:
    """The process groups (apps, builds) the platform recorded as running."""
    directory = dev.data_dir / "run" / "groups"
    return {int(entry.name) for entry in directory.iterdir() if entry.name.isdigit()}


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_gone(groups: set[int], bound: float = 10.0) -> float:
    """Seconds until none of `groups` has a process left; fails past `bound`."""
    started = time.monotonic()
    while any(_alive(pgid) for pgid in groups):
        assert time.monotonic() - started < bound, f"still alive after {bound}s: {groups}"
        time.sleep(0.05)
    return time.monotonic() - started


def _wait_status(dev: Dev, deployment_id: str, wanted: set[str], bound: float = 60.0) -> dict[str, Any]:
    deployment = wait_status(dev, deployment_id, wanted, bound)
    assert deployment["status"] in wanted, f"{deployment_id} is {deployment['status']} after {bound}s"
    return deployment


def _running(platform: DevProcess) -> Dev:
    assert platform.dev is not None and platform.proc is not None and platform.proc.poll() is None
    return platform.dev


def _restart(platform: DevProcess, how: str) -> tuple[Dev, float]:
    if how == "kill":
        platform.kill()
    elif platform.proc is not None and platform.proc.poll() is None:
        assert platform.stop() == 0, platform.output()
    started = time.monotonic()
    dev = platform.start()
    return dev, time.monotonic() - started


def _deploy_detached(dev: Dev, app: Path) -> str:
    out = dev.cli("up", "--detach", cwd=app).stdout
    link = dev.link(app)
    deployments = dev.api("GET", f"/v1/services/{link['serviceId']}/deployments")["deployments"]
    assert deployments, out
    return str(deployments[0]["id"])


def test_a_killed_platform_leaves_no_process_and_comes_back_with_everything(
    platform: DevProcess, tmp_path: Path
) -> None:
    dev = _running(platform)
    app = dev.app(tmp_path, "hello-python", "keep")
    dev.cli("up", cwd=app)
    dev.cli("variables", "set", "GREETING=still-here", cwd=app)
    dev.cli("up", cwd=app)  # built once with these variables: v3
    assert json.loads(dev.get("web-production-keep", "/env/GREETING")[1]) == {"GREETING": "still-here"}
    before = dev.cli("deployments", cwd=app).stdout
    groups = _groups(dev)
    assert groups, "the app's process group was not recorded"

    platform.kill()
    outlived = _wait_gone(groups)  # the reaper stops the app the moment the platform dies
    started = time.monotonic()
    dev = platform.start()
    restart = time.monotonic() - started
    print(f"\nSIGKILL: app processes outlived the platform by {outlived:.2f}s; restart took {restart:.1f}s")

    # Ready means live: the router serves the release as soon as the platform says it started.
    assert dev.get("web-production-keep") == (200, HELLO_V1)
    assert json.loads(dev.get("web-production-keep", "/env/GREETING")[1]) == {"GREETING": "still-here"}
    assert dev.cli("deployments", cwd=app).stdout == before
    assert "GREETING" in dev.cli("variables", cwd=app).stdout
    assert "deploy: v3 is live" in dev.cli("logs", cwd=app).stdout  # logs survived too
    assert "platform restarted: bringing release v3 back up" in dev.cli("logs", cwd=app).stdout
    # The same bytes and variables again: the build record and the artifact survived.
    again = dev.cli("up", cwd=app).stdout
    assert "build: skipped: this exact source was built before" in again
    assert dev.get("web-production-keep") == (200, HELLO_V1)


def test_a_clean_stop_then_start_is_a_non_event(platform: DevProcess, tmp_path: Path) -> None:
    dev = _running(platform)
    app = dev.app(tmp_path, "hello-python", "clean")
    dev.cli("up", cwd=app)
    # The terminal shows the platform's events, not its requests (those go to the log file).
    deadline = time.monotonic() + 15
    while "web-production-clean: deployment dep_" not in platform.output():
        assert time.monotonic() < deadline, platform.output()
        time.sleep(0.2)
    assert "→ SUCCESS" in platform.output()
    assert "GET /v1/" not in platform.output()
    assert "GET /v1/" in (dev.data_dir / "logs" / "railyard.log").read_text()
    dev, seconds = _restart(platform, "stop")
    print(f"\nSIGTERM then start: {seconds:.1f}s")
    assert dev.get("web-production-clean") == (200, HELLO_V1)
    assert "SUCCESS" in dev.cli("status", cwd=app).stdout
    node = dev.app(tmp_path, "hello-node", "after")  # and the platform takes new work
    dev.cli("up", cwd=node)
    assert dev.get("web-production-after")[0] == 200


def test_killed_mid_build_and_mid_rollout_both_end_failed_and_the_previous_releases_serve(
    platform: DevProcess, tmp_path: Path
) -> None:
    dev = _running(platform)
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
    deadline = time.monotonic() + 30
    while "$ sleep 300" not in dev.cli("logs", "--build", "--deployment", in_build, cwd=building).stdout:
        assert time.monotonic() < deadline, "the build command never started"
        time.sleep(0.2)
    time.sleep(0.5)  # the new release's process is starting
    groups = _groups(dev)  # both live apps, the build command, the release that is starting

    platform.kill()
    outlived = _wait_gone(groups)
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
    dev = _running(platform)
    dev.cli("up", cwd=dev.app(tmp_path, "hello-python", "orphans"))
    groups = _groups(dev)
    assert groups
    reaper = _child_pid(platform, "railyard.localdev.reaper")
    os.kill(reaper, 9)  # first the reaper, then the platform: nobody stops the apps now
    platform.kill()
    time.sleep(0.5)
    assert any(_alive(pgid) for pgid in groups)  # the apps outlived both
    dev = platform.start()
    assert "processes left by the previous run" in platform.output()
    _wait_gone(groups, bound=1)
    assert dev.get("web-production-orphans") == (200, HELLO_V1)  # and the live releases came back


def test_fresh_starts_empty(platform: DevProcess, tmp_path: Path) -> None:
    dev = _running(platform)
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
