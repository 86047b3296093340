"""LocalBuildRunner's build slots: builds beyond MAX_CONCURRENT_BUILDS wait in the runner and keep
their step's heartbeat going, instead of waiting unseen in the queue until their Build step times
out (the workflow counts the heartbeat limit from when the step's message was sent)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from chalicelib.adapters.builds.local import LocalBuildRunner
from chalicelib.domain.buildplan import BuildPlan, SourceTree
from chalicelib.domain.models import ServiceSettings
from chalicelib.domain.ports import BuildRequest
from tests.fakes import FakeBlobStore, FakeLog
from tests.support.tarballs import pack


def _source(blobs: FakeBlobStore, key: str, marker: str) -> str:
    blobs.put_bytes("sources", key, pack({"main.py": f"print('{marker}')\n"}))
    return key


def _slow_plan(tree: SourceTree, override: str | None) -> BuildPlan:
    return BuildPlan("command", (), ("sleep 1.5",), "true", {}, ())


def test_a_build_beyond_the_slots_waits_beating_and_runs_once_a_slot_frees(tmp_path: Path) -> None:
    blobs = FakeBlobStore()
    runner = LocalBuildRunner(
        str(tmp_path),
        blobs,
        "sources",
        "artifacts",
        planner=_slow_plan,
        progress_interval=0.1,
        max_concurrent_builds=1,
    )
    finished: dict[str, float] = {}
    beats: dict[str, int] = {"first": 0, "second": 0}
    logs = {"first": FakeLog(), "second": FakeLog()}

    def build(name: str) -> None:
        def beat() -> None:
            beats[name] += 1

        request = BuildRequest(
            deployment_id=f"dep_{name}",
            service_id="svc_1",
            source_key=_source(blobs, f"src/{name}.tar.gz", name),
            settings=ServiceSettings(),
        )
        runner.build(request, logs[name], beat)
        finished[name] = time.monotonic()

    first = threading.Thread(target=build, args=("first",))
    first.start()
    time.sleep(0.3)  # the first build holds the only slot
    started = time.monotonic()
    build("second")
    first.join(timeout=30)

    assert "build: waiting for a free build slot (other builds are running)" in logs["second"].lines
    assert finished["second"] - started >= 1.5  # it waited for the first, then ran its own 1.5 s
    assert finished["first"] <= finished["second"]
    assert beats["second"] >= 5  # the waiting step kept its heartbeat going
    assert "build: waiting for a free build slot (other builds are running)" not in logs["first"].lines
