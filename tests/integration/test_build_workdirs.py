"""Work directories of local builds left by builds that died: removed when a runner starts and
before each build, while a running build's directory (in another process, or this one) stays.

Builds are played by real processes that own a directory exactly as LocalBuildRunner.build does
(WorkDirs.own) and are then killed with SIGKILL or left running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib.adapters.builds.local import LocalBuildRunner
from chalicelib.adapters.builds.workdirs import WorkDirs
from tests.fakes import FakeBlobStore

pytestmark = pytest.mark.timeout(30)

BUILD = textwrap.dedent(
    """
    import os, sys
    from chalicelib.adapters.builds.workdirs import WorkDirs

    dirs = WorkDirs(sys.argv[1])
    dirs.own(sys.argv[2], waiting=lambda: None)
    os.makedirs(os.path.join(dirs.path(sys.argv[2]), "src", "node_modules"))
    with open(os.path.join(dirs.path(sys.argv[2]), "src", "node_modules", "big.bin"), "wb") as f:
        f.write(b"x" * 100_000)
    print("building", flush=True)
    sys.stdin.read()  # until the test closes stdin or kills us
    """
)


@pytest.fixture
def builds(tmp_path: Path) -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def start_build(builds: list[subprocess.Popen[str]], root: Path, deployment_id: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", BUILD, str(root), deployment_id],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    builds.append(proc)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "building"
    return proc


def test_a_runner_starting_removes_what_a_killed_build_left_and_keeps_a_running_one(
    tmp_path: Path, builds: list[subprocess.Popen[str]]
) -> None:
    data_dir = tmp_path / "data"
    root = data_dir / "builds"
    killed = start_build(builds, root, "dep_killed")
    start_build(builds, root, "dep_running")
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    assert (root / "dep_killed" / "src" / "node_modules" / "big.bin").exists()

    LocalBuildRunner(str(data_dir), FakeBlobStore(), "sources", "artifacts")

    assert not (root / "dep_killed").exists()
    assert not (root / "dep_killed.lock").exists()
    assert (root / "dep_running" / "src" / "node_modules" / "big.bin").stat().st_size == 100_000


def test_once_a_running_build_dies_the_next_prune_takes_its_directory(
    tmp_path: Path, builds: list[subprocess.Popen[str]]
) -> None:
    root = tmp_path / "builds"
    running = start_build(builds, root, "dep_running")
    dirs = WorkDirs(str(root))
    assert dirs.prune_stale() == []

    running.kill()
    running.wait()

    assert dirs.prune_stale() == ["dep_running"]
    assert os.listdir(root) == []


def test_leftovers_without_a_lock_file_are_a_dead_builds(tmp_path: Path) -> None:
    root = tmp_path / "builds"
    (root / "dep_old" / "src").mkdir(parents=True)  # a runner from before locks, or a crash mid-cleanup
    (root / "dep_gone.lock").write_text("")  # a lock whose directory was already removed

    assert WorkDirs(str(root)).prune_stale() == ["dep_old"]
    assert os.listdir(root) == []


def test_a_second_attempt_of_the_same_build_waits_for_the_first(
    tmp_path: Path, builds: list[subprocess.Popen[str]]
) -> None:
    root = tmp_path / "builds"
    first = start_build(builds, root, "dep_same")
    dirs = WorkDirs(str(root))
    waits: list[int] = []

    def waiting() -> None:
        waits.append(1)
        if len(waits) == 3:
            assert first.stdin is not None
            first.stdin.close()  # the first attempt ends; the kernel drops its lock
            first.wait()

    fd = dirs.own("dep_same", waiting)
    try:
        assert len(waits) >= 3  # it waited (heartbeating) instead of deleting the first's files
    finally:
        dirs.release("dep_same", fd)
    assert os.listdir(root) == []
