"""LocalRuntime with deploy.cronSchedule: the start command runs on a schedule, as real processes.

The runtime gets a clock the test moves; `wake_scheduler()` makes the scheduler read it, so no test
waits for a wall-clock minute. Runs write lines to a file named by the variable OUT.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chalicelib.adapters.runtime.local import LocalRuntime
from chalicelib.domain.errors import NotFound
from chalicelib.domain.ports import ReleaseSpec
from tests.fakes import FakeBlobStore
from tests.support.local_runtime_app import (
    BUCKET,
    HOST,
    SERVICE,
    CrashRecorder,
    MemoryLog,
    alive,
    answer,
    eventually,
    never_cancelled,
    release,
    request,
    with_settings,
)

pytestmark = pytest.mark.timeout(30)
START = datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC)


class FakeClock:
    """A wall clock that moves only when the test says so; counts how often it was read."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.reads = 0
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            self.reads += 1
            return self.now

    def set(self, now: datetime) -> None:
        with self._lock:
            self.now = now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def runtime(
    tmp_path: Path, blobs: FakeBlobStore, crashes: CrashRecorder, clock: FakeClock
) -> Iterator[LocalRuntime]:
    rt = LocalRuntime(str(tmp_path / "data"), blobs, BUCKET, crashes, clock=clock)
    rt.start()
    try:
        yield rt
    finally:
        rt.close()


def cron_release(
    blobs: FakeBlobStore, release_id: str, out: Path, command: str, schedule: str = "* * * * *"
) -> ReleaseSpec:
    spec = release(blobs, release_id, start_command=command, OUT=str(out), GREETING="hello")
    return with_settings(spec, cron_schedule=schedule)


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def at(hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2026, 1, 1, hour, minute, second, tzinfo=UTC)


def test_a_cron_release_activates_without_a_process_health_check_or_route(
    runtime: LocalRuntime, blobs: FakeBlobStore, tmp_path: Path
) -> None:
    # GIVEN a cron release whose command does not serve HTTP at all
    out = tmp_path / "runs.txt"
    log = MemoryLog()

    # WHEN it is activated
    runtime.activate(cron_release(blobs, "rel_1", out, 'echo "$GREETING" >> "$OUT"'), log, never_cancelled)

    # THEN activation succeeded at once: the schedule is recorded, nothing ran, nothing is routed
    assert "cron: * * * * * (UTC), next run at 2026-01-01T00:01:00Z" in log.lines
    assert not any(line.startswith(("started release", "healthcheck")) for line in log.lines)
    assert runtime.next_cron_run(SERVICE) == at(0, 1)
    assert runtime.active_release(HOST) is None
    assert request(runtime)[0] == 404
    assert lines(out) == []


def test_run_now_runs_the_command_once_in_the_release_environment(
    runtime: LocalRuntime, blobs: FakeBlobStore, tmp_path: Path, crashes: CrashRecorder
) -> None:
    out = tmp_path / "runs.txt"
    log = MemoryLog()
    command = 'echo "$GREETING from $VERSION" >> "$OUT"; echo "job output"; exit 3'
    runtime.activate(cron_release(blobs, "rel_1", out, command), log, never_cancelled)

    assert runtime.run_now(SERVICE) is True

    eventually(lambda: "exited with code 3 after" in log.text())
    assert lines(out) == ["hello from rel_1"]
    assert "job output" in log.lines
    started = next(line for line in log.lines if line.startswith("cron: run started (run now; pid "))
    assert started.endswith(f"): $ {command}")
    assert crashes.calls == []  # a failing run is logged, never a crashed deployment
    with pytest.raises(NotFound):
        runtime.run_now("svc_unknown")


def test_the_scheduler_fires_when_the_injected_clock_reaches_the_next_run(
    runtime: LocalRuntime, blobs: FakeBlobStore, tmp_path: Path, clock: FakeClock
) -> None:
    # GIVEN a cron release due every minute, at 00:00:30
    out = tmp_path / "runs.txt"
    log = MemoryLog()
    runtime.activate(cron_release(blobs, "rel_1", out, 'echo ran >> "$OUT"'), log, never_cancelled)
    threading.Event().wait(0.3)
    assert clock.reads <= 3  # the scheduler sleeps until the next run; it does not poll the clock
    assert lines(out) == []

    # WHEN the clock reaches 00:01:00
    clock.set(at(0, 1))
    runtime.wake_scheduler()

    # THEN the command ran once and the next run is a minute later
    eventually(lambda: lines(out) == ["ran"])
    eventually(lambda: "cron: next run at 2026-01-01T00:02:00Z" in log.lines)
    assert runtime.next_cron_run(SERVICE) == at(0, 2)
    assert any(line.startswith("cron: run started (due at 2026-01-01T00:01:00Z; pid ") for line in log.lines)

    # WHEN the clock moves but no run is due yet, THEN nothing runs
    clock.set(at(0, 1, 45))
    runtime.wake_scheduler()
    threading.Event().wait(0.3)
    assert lines(out) == ["ran"]


