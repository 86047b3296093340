"""Integration tests of LocalBuildRunner: real archives, real subprocesses, an in-memory blob store.

No network: python sources have no requirement lines, node sources have no dependencies.
"""

from __future__ import annotations

import dataclasses
import fcntl
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from unittest.mock import ANY

import pytest

from chalicelib.adapters.builds.local import LocalBuildRunner
from chalicelib.domain.buildplan import BuildPlan, DeployConfig, SourceTree, plan_build
from chalicelib.domain.errors import BuildFailed, DeploymentCancelled, NothingToBuild
from chalicelib.domain.models import ServiceSettings
from chalicelib.domain.ports import BuildRequest, BuildResult
from tests.fakes import FakeBlobStore
from tests.support.tarballs import pack

SOURCES = "sources"
ARTIFACTS = "artifacts"
needs_npm = pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed on this machine")


class RecordingLog:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.times: list[float] = []

    def write(self, message: str) -> None:
        self.lines.append(message)
        self.times.append(time.monotonic())

    def flush(self) -> None:
        pass

    def text(self) -> str:
        return "\n".join(self.lines)


class CountingProgress:
    def __init__(self, cancel_on_call: int | None = None) -> None:
        self.calls = 0
        self.cancel_on_call = cancel_on_call

    def __call__(self) -> None:
        self.calls += 1
        if self.cancel_on_call is not None and self.calls >= self.cancel_on_call:
            raise DeploymentCancelled("cancelled by the user")


def artifact_files(blobs: FakeBlobStore, key: str) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(blobs.get_bytes(ARTIFACTS, key)), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def fixed_plan(*commands: str) -> Callable[[SourceTree, str | None], BuildPlan]:
    """A planner that runs exactly `commands`, to exercise the runner independently of npm/pip."""

    def planner(tree: SourceTree, override: str | None) -> BuildPlan:
        return BuildPlan("command", (), commands, "true", {}, ())

    return planner


def is_gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"  # dead, waiting for whoever inherited it to reap it


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def upload(blobs: FakeBlobStore, files: dict[str, str], key: str = "src/a.tar.gz", **kwargs: object) -> str:
    blobs.put_bytes(SOURCES, key, pack(files, **kwargs))  # type: ignore[arg-type]
    return key


def request(
    key: str,
    deployment_id: str = "dep_1",
    build_timeout: float = 60.0,
    start_command: str | None = None,
    variables: dict[str, str] | None = None,
) -> BuildRequest:
    return BuildRequest(
        deployment_id=deployment_id,
        service_id="svc_1",
        source_key=key,
        settings=ServiceSettings(build_timeout=build_timeout, start_command=start_command),
        variables=variables or {},
    )


def runner(data_dir: Path, blobs: FakeBlobStore, **kwargs: object) -> LocalBuildRunner:
    return LocalBuildRunner(str(data_dir), blobs, SOURCES, ARTIFACTS, **kwargs)  # type: ignore[arg-type]


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


# --- the dependency layer cache ----------------------------------------------------------------------

# Stands in for `npm ci`: produces node_modules, takes measurable time, and records each run in
# $MARKER (outside the work dir) so a test can tell whether it ran.
INSTALL = (
    'mkdir -p node_modules/x && echo "dep of $(cat package-lock.json)" > node_modules/x/index.js '
    '&& echo ran >> "$MARKER" && sleep 0.3'
)
BUILD = "cat node_modules/x/index.js > built.txt"
NODE_APP = {
    "package.json": '{"name": "app", "dependencies": {"x": "1"}}',
    "package-lock.json": "lock-v1",
    "index.js": "console.log('v1')\n",
}
DEPS_LINE = re.compile(r"deps: cache (hit|miss) \(lockfile ([0-9a-f]{12})…\)")


def deps_planner(**overrides: object) -> Callable[[SourceTree, str | None], BuildPlan]:
    """A planner with a dependency layer, as the extended node detection will produce it."""
    fields: dict[str, object] = dict(
        provider="node",
        install=(INSTALL,),
        build=(BUILD,),
        start_command="node index.js",
        language_version="20",
        deps_inputs=("package.json", "package-lock.json", "yarn.lock"),  # yarn.lock is absent
        deps_dirs=("node_modules",),
    )
    fields.update(overrides)

    def planner(tree: SourceTree, override: str | None) -> BuildPlan:
        return BuildPlan(**fields)  # type: ignore[arg-type]

    return planner


