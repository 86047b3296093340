"""What tests of LocalBuildRunner share (tests/integration/test_local_build_*.py): a log and a
progress callback that record, uploads of sources, build requests, runners and reading artifacts."""

from __future__ import annotations

import dataclasses
import io
import re
import shutil
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from chalicelib.adapters.builds.local import LocalBuildRunner
from chalicelib.domain.buildplan import BuildPlan, SourceTree
from chalicelib.domain.errors import DeploymentCancelled
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


# The dependency layer cache's stand-ins (test_local_build_caches.py, _hardening.py)
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
