"""Faults: the platform killed (SIGKILL) or stopped between a user's commands, then started again
on the same data directory (test_restart_mid_flight.py kills it in the middle of deployments).

One platform (and its RAILYARD_HOME) serves the module; the tests run in file order and each
restarts it. What a user must see after every restart: the same projects, services, variables,
deployments, logs and token; the live release answering again before the platform says it is
ready; no app process of the old run still alive. Figures (restart times, how long a killed
platform's processes outlived it) are printed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.support.faults import HELLO_V1, process_groups, running, wait_gone
from tests.support.platform import Dev, DevProcess

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]


def _stop_then_start(platform: DevProcess) -> tuple[Dev, float]:
    """SIGTERM (it must exit 0), then start again; the new handles and the start's seconds."""
    assert platform.stop() == 0, platform.output()
    started = time.monotonic()
    dev = platform.start()
    return dev, time.monotonic() - started


def test_a_killed_platform_leaves_no_process_and_comes_back_with_everything(
    platform: DevProcess, tmp_path: Path
) -> None:
    dev = running(platform)
    app = dev.app(tmp_path, "hello-python", "keep")
    dev.cli("up", cwd=app)
    dev.cli("variables", "set", "GREETING=still-here", cwd=app)
    dev.cli("up", cwd=app)  # built once with these variables: v3
    assert json.loads(dev.get("web-production-keep", "/env/GREETING")[1]) == {"GREETING": "still-here"}
    before = dev.cli("deployments", cwd=app).stdout
    groups = process_groups(dev)
    assert groups, "the app's process group was not recorded"

    platform.kill()
    outlived = wait_gone(groups)  # the reaper stops the app the moment the platform dies
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
    dev = running(platform)
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
    dev, seconds = _stop_then_start(platform)
    print(f"\nSIGTERM then start: {seconds:.1f}s")
    assert dev.get("web-production-clean") == (200, HELLO_V1)
    assert "SUCCESS" in dev.cli("status", cwd=app).stdout
    node = dev.app(tmp_path, "hello-node", "after")  # and the platform takes new work
    dev.cli("up", cwd=node)
    assert dev.get("web-production-after")[0] == 200