class DepsWorld:
    """One artifact bucket, many builds: each `build` is a new deployment of `files`."""

    def __init__(self, data_dir: Path, blobs: FakeBlobStore, tmp_path: Path, **runner_kwargs: object) -> None:
        self.blobs = blobs
        self.marker = tmp_path / "installs.log"
        self.runner = runner(data_dir, blobs, **{"planner": deps_planner(), **runner_kwargs})
        self.builds = 0

    def build(
        self, files: dict[str, str], variables: dict[str, str] | None = None, **request_kwargs: object
    ) -> tuple[BuildResult, RecordingLog]:
        self.builds += 1
        key = upload(self.blobs, files, key=f"src/{self.builds}.tar.gz", mtime=1_700_000_000 + self.builds)
        log = RecordingLog()
        req = request(key, f"dep_{self.builds}", variables={"MARKER": str(self.marker), **(variables or {})})
        if request_kwargs:
            req = dataclasses.replace(req, **request_kwargs)  # type: ignore[arg-type]
        return self.runner.build(req, log, CountingProgress()), log

    def installs(self) -> int:
        return len(self.marker.read_text().splitlines()) if self.marker.exists() else 0


def deps_line(log: RecordingLog) -> tuple[str, str]:
    """(hit|miss, key prefix) from the build log's deps line."""
    found = [m for m in map(DEPS_LINE.match, log.lines) if m]
    assert len(found) == 1, log.text()
    return found[0].group(1), found[0].group(2)


def test_first_build_installs_and_stores_the_dependency_layer(
    data_dir: Path, blobs: FakeBlobStore, tmp_path: Path
) -> None:
    world = DepsWorld(data_dir, blobs, tmp_path)

    result, log = world.build(NODE_APP)

    assert world.installs() == 1
    assert deps_line(log)[0] == "miss"
    assert any(
        re.fullmatch(
            r"deps: cache miss \(lockfile [0-9a-f]{12}…\); installed in \d+\.\d s; cached for next builds",
            line,
        )
        for line in log.lines
    ), log.text()
    report = world.runner.last_report
    assert report is not None and report.deps_key is not None
    assert (report.artifact, report.deps, report.saved_seconds) == ("miss", "miss", 0.0)
    assert result.cache == report.to_json()
    assert blobs.list_keys(ARTIFACTS, "deps/") == [
        f"deps/{report.deps_key}.json",
        f"deps/{report.deps_key}.tar.gz",
    ]
    meta = json.loads(blobs.get_bytes(ARTIFACTS, f"deps/{report.deps_key}.json"))
    assert meta["install_seconds"] >= 0.3
    assert meta["created_at"].endswith("+00:00")
    assert [i["path"] for i in meta["inputs"]] == ["package.json", "package-lock.json"]
    with tarfile.open(
        fileobj=io.BytesIO(blobs.get_bytes(ARTIFACTS, f"deps/{report.deps_key}.tar.gz"))
    ) as tar:
        assert sorted(tar.getnames()) == ["node_modules", "node_modules/x", "node_modules/x/index.js"]
    assert log.lines[-2].startswith("cache: artifact miss, deps miss (lockfile ")


def test_a_source_only_change_restores_the_layer_instead_of_installing(
    data_dir: Path, blobs: FakeBlobStore, tmp_path: Path
) -> None:
    world = DepsWorld(data_dir, blobs, tmp_path)
    _, first_log = world.build(NODE_APP)

    result, log = world.build({**NODE_APP, "index.js": "console.log('v2')\n"})

    assert world.installs() == 1  # the install command did not run again
    assert f"$ {INSTALL}" not in log.lines
    assert f"$ {BUILD}" in log.lines  # the build step always runs
    assert deps_line(log) == ("hit", deps_line(first_log)[1])
    hit = next(line for line in log.lines if line.startswith("deps: cache hit"))
    assert re.fullmatch(r"deps: cache hit \(lockfile [0-9a-f]{12}…\), saved 0\.[3-9] s", hit), hit
    report = world.runner.last_report
    assert report is not None
    assert (report.artifact, report.deps) == ("miss", "hit")
    assert report.saved_seconds >= 0.3
    assert result.cache is not None and result.cache["deps"] == "hit"
    files = artifact_files(blobs, result.artifact_key)
    assert files["node_modules/x/index.js"] == b"dep of lock-v1\n"  # restored, and the build saw it
    assert files["built.txt"] == b"dep of lock-v1\n"
    assert files["index.js"] == b"console.log('v2')\n"


