"""The toolchain step inside LocalBuildRunner: a plan's `tools` are on PATH for its commands and in
its artifact's runtime env, a second app with the same versions downloads nothing, and a version
that cannot be had fails the build before any command runs. Real subprocesses, a real registry on
127.0.0.1 (tests/support/npm_registry.py), an in-memory blob store."""

from __future__ import annotations

import io
import json
import os
import platform
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chalicelib.adapters.builds.local import LocalBuildRunner
from chalicelib.domain.buildplan import BuildPlan, SourceTree
from chalicelib.domain.errors import BuildFailed
from chalicelib.domain.models import ServiceSettings
from chalicelib.domain.ports import BuildRequest
from chalicelib.domain.toolchains import node_arch
from tests.fakes import FakeBlobStore, FakeLog
from tests.support.npm_registry import RegistryServer, publish_node, toolchain_registry
from tests.support.tarballs import pack

SOURCES, ARTIFACTS = "sources", "artifacts"
pytestmark = pytest.mark.skipif(
    platform.machine().lower() not in ("x86_64", "amd64", "aarch64", "arm64"),
    reason="no Node binaries are published for this machine",
)


def plan_with(tools: dict[str, str], *build: str) -> Callable[[SourceTree, str | None], BuildPlan]:
    """A node plan that runs `build` with `tools` requested (what the planner reads from the app)."""

    def planner(tree: SourceTree, override: str | None) -> BuildPlan:
        return BuildPlan(
            "node", (), build, "node index.js", {"PATH": "{app}/node_modules/.bin:{PATH}"}, tools=tools
        )

    return planner


def source(blobs: FakeBlobStore, key: str, text: str) -> str:
    blobs.put_bytes(SOURCES, key, pack({"index.js": text}))
    return key


def request(key: str, deployment_id: str, service_id: str) -> BuildRequest:
    return BuildRequest(
        deployment_id=deployment_id,
        service_id=service_id,
        source_key=key,
        settings=ServiceSettings(build_timeout=60.0),
        variables={},
    )


def artifact(blobs: FakeBlobStore, key: str) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(blobs.get_bytes(ARTIFACTS, key)), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


@pytest.fixture
def registry() -> Iterator[RegistryServer]:
    with toolchain_registry() as server:
        yield server


BUILD = ("node --version > node.txt", "pnpm --version > pnpm.txt", "pnpm install --frozen-lockfile > ran.txt")


def test_the_requested_node_and_pnpm_build_the_app_and_are_recorded_for_its_runtime(
    tmp_path: Path, registry: RegistryServer
) -> None:
    blobs = FakeBlobStore()
    runner = LocalBuildRunner(
        str(tmp_path / "data"),
        blobs,
        SOURCES,
        ARTIFACTS,
        planner=plan_with({"node": "22", "pnpm": "^9"}, *BUILD),
        npm_registry=registry.url,
    )
    log = FakeLog()
    result = runner.build(request(source(blobs, "a.tgz", "1"), "dep_a", "svc_a"), log, lambda: None)

    files = artifact(blobs, result.artifact_key)
    assert files["node.txt"] == b"v22.12.0\n"
    assert files["pnpm.txt"] == b"9.15.4\n"
    assert files["ran.txt"] == b"pnpm 9.15.4 ran: install --frozen-lockfile\n"
    runtime_path = json.loads(files[".railyard/runtime.json"])["env"]["PATH"]
    app_bin, node_bin, pnpm_bin, rest = runtime_path.split(os.pathsep)
    assert (app_bin, rest) == ("{app}/node_modules/.bin", "{PATH}")
    # The app runs on the versions it was built with, from the toolchain store.
    assert os.path.realpath(os.path.join(node_bin, "node")).endswith("package/bin/node")
    assert os.path.isdir(pnpm_bin) and "pnpm@9.15.4" in pnpm_bin
    assert any(
        line.startswith("toolchain: node 22.12.0 (requested '22') downloaded from") for line in log.lines
    )