def test_a_run_due_while_the_previous_one_still_runs_is_skipped(
    runtime: LocalRuntime, blobs: FakeBlobStore, tmp_path: Path, clock: FakeClock
) -> None:
    # GIVEN a run in progress (it writes its pid and then takes 30 s)
    out = tmp_path / "runs.txt"
    log = MemoryLog()
    runtime.activate(
        cron_release(blobs, "rel_1", out, 'echo $$ >> "$OUT"; exec sleep 30'), log, never_cancelled
    )
    assert runtime.run_now(SERVICE) is True
    eventually(lambda: len(lines(out)) == 1)

    # WHEN the next run falls due, and "Run now" is pressed
    clock.set(at(0, 1))
    runtime.wake_scheduler()
    eventually(lambda: "skipped" in log.text())
    pressed = runtime.run_now(SERVICE)

    # THEN both are skipped with a reason, and only the first run ever started
    pid = lines(out)[0]
    assert (
        f"cron: run (due at 2026-01-01T00:01:00Z) skipped: the previous run (pid {pid}, "
        "started 2026-01-01T00:00:30Z) is still running"
    ) in log.lines
    assert pressed is False
    assert "cron: run (run now) skipped" in log.text()
    assert len(lines(out)) == 1
    eventually(lambda: runtime.next_cron_run(SERVICE) == at(0, 2))

    # WHEN the service is stopped, THEN the run in progress is stopped too
    runtime.stop(SERVICE)
    assert not alive(int(pid))
    assert f"cron: stopping the run in progress (pid {pid}): SIGTERM; draining up to 1s" in log.lines


def test_close_stops_the_scheduler_and_the_running_job(
    tmp_path: Path, blobs: FakeBlobStore, crashes: CrashRecorder, clock: FakeClock
) -> None:
    # GIVEN a run in progress that also put a helper in the background
    rt = LocalRuntime(str(tmp_path / "data"), blobs, BUCKET, crashes, clock=clock)
    rt.start()
    out = tmp_path / "runs.txt"
    try:
        command = 'sleep 30 & echo $! >> "$OUT"; echo $$ >> "$OUT"; wait'
        rt.activate(cron_release(blobs, "rel_1", out, command), MemoryLog(), never_cancelled)
        rt.run_now(SERVICE)
        eventually(lambda: len(lines(out)) == 2)
        pids = [int(pid) for pid in lines(out)]
        assert all(alive(pid) for pid in pids)
        assert any(t.name == "railyard-cron" for t in threading.enumerate())
    finally:
        # WHEN the runtime closes
        rt.close()

    # THEN the run, its helper and the scheduler thread are gone
    assert [pid for pid in pids if alive(pid)] == []
    assert not any(t.name == "railyard-cron" for t in threading.enumerate())


def test_a_redeploy_replaces_the_schedule_and_stop_removes_it(
    runtime: LocalRuntime, blobs: FakeBlobStore, tmp_path: Path, clock: FakeClock
) -> None:
    out = tmp_path / "runs.txt"
    runtime.activate(
        cron_release(blobs, "rel_1", out, 'echo "$VERSION" >> "$OUT"'), MemoryLog(), never_cancelled
    )
    log = MemoryLog()

    # WHEN rel_2 arrives with an hourly schedule
    hourly = cron_release(blobs, "rel_2", out, 'echo "$VERSION" >> "$OUT"', schedule="0 * * * *")
    runtime.activate(hourly, log, never_cancelled)

    # THEN only rel_2's schedule runs, at the top of the hour
    assert "cron: replaces the schedule of release rel_1" in log.lines
    assert runtime.next_cron_run(SERVICE) == at(1, 0)
    clock.set(at(0, 1))
    runtime.wake_scheduler()
    clock.set(at(1, 0))
    runtime.wake_scheduler()
    eventually(lambda: lines(out) == ["rel_2"])

    # WHEN the service is stopped, THEN there is no schedule left to run
    runtime.stop(SERVICE)
    assert runtime.next_cron_run(SERVICE) is None
    assert "cron: schedule 0 * * * * removed; no more runs" in log.lines
    with pytest.raises(NotFound):
        runtime.run_now(SERVICE)


def test_a_web_service_that_becomes_a_cron_service_loses_its_route(
    runtime: LocalRuntime, blobs: FakeBlobStore, tmp_path: Path
) -> None:
    # GIVEN a web release serving
    runtime.activate(release(blobs, "rel_1"), MemoryLog(), never_cancelled)
    web_pid = answer(runtime)["pid"]
    log = MemoryLog()

    # WHEN the service gets a cron schedule
    runtime.activate(cron_release(blobs, "rel_2", tmp_path / "runs.txt", "true"), log, never_cancelled)

    # THEN its hostname is no longer routed and the web process stops after the overlap
    assert request(runtime)[0] == 404
    assert f"route for {HOST} removed: a cron service serves no traffic" in log.lines
    eventually(lambda: not alive(web_pid))
    assert runtime.next_cron_run(SERVICE) == at(0, 1)