@pytest.mark.parametrize(
    "change",
    [
        {"package-lock.json": "lock-v2"},  # new lockfile content
        {"yarn.lock": ""},  # an input that was absent now exists
    ],
)
def test_a_dependency_input_change_misses_and_installs(
    data_dir: Path, blobs: FakeBlobStore, tmp_path: Path, change: dict[str, str]
) -> None:
    world = DepsWorld(data_dir, blobs, tmp_path)
    _, first_log = world.build(NODE_APP)

    _, log = world.build({**NODE_APP, **change})

    assert world.installs() == 2
    state, key = deps_line(log)
    assert state == "miss"
    assert key != deps_line(first_log)[1]
    assert len(blobs.list_keys(ARTIFACTS, "deps/")) == 4  # both layers are kept


@pytest.mark.parametrize(
    "plan_change",
    [
        {"language_version": "22"},
        {"provider": "bun"},
        {"install": (INSTALL + " # --production",)},
        {"env": {"NODE_ENV": "production"}},
    ],
)
def test_the_key_covers_language_version_provider_install_commands_and_plan_env(
    data_dir: Path, blobs: FakeBlobStore, tmp_path: Path, plan_change: dict[str, object]
) -> None:
    world = DepsWorld(data_dir, blobs, tmp_path)
    world.build(NODE_APP)
    world.runner = runner(data_dir, blobs, planner=deps_planner(**plan_change))

    _, log = world.build({**NODE_APP, "index.js": "changed"})

    assert deps_line(log)[0] == "miss"
    assert world.installs() == 2


def test_identical_source_reuses_the_artifact_and_reports_the_time_saved(
    data_dir: Path, blobs: FakeBlobStore, tmp_path: Path
) -> None:
    world = DepsWorld(data_dir, blobs, tmp_path)
    first, _ = world.build(NODE_APP)

    second, log = world.build(NODE_APP)

    assert second.cached is True
    assert second.artifact_key == first.artifact_key
    assert world.installs() == 1
    [line] = log.lines
    match = re.fullmatch(r"build: cache hit \(sha256 [0-9a-f]{12}…\), saved (\d+\.\d) s", line)
    assert match is not None, line
    assert float(match.group(1)) >= 0.3  # the first build's duration, install included
    report = world.runner.last_report
    assert report is not None
    assert (report.artifact, report.deps, report.deps_key) == ("hit", "none", None)
    assert report.saved_seconds >= 0.3
    assert second.cache == report.to_json()


@pytest.mark.parametrize(
    ("how", "logged"),
    [
        ({"variables": {"NO_CACHE": "1"}}, "cache: disabled by NO_CACHE=1"),
        ({"request": {"no_cache": True}}, "cache: disabled by --no-cache"),
        ({"runner": {"no_cache": True}}, "cache: disabled by --no-cache"),
    ],
)
def test_no_cache_forces_a_cold_build_and_still_refreshes_the_caches(
    data_dir: Path, blobs: FakeBlobStore, tmp_path: Path, how: dict[str, dict[str, object]], logged: str
) -> None:
    world = DepsWorld(data_dir, blobs, tmp_path)
    first, _ = world.build(NODE_APP)
    cold_runner = runner(data_dir, blobs, planner=deps_planner(), **how.get("runner", {}))
    world.runner, warm_runner = cold_runner, world.runner

    cold, log = world.build(NODE_APP, variables=how.get("variables"), **how.get("request", {}))  # type: ignore[arg-type]

    assert world.installs() == 2  # installed again although both caches held this source
    assert cold.cached is False
    assert log.lines[0] == logged
    assert "deps: cache disabled; installed in " in "\n".join(log.lines)
    report = cold_runner.last_report
    assert report is not None
    assert (report.artifact, report.deps, report.saved_seconds) == ("disabled", "disabled", 0.0)
    assert log.lines[-2] == "cache: artifact disabled, deps disabled, saved 0.0 s"
    # NO_CACHE is a directive, not a build input: the cold build rewrote the entry normal builds use.
    assert cold.artifact_key == first.artifact_key
    world.runner = warm_runner
    again, _ = world.build(NODE_APP)
    assert again.cached is True