def test_a_second_app_with_the_same_versions_downloads_nothing(
    tmp_path: Path, registry: RegistryServer
) -> None:
    blobs = FakeBlobStore()
    runner = LocalBuildRunner(
        str(tmp_path / "data"),
        blobs,
        SOURCES,
        ARTIFACTS,
        planner=plan_with({"node": "22", "pnpm": "^9"}, *BUILD),
        npm_registry=registry.url,
    )
    runner.build(request(source(blobs, "a.tgz", "1"), "dep_a", "svc_a"), FakeLog(), lambda: None)
    downloaded = list(registry.tarball_requests)

    log = FakeLog()
    second = runner.build(request(source(blobs, "b.tgz", "2"), "dep_b", "svc_b"), log, lambda: None)

    assert registry.tarball_requests == downloaded
    assert "toolchain: node 22.12.0 (requested '22') from the toolchain store" in log.lines
    assert artifact(blobs, second.artifact_key)["pnpm.txt"] == b"9.15.4\n"


def test_a_version_that_cannot_be_had_fails_the_build_before_any_command(
    tmp_path: Path, registry: RegistryServer
) -> None:
    blobs = FakeBlobStore()
    runner = LocalBuildRunner(
        str(tmp_path / "data"),
        blobs,
        SOURCES,
        ARTIFACTS,
        planner=plan_with({"node": ">=30"}, "touch built.txt"),
        npm_registry=registry.url,
    )
    log = FakeLog()
    started = time.monotonic()
    with pytest.raises(BuildFailed) as raised:
        runner.build(request(source(blobs, "a.tgz", "1"), "dep_a", "svc_a"), log, lambda: None)

    assert time.monotonic() - started < 5
    package = f"node-linux-{node_arch(platform.machine())}"
    assert str(raised.value) == (
        f"node '>=30' cannot be had: {registry.url} publishes no version of {package} matching it; "
        "available: 18.20.4, 20.18.1, 22.12.0"
    )
    assert not any(line.startswith("$ ") for line in log.lines)
    assert registry.tarball_requests == []


def test_a_newer_node_for_the_same_spec_installs_the_dependencies_again(
    tmp_path: Path, registry: RegistryServer
) -> None:
    # GIVEN an app asking for node "22" whose dependency layer was installed on node 22.12.0
    def planner(tree: SourceTree, override: str | None) -> BuildPlan:
        return BuildPlan(
            "node",
            ("mkdir -p node_modules && node --version > node_modules/built-with.txt",),
            (),
            "node index.js",
            tools={"node": "22"},
            deps_inputs=("index.js.lock",),
            deps_dirs=("node_modules",),
        )

    def build(key: str, text: str, deployment_id: str) -> tuple[dict[str, bytes], FakeLog]:
        runner = LocalBuildRunner(  # a new runner: a restarted platform, no metadata remembered
            str(tmp_path / "data"), blobs, SOURCES, ARTIFACTS, planner=planner, npm_registry=registry.url
        )
        log = FakeLog()
        result = runner.build(request(source(blobs, key, text), deployment_id, "svc_a"), log, lambda: None)
        return artifact(blobs, result.artifact_key), log

    blobs = FakeBlobStore()
    first, _ = build("a.tgz", "1", "dep_a")
    assert first["node_modules/built-with.txt"] == b"v22.12.0\n"

    # WHEN node 22.13.0 is published and a source-only change is built
    publish_node(registry, "22.13.0")
    second, log = build("b.tgz", "2", "dep_b")

    # THEN its dependencies are installed again, on the node the app now runs on
    assert second["node_modules/built-with.txt"] == b"v22.13.0\n"
    assert any(line.startswith("deps: cache miss") for line in log.lines), log.lines
    # and the next source-only change on the same node reuses that layer
    _, third = build("c.tgz", "3", "dep_c")
    assert any(line.startswith("deps: cache hit") for line in third.lines), third.lines
