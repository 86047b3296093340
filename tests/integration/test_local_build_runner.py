"""Integration tests of LocalBuildRunner: real archives, real subprocesses, an in-memory blob store.

No network: python sources have no requirement lines, node sources have no dependencies. The
caches have their own file (test_local_build_caches.py), and so do the findings of reviews
(test_local_build_hardening.py).
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from unittest.mock import ANY

import pytest

from chalicelib.domain.buildplan import BuildPlan, SourceTree, plan_build
from chalicelib.domain.errors import BuildFailed, DeploymentCancelled, NothingToBuild
from tests.fakes import FakeBlobStore
from tests.support.build_runner import (
    ARTIFACTS,
    SOURCES,
    CountingProgress,
    RecordingLog,
    artifact_files,
    fixed_plan,
    is_gone,
    needs_npm,
    request,
    runner,
    upload,
)
from tests.support.tarballs import pack

PYTHON_APP = {"requirements.txt": "", "main.py": "print('hello')\n", "lib/util.py": "X = 1\n"}


def test_python_app_builds_an_artifact_with_the_app_and_runtime_json(
    data_dir: Path, blobs: FakeBlobStore
) -> None:
    key = upload(blobs, PYTHON_APP)
    log = RecordingLog()

    result = runner(data_dir, blobs).build(request(key), log, CountingProgress())

    assert (result.cached, result.provider, result.start_command) == (False, "python", "python3 main.py")
    files = artifact_files(blobs, result.artifact_key)
    assert files["main.py"] == b"print('hello')\n"
    assert files["lib/util.py"] == b"X = 1\n"
    # Nothing to install, so no venv: the app runs on the toolchain's python (a copy in the store),
    # never the platform's.
    runtime_env = json.loads(files[".railyard/runtime.json"])["env"]
    assert list(runtime_env) == ["PATH"]
    assert re.fullmatch(rf"{data_dir}/toolchains/cpython@3\.11\.\d+/tree/bin:\{{PATH\}}", runtime_env["PATH"])
    meta_key = result.artifact_key.removesuffix(".tar.gz") + ".json"
    meta = json.loads(blobs.get_bytes(ARTIFACTS, meta_key))
    assert meta == {
        "artifactKey": result.built.artifact_key,
        "startCommand": "python3 main.py",
        "image": None,
        "deploySettings": {},
        "provider": "python",
        "build_seconds": ANY,
    }
    assert 0 < meta["build_seconds"] < 30
    assert "build: provider python (files read: requirements.txt, main.py)" in log.lines
    assert "deps: nothing to install" in log.lines  # the requirements file has no requirement lines
    assert log.lines[-2] == "cache: artifact miss, deps none, saved 0.0 s"
    assert log.lines[-1].startswith("build: done in ")
    assert not (data_dir / "builds" / "dep_1").exists()


def test_identical_source_with_other_mtimes_reuses_the_artifact_without_planning(
    data_dir: Path, blobs: FakeBlobStore
) -> None:
    first = runner(data_dir, blobs).build(
        request(upload(blobs, PYTHON_APP)), RecordingLog(), CountingProgress()
    )
    planned: list[str] = []

    def spy(tree: SourceTree, override: str | None) -> BuildPlan:
        planned.append("called")
        return plan_build(tree, override)

    key = upload(blobs, PYTHON_APP, key="src/b.tar.gz", mtime=1_800_000_000)
    log = RecordingLog()
    started = time.monotonic()

    second = runner(data_dir, blobs, planner=spy).build(request(key, "dep_2"), log, CountingProgress())

    elapsed = time.monotonic() - started
    assert (second.artifact_key, second.start_command, second.cached, second.provider) == (
        first.artifact_key,
        first.start_command,
        True,
        first.provider,
    )
    assert planned == []
    assert len(log.lines) == 1
    assert re.fullmatch(r"build: cache hit \(sha256 [0-9a-f]{12}…\), saved \d+\.\d s", log.lines[0])
    assert elapsed < 0.5
    assert not (data_dir / "builds" / "dep_2").exists()


@pytest.mark.parametrize(
    ("change", "override"),
    [
        ({"executable": ("main.py",)}, None),  # same bytes, new executable bit
        ({}, "python3 main.py --fast"),  # same tree, another start command setting
    ],
)
def test_a_different_mode_or_override_is_not_reused(
    data_dir: Path, blobs: FakeBlobStore, change: dict[str, object], override: str | None
) -> None:
    first = runner(data_dir, blobs).build(
        request(upload(blobs, PYTHON_APP)), RecordingLog(), CountingProgress()
    )
    key = upload(blobs, PYTHON_APP, key="src/b.tar.gz", **change)

    second = runner(data_dir, blobs).build(
        request(key, "dep_2", start_command=override), RecordingLog(), CountingProgress()
    )

    assert second.cached is False
    assert second.artifact_key != first.artifact_key


@needs_npm
def test_failing_build_script_reports_exit_code_and_log_tail(data_dir: Path, blobs: FakeBlobStore) -> None:
    script = "for i in $(seq 1 30); do echo line-$i; done; echo boom >&2; exit 3"
    manifest = json.dumps({"name": "app", "scripts": {"build": script}})
    key = upload(blobs, {"package.json": manifest, "Procfile": "web: node server.js\n"})
    log = RecordingLog()

    with pytest.raises(BuildFailed) as raised:
        runner(data_dir, blobs).build(request(key), log, CountingProgress())

    assert str(raised.value) == "`npm run build` exited with code 3"
    assert "$ npm run build" in log.lines
    tail_at = log.lines.index("build: log tail (last 20 lines of `npm run build`):")
    tail = log.lines[tail_at + 1 :]
    assert len(tail) == 20
    assert "boom" in tail
    assert "line-30" in tail
    assert "line-1" not in tail
    assert blobs.list_keys(ARTIFACTS, "") == []
    assert not (data_dir / "builds" / "dep_1").exists()


def test_timeout_kills_the_whole_process_group(data_dir: Path, blobs: FakeBlobStore, tmp_path: Path) -> None:
    pidfile = tmp_path / "sleep.pid"
    build = runner(data_dir, blobs, planner=fixed_plan('sleep 30 & echo $! > "$PIDFILE"; wait'))
    req = request(upload(blobs, PYTHON_APP), build_timeout=1, variables={"PIDFILE": str(pidfile)})
    log = RecordingLog()
    started = time.monotonic()

    with pytest.raises(BuildFailed, match=r"^build timed out after 1 s$"):
        build.build(req, log, CountingProgress())

    assert time.monotonic() - started < 3
    assert is_gone(int(pidfile.read_text()))
    assert blobs.list_keys(ARTIFACTS, "") == []


def test_cancellation_during_a_command_stops_it_and_reraises(
    data_dir: Path, blobs: FakeBlobStore, tmp_path: Path
) -> None:
    pidfile = tmp_path / "sleep.pid"
    build = runner(
        data_dir,
        blobs,
        planner=fixed_plan('sleep 30 & echo $! > "$PIDFILE"; wait'),
        progress_interval=0.2,
    )
    req = request(upload(blobs, PYTHON_APP), variables={"PIDFILE": str(pidfile)})
    progress = CountingProgress(cancel_on_call=2)  # call 1 is before the command starts
    started = time.monotonic()

    with pytest.raises(DeploymentCancelled):
        build.build(req, RecordingLog(), progress)

    assert time.monotonic() - started < 2
    assert is_gone(int(pidfile.read_text()))
    assert blobs.list_keys(ARTIFACTS, "") == []
    assert not (data_dir / "builds" / "dep_1").exists()


def test_output_streams_while_the_command_runs_and_heartbeats_continue(
    data_dir: Path, blobs: FakeBlobStore
) -> None:
    build = runner(
        data_dir, blobs, planner=fixed_plan("echo first; sleep 0.8; echo second"), progress_interval=0.1
    )
    log = RecordingLog()
    progress = CountingProgress()

    build.build(request(upload(blobs, PYTHON_APP)), log, progress)

    first, second = log.lines.index("first"), log.lines.index("second")
    assert log.times[second] - log.times[first] > 0.5  # "first" was logged before the sleep ended
    assert log.lines[first - 1] == "$ echo first; sleep 0.8; echo second"
    assert progress.calls >= 5


def test_build_environment_drops_platform_variables_and_adds_service_variables(
    data_dir: Path, blobs: FakeBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "platform-secret")
    monkeypatch.setenv("RAILYARD_TOKEN", "platform-token")
    command = (
        'echo "aws=${AWS_SECRET_ACCESS_KEY:-unset} ry=${RAILYARD_TOKEN:-unset} ci=$CI greeting=$GREETING"'
    )
    build = runner(data_dir, blobs, planner=fixed_plan(command))
    log = RecordingLog()

    build.build(request(upload(blobs, PYTHON_APP), variables={"GREETING": "hi"}), log, CountingProgress())

    assert "aws=unset ry=unset ci=true greeting=hi" in log.lines
    assert "platform-secret" not in log.text()


def test_missing_toolchain_fails_before_running_anything(data_dir: Path, blobs: FakeBlobStore) -> None:
    build = runner(data_dir, blobs, planner=fixed_plan("echo ran", "railyard-no-such-tool --version"))
    log = RecordingLog()

    with pytest.raises(BuildFailed, match="`railyard-no-such-tool` is not installed"):
        build.build(request(upload(blobs, PYTHON_APP)), log, CountingProgress())

    assert "ran" not in log.lines


@needs_npm
def test_node_app_without_dependencies_builds(data_dir: Path, blobs: FakeBlobStore) -> None:
    manifest = json.dumps(
        {"name": "app", "scripts": {"build": "node -e \"require('fs').writeFileSync('built.txt', 'ok')\""}}
    )
    key = upload(blobs, {"package.json": manifest, "index.js": "console.log('hi')\n"})
    log = RecordingLog()

    result = runner(data_dir, blobs).build(request(key), log, CountingProgress())

    assert (result.provider, result.start_command) == ("node", "node index.js")
    files = artifact_files(blobs, result.artifact_key)
    assert files["built.txt"] == b"ok"
    assert json.loads(files[".railyard/runtime.json"]) == {"env": {"PATH": "{app}/node_modules/.bin:{PATH}"}}
    assert "$ npm run build" in log.lines
    assert not any(line.startswith("$ npm ci") or line.startswith("$ npm install") for line in log.lines)


def test_corrupt_archive_fails_clearly(data_dir: Path, blobs: FakeBlobStore) -> None:
    blobs.put_bytes(SOURCES, "src/bad.tar.gz", pack(PYTHON_APP)[:60])

    with pytest.raises(BuildFailed, match=re.escape("not a valid .tar.gz")):
        runner(data_dir, blobs).build(request("src/bad.tar.gz"), RecordingLog(), CountingProgress())

    assert not (data_dir / "builds" / "dep_1").exists()


def test_archive_escaping_the_work_dir_is_refused(data_dir: Path, blobs: FakeBlobStore) -> None:
    key = upload(blobs, {"main.py": "", "../../escape.txt": "x"})

    with pytest.raises(BuildFailed, match="unsafe entry"):
        runner(data_dir, blobs).build(request(key), RecordingLog(), CountingProgress())

    assert not (data_dir / "escape.txt").exists()
    assert not (data_dir / "builds" / "escape.txt").exists()


def test_missing_source_fails_clearly(data_dir: Path, blobs: FakeBlobStore) -> None:
    with pytest.raises(BuildFailed, match=re.escape("src/none.tar.gz was not found")):
        runner(data_dir, blobs).build(request("src/none.tar.gz"), RecordingLog(), CountingProgress())


def test_unrecognised_source_raises_nothing_to_build_and_cleans_up(
    data_dir: Path, blobs: FakeBlobStore
) -> None:
    key = upload(blobs, {"README.md": "hi"})

    with pytest.raises(NothingToBuild, match=re.escape("Found at the top level: README.md")):
        runner(data_dir, blobs).build(request(key), RecordingLog(), CountingProgress())

    assert os.listdir(data_dir / "builds") == []