def test_an_unusable_cached_layer_is_a_miss_not_a_failure(
    data_dir: Path, blobs: FakeBlobStore, tmp_path: Path
) -> None:
    world = DepsWorld(data_dir, blobs, tmp_path)
    world.build(NODE_APP)
    [layer] = blobs.list_keys(ARTIFACTS, "deps/")[1:]
    blobs.put_bytes(ARTIFACTS, layer, b"not a tarball")
    world.runner = runner(tmp_path / "other-host", blobs, planner=deps_planner())  # no local copy

    result, log = world.build({**NODE_APP, "index.js": "v2"})

    assert world.installs() == 2
    assert any(line.startswith("deps: cached layer for lockfile ") for line in log.lines), log.text()
    assert deps_line(log)[0] == "miss"
    assert artifact_files(blobs, result.artifact_key)["built.txt"] == b"dep of lock-v1\n"
    assert blobs.get_bytes(ARTIFACTS, layer).startswith(b"\x1f\x8b")  # rewritten by the successful install


@pytest.mark.parametrize(
    ("plan_change", "logged"),
    [
        ({"install": ()}, "deps: nothing to install"),
        ({"deps_dirs": ()}, "deps: not cached (the plan names no dependency directories)"),
        ({"deps_inputs": ()}, "deps: not cached (the plan names no dependency inputs such as a lockfile)"),
        (
            {"deps_dirs": ("../elsewhere",)},
            "deps: not cached (dependency directory '../elsewhere' is outside the app)",
        ),
    ],
)
def test_a_plan_without_a_cacheable_layer_installs_every_time(
    data_dir: Path, blobs: FakeBlobStore, tmp_path: Path, plan_change: dict[str, object], logged: str
) -> None:
    world = DepsWorld(data_dir, blobs, tmp_path, planner=deps_planner(build=(), **plan_change))

    world.build(NODE_APP)
    _, log = world.build({**NODE_APP, "index.js": "v2"})

    assert logged in log.lines
    assert world.installs() == (0 if plan_change == {"install": ()} else 2)
    assert blobs.list_keys(ARTIFACTS, "deps/") == []
    report = world.runner.last_report
    assert report is not None and (report.deps, report.deps_key) == ("none", None)


def restored_from(log: RecordingLog) -> str:
    [line] = [line for line in log.lines if line.startswith("deps: restored ")]
    return line


def test_another_host_restores_from_the_bucket_and_then_from_its_own_store(
    data_dir: Path, blobs: FakeBlobStore, tmp_path: Path
) -> None:
    world = DepsWorld(data_dir, blobs, tmp_path)
    world.build(NODE_APP)
    _, same_host = world.build({**NODE_APP, "index.js": "v2"})
    world.runner = runner(tmp_path / "other-host", blobs, planner=deps_planner())

    other, from_bucket = world.build({**NODE_APP, "index.js": "v3"})
    _, from_store = world.build({**NODE_APP, "index.js": "v4"})

    assert world.installs() == 1
    assert "from this host's layer store" in restored_from(same_host)
    assert "from the bucket" in restored_from(from_bucket)
    assert "from this host's layer store" in restored_from(from_store)
    assert artifact_files(blobs, other.artifact_key)["built.txt"] == b"dep of lock-v1\n"


def test_a_spliced_artifact_is_one_valid_tar_for_python_and_gnu_tar(
    data_dir: Path, blobs: FakeBlobStore, tmp_path: Path
) -> None:
    world = DepsWorld(data_dir, blobs, tmp_path)
    world.build(NODE_APP)

    result, _ = world.build({**NODE_APP, "index.js": "v2"})

    files = artifact_files(blobs, result.artifact_key)
    expected = {"index.js", "package.json", "package-lock.json", "built.txt", ".railyard/runtime.json"}
    assert set(files) == expected | {"node_modules/x/index.js"}
    if shutil.which("tar"):
        archive = tmp_path / "artifact.tar.gz"
        archive.write_bytes(blobs.get_bytes(ARTIFACTS, result.artifact_key))
        listed = subprocess.run(["tar", "-tzf", str(archive)], capture_output=True, text=True, check=True)
        assert "node_modules/x/index.js" in listed.stdout.split()
        assert "index.js" in listed.stdout.split()


def test_a_build_that_changes_a_dependency_in_place_does_not_corrupt_the_cache(
    data_dir: Path, blobs: FakeBlobStore, tmp_path: Path
) -> None:
    # Appending keeps the inode: with hardlinks this also writes into this host's layer store.
    world = DepsWorld(
        data_dir, blobs, tmp_path, planner=deps_planner(build=("echo patched >> node_modules/x/index.js",))
    )
    world.build(NODE_APP)

    patched, _ = world.build({**NODE_APP, "index.js": "v2"})
    again, log = world.build({**NODE_APP, "index.js": "v3"})

    assert (
        artifact_files(blobs, patched.artifact_key)["node_modules/x/index.js"] == b"dep of lock-v1\npatched\n"
    )
    # The next build starts from the layer as installed, not as the previous build left it.
    assert (
        artifact_files(blobs, again.artifact_key)["node_modules/x/index.js"] == b"dep of lock-v1\npatched\n"
    )
    assert "from the bucket" in restored_from(log)  # the altered local copy was dropped
    assert world.installs() == 1


def test_files_a_build_adds_to_the_deps_dirs_go_into_that_artifact_only(
    data_dir: Path, blobs: FakeBlobStore, tmp_path: Path
) -> None:
    build = "mkdir -p node_modules/.cache && echo $RANDOM > node_modules/.cache/c && test -f index.js"
    world = DepsWorld(data_dir, blobs, tmp_path, planner=deps_planner(build=(build,)))
    world.build(NODE_APP)

    result, log = world.build({**NODE_APP, "index.js": "v2"})

    assert "node_modules/.cache/c" in artifact_files(blobs, result.artifact_key)
    assert "from this host's layer store" in restored_from(log)
    [store_entry] = os.listdir(data_dir / "layers")
    assert not (data_dir / "layers" / store_entry / "tree" / "node_modules" / ".cache").exists()


def test_the_layer_store_keeps_only_the_most_recent_entries(
    data_dir: Path, blobs: FakeBlobStore, tmp_path: Path
) -> None:
    world = DepsWorld(data_dir, blobs, tmp_path, layer_store_entries=2)

    for lock in ("lock-a", "lock-b", "lock-c"):
        world.build({**NODE_APP, "package-lock.json": lock})

    report = world.runner.last_report
    assert report is not None
    kept = os.listdir(data_dir / "layers")
    assert len(kept) == 2
    assert report.deps_key in kept


def test_config_file_deploy_settings_are_returned_by_a_build_and_by_a_cache_hit(
    data_dir: Path, blobs: FakeBlobStore, tmp_path: Path
) -> None:
    deploy = DeployConfig(healthcheck_path="/ready", healthcheck_timeout=5.0, start_command="x")
    world = DepsWorld(data_dir, blobs, tmp_path, planner=deps_planner(deploy=deploy))

    built, _ = world.build(NODE_APP)
    reused, _ = world.build(NODE_APP)

    expected = {"healthcheck_path": "/ready", "healthcheck_timeout": 5.0}  # ServiceSettings keys only
    assert built.built.deploy_settings == expected
    assert (reused.cached, reused.built.deploy_settings) == (True, expected)


def test_source_paths_never_leave_the_source_tree(tmp_path: Path) -> None:
    from chalicelib.adapters.builds.source_tree import DirectorySourceTree

    (tmp_path / "secret.txt").write_text("host file")
    root = tmp_path / "src"
    root.mkdir()
    (root / "app.py").write_text("print()")
    (root / "escape").symlink_to(tmp_path / "secret.txt")
    tree = DirectorySourceTree(str(root))
    assert tree.exists("app.py")
    for outside in ("../secret.txt", str(tmp_path / "secret.txt"), "escape"):
        assert not tree.exists(outside), outside


def test_a_variable_prefix_is_not_mistaken_for_the_program() -> None:
    from chalicelib.adapters.builds.commands import require_toolchain

    require_toolchain("SECRET_KEY_BASE_DUMMY=1 sh -c true", {"PATH": os.defpath})
    with pytest.raises(BuildFailed, match="`railyard-no-such-tool` is not installed"):
        require_toolchain("GOWORK=off railyard-no-such-tool mod download", {"PATH": os.defpath})


def test_artifacts_are_not_shared_between_environments_or_services(tmp_path: Path) -> None:
    from chalicelib.adapters.builds.trees import content_hash

    (tmp_path / "app.py").write_text("print()")
    keys = {
        content_hash(str(tmp_path), None, {}, scope=scope)
        for scope in ("svc_a/production", "svc_a/staging", "svc_b/production")
    }
    assert len(keys) == 3


# --- review findings -------------------------------------------------------------------------------


def stub_tools(tmp_path: Path, *names: str, script: str = "") -> dict[str, str]:
    """Build variables that put stand-ins for `names` first on PATH; each records its arguments,
    one line per call, bracketed word by word, in $CALLS (outside the work dir), then runs
    `script` (its own arguments as $1 ...)."""
    bin_dir = tmp_path / "stub-bin"
    bin_dir.mkdir(exist_ok=True)
    for name in names:
        path = bin_dir / name
        path.write_text(f'#!/bin/sh\nprintf "[%s]" {name} "$@" >> "$CALLS"\necho >> "$CALLS"\n{script}\n')
        path.chmod(0o755)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}", "CALLS": str(tmp_path / "calls.log")}


def calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


HOSTILE = "x;echo INJECTED;touch pwned $(touch pwned2)"


@pytest.mark.parametrize(
    ("files", "expected_calls", "start"),
    [
        (
            {"go.mod": "module example.com/app\n", f"cmd/{HOSTILE}/main.go": "package main\n"},
            ["[go][mod][download]", f"[go][build][-o][bin/{HOSTILE}][./cmd/{HOSTILE}]"],
            f"'./bin/{HOSTILE}'",
        ),
        (
            {"Cargo.toml": f'[package]\nname = "{HOSTILE}"\n', "src/main.rs": "fn main() {}\n"},
            ["[cargo][fetch]", "[cargo][build][--release]"],
            f"'./target/release/{HOSTILE}'",
        ),
    ],
)
def test_a_hostile_name_in_the_source_is_passed_as_one_argument_and_never_run(
    data_dir: Path,
    blobs: FakeBlobStore,
    tmp_path: Path,
    files: dict[str, str],
    expected_calls: list[str],
    start: str,
) -> None:
    # GIVEN a source whose Go command directory / Cargo package name is shell syntax
    variables = stub_tools(tmp_path, "go", "cargo")
    log = RecordingLog()

    # WHEN the real planner plans it and the runner runs the plan (go and cargo are stand-ins)
    result = runner(data_dir, blobs).build(
        request(upload(blobs, files), variables=variables), log, CountingProgress()
    )

    # THEN the tools got the name as one argument, and nothing in it ran
    assert calls(tmp_path) == expected_calls
    assert result.start_command == start
    assert "INJECTED" not in log.lines
    assert {"pwned", "pwned2"}.isdisjoint(artifact_files(blobs, result.artifact_key))


def inputs_of_the_real_plan(tree: SourceTree, override: str | None) -> BuildPlan:
    """The real plan's dependency inputs and dirs, with an install that needs no network."""
    planned = plan_build(tree, override)
    install = f'mkdir -p {planned.deps_dirs[0]} && echo ran >> "$MARKER"'
    return dataclasses.replace(planned, install=(install,), build=())


PRISMA_APP = {
    "package.json": json.dumps(
        {"dependencies": {"@prisma/client": "5"}, "scripts": {"postinstall": "prisma generate"}}
    ),
    "package-lock.json": "lock-v1",
    "prisma/schema.prisma": "model A { id Int @id }",
    "index.js": "v1",
}
LOCAL_PACKAGE_APP = {
    "package.json": json.dumps({"dependencies": {"shared": "file:./packages/shared"}}),
    "package-lock.json": "lock-v1",
    "packages/shared/package.json": "{}",
    "packages/shared/index.js": "v1",
    "index.js": "v1",
}
PATCHED_APP = {
    "package.json": json.dumps({"dependencies": {"a": "1"}, "scripts": {"postinstall": "patch-package"}}),
    "package-lock.json": "lock-v1",
    "patches/a+1.0.0.patch": "v1",
    "index.js": "v1",
}
NPMRC_APP = {
    "package.json": json.dumps({"dependencies": {"a": "1"}}),
    "package-lock.json": "lock-v1",
    ".npmrc": "registry=https://registry.npmjs.org/",
    "index.js": "v1",
}
EDITABLE_APP = {"requirements.txt": "-e ./libs/a\n", "libs/a/setup.py": "v1", "main.py": "v1"}
NESTED_REQUIREMENTS_APP = {
    "requirements.txt": "-r requirements/prod.txt\n",
    "requirements/prod.txt": "-r base.txt\n",
    "requirements/base.txt": "flask==3.0.0\n",
    "main.py": "v1",
}


@pytest.mark.parametrize(
    ("files", "source_change", "input_change"),
    [
        (PRISMA_APP, {"index.js": "v2"}, {"prisma/schema.prisma": "model B { id Int @id }"}),
        (LOCAL_PACKAGE_APP, {"index.js": "v2"}, {"packages/shared/index.js": "v2"}),
        (LOCAL_PACKAGE_APP, {"index.js": "v2"}, {"packages/shared/new.js": "added"}),
        (PATCHED_APP, {"index.js": "v2"}, {"patches/a+1.0.0.patch": "v2"}),
        (NPMRC_APP, {"index.js": "v2"}, {".npmrc": "registry=https://npm.example.com/"}),
        (EDITABLE_APP, {"main.py": "v2"}, {"libs/a/setup.py": "v2"}),
        (NESTED_REQUIREMENTS_APP, {"main.py": "v2"}, {"requirements/base.txt": "flask==3.0.3\n"}),
    ],
    ids=[
        "prisma-schema",
        "file-dependency",
        "file-dependency-new-file",
        "patches",
        "npmrc",
        "pip-editable",
        "nested-r",
    ],
)
def test_a_change_to_a_file_the_install_reads_misses_the_dependency_layer(
    data_dir: Path,
    blobs: FakeBlobStore,
    tmp_path: Path,
    files: dict[str, str],
    source_change: dict[str, str],
    input_change: dict[str, str],
) -> None:
    world = DepsWorld(data_dir, blobs, tmp_path, planner=inputs_of_the_real_plan)
    world.build(files)

    # A source-only change still reuses the layer ...
    _, source_log = world.build({**files, **source_change})
    assert deps_line(source_log)[0] == "hit"

    # ... but a change to what the install reads (a hook's input, a local package) installs again.
    _, input_log = world.build({**files, **source_change, **input_change})
    assert deps_line(input_log)[0] == "miss"
    assert world.installs() == 2


BERRY_APP_WITHOUT_LOCKFILE = {
    "package.json": json.dumps(
        {"packageManager": "yarn@4.5.3", "dependencies": {"ms": "2.1.3"}, "scripts": {"start": "node s.js"}}
    ),
    ".yarnrc.yml": "nodeLinker: node-modules\n",
    "s.js": "v1",
}


def berry_install_stand_in(tree: SourceTree, override: str | None) -> BuildPlan:
    """The real plan of a Yarn Berry project, with an install that writes what `yarn install` does
    (node_modules, the lockfile it resolved, its install state) and no registry."""
    planned = plan_build(tree, override)
    install = (
        "mkdir -p node_modules/ms .yarn && echo ms > node_modules/ms/index.js && echo resolved > yarn.lock "
        '&& echo state > .yarn/install-state.gz && echo ran >> "$MARKER"'
    )
    return dataclasses.replace(planned, install=(install,), build=(), tools={})


def test_a_layer_hit_brings_back_the_lockfile_yarn_berry_wrote(
    data_dir: Path, blobs: FakeBlobStore, tmp_path: Path
) -> None:
    # GIVEN a Yarn Berry project without a lockfile, built once: its install wrote one
    world = DepsWorld(data_dir, blobs, tmp_path, planner=berry_install_stand_in)
    world.build(BERRY_APP_WITHOUT_LOCKFILE)

    # WHEN a source-only change restores the dependency layer instead of installing
    result, log = world.build({**BERRY_APP_WITHOUT_LOCKFILE, "s.js": "v2"})

    # THEN the release has the lockfile and install state as after the install: `yarn start`
    # refuses a project that its lockfile lacks, so without them the warm release never starts
    assert deps_line(log)[0] == "hit"
    assert world.installs() == 1
    files = artifact_files(blobs, result.artifact_key)
    assert (files["yarn.lock"], files[".yarn/install-state.gz"]) == (b"resolved\n", b"state\n")
    assert files["s.js"] == b"v2"


def test_corepack_is_enabled_on_a_dependency_layer_hit(
    data_dir: Path, blobs: FakeBlobStore, tmp_path: Path
) -> None:
    # GIVEN a pnpm plan (stand-in tools) whose layer a first build stored
    install = 'if [ "$1" = install ]; then mkdir -p node_modules/x && echo x > node_modules/x/index.js; fi'
    variables = stub_tools(tmp_path, "corepack", "pnpm", script=install)
    planner = deps_planner(
        install=("corepack enable && pnpm install --frozen-lockfile",), build=("pnpm run build",)
    )
    world = DepsWorld(data_dir, blobs, tmp_path, planner=planner)
    world.build(NODE_APP, variables)

    # WHEN a source-only change restores the layer
    _, log = world.build({**NODE_APP, "index.js": "v2"}, variables)

    # THEN the install is skipped but the tool setup `pnpm run build` relies on still runs
    assert deps_line(log)[0] == "hit"
    assert calls(tmp_path) == [
        "[corepack][enable]",
        "[pnpm][install][--frozen-lockfile]",
        "[pnpm][run][build]",
        "[corepack][enable]",
        "[pnpm][run][build]",
    ]


def _crashed_staging(layers: Path, name: str) -> Path:
    """A staging dir whose build process died while holding its lock (the kernel released it)."""
    staging = layers / name
    code = (
        "import fcntl, os, sys\n"
        "fd = os.open(sys.argv[1] + '.lock', os.O_CREAT | os.O_WRONLY)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "os.makedirs(sys.argv[1] + '/tree/node_modules')\n"
        "os._exit(9)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(staging)], timeout=30)
    return staging


def test_leftovers_of_dead_builds_are_pruned_when_a_runner_starts(
    data_dir: Path, blobs: FakeBlobStore
) -> None:
    # GIVEN a layer store with an entry, a live build's staging dir, and what dead builds left
    layers = data_dir / "layers"
    (layers / ("a" * 64) / "tree").mkdir(parents=True)
    crashed = _crashed_staging(layers, ".new-bbbbbbbbbbbb-1")
    unlocked = layers / ".new-cccccccccccc-2"  # an older runner's, or a crash mid-cleanup
    (unlocked / "tree").mkdir(parents=True)
    old_trash, fresh_trash = layers / ".old-3", layers / ".old-4"
    (old_trash / "tree").mkdir(parents=True)
    (fresh_trash / "tree").mkdir(parents=True)  # may be being deleted right now
    orphan_lock = layers / ".new-dddddddddddd-5.lock"
    orphan_lock.touch()
    live = layers / ".new-eeeeeeeeeeee-6"
    live.mkdir()
    live_lock = os.open(f"{live}.lock", os.O_CREAT | os.O_WRONLY)
    fcntl.flock(live_lock, fcntl.LOCK_EX)
    an_hour_ago = time.time() - 3600
    for path in (old_trash, orphan_lock):
        os.utime(path, (an_hour_ago, an_hour_ago))

    try:
        # WHEN a runner starts on that data dir
        runner(data_dir, blobs)

        # THEN only the dead builds' leftovers are gone
        assert sorted(os.listdir(layers)) == sorted(
            ["a" * 64, fresh_trash.name, live.name, f"{live.name}.lock"]
        )
        assert not crashed.exists() and not unlocked.exists()
    finally:
        os.close(live_lock)

    # and once its build has finished (the lock released), the live one goes too
    runner(data_dir, blobs)
    assert sorted(os.listdir(layers)) == sorted(["a" * 64, fresh_trash.name])


def test_pruning_during_a_build_never_takes_its_staging_dir(
    data_dir: Path, blobs: FakeBlobStore, tmp_path: Path
) -> None:
    # GIVEN a build that stores its layer while other runners start (and prune) on the same host
    from chalicelib.adapters.builds.layer_store import LayerStore

    root = str(data_dir / "layers")
    store = LayerStore(root, keep=4)
    tarball = tmp_path / "layer.tar.gz"
    tarball.write_bytes(b"layer")
    os.makedirs(root)
    stale = _crashed_staging(Path(root), ".new-ffffffffffff-7")

    def fill(tree: str) -> None:
        os.makedirs(os.path.join(tree, "node_modules", "x"))
        LayerStore(root, keep=4, wall_clock=lambda: time.time() + 86_400).prune_stale()  # a day later
        with open(os.path.join(tree, "node_modules", "x", "index.js"), "w") as handle:
            handle.write("x")

    # WHEN it publishes its entry
    entry = store.add("k" * 64, str(tarball), fill)

    # THEN the entry is complete, and the dead build's staging dir was pruned before publishing
    assert entry is not None
    assert Path(entry, "tree", "node_modules", "x", "index.js").read_text() == "x"
    assert Path(entry, "layer.tar.gz").read_bytes() == b"layer"
    assert not stale.exists()
    assert sorted(os.listdir(root)) == ["k" * 64]
