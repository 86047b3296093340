"""Limits a build enforces (domain/limits.py): the source's where sources are read and extracted
(the builders' extraction, which local and CodeBuild share, and the watch-pattern inspector that
runs before every build), and the bounds on what a build stores on the deployment item (start
command, config-file settings). A user sees a FAILED deployment whose build log's last line names
the limit. No sockets: fakes and tmp dirs."""

from __future__ import annotations

import itertools
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters.builds.trees import extract
from chalicelib.adapters.sources import TarballSources
from chalicelib.domain.built_release import BuiltRelease
from chalicelib.domain.errors import BuildFailed
from chalicelib.domain.intake import SourceIntake
from chalicelib.domain.limits import (
    MAX_COMMAND_CHARS,
    MAX_CONFIG_FILE_BYTES,
    MAX_SOURCE_BYTES,
    MAX_SOURCE_FILES,
)
from chalicelib.domain.models import DeploymentStatus
from chalicelib.domain.pipeline import Pipeline
from chalicelib.domain.ports import BuildRequest, BuildResult, Progress
from chalicelib.domain.projects import ProjectService
from chalicelib.domain.services import DeploymentService
from chalicelib.domain.task_runner import TaskRunner
from railyard.tarball import TarballError, pack_directory
from tests.fakes import (
    FakeBlobStore,
    FakeBuildRunner,
    FakeCallbacks,
    FakeLogStore,
    FakeRuntime,
    FakeWorkflow,
    InMemoryRepository,
)
from tests.support.principals import admin_access
from tests.support.tarballs import many_files, small_source, tar_bomb

WHO = admin_access("org_1")
THREE_GIB = 3 * 1024**3


def _archive(tmp_path: Path, data: bytes) -> str:
    path = tmp_path / "source.tar.gz"
    path.write_bytes(data)
    return str(path)


def test_a_tar_bomb_fails_at_its_header_before_anything_is_written(tmp_path: Path) -> None:
    dest = tmp_path / "src"
    dest.mkdir()
    archive = _archive(tmp_path, tar_bomb(THREE_GIB))
    started = time.monotonic()

    with pytest.raises(BuildFailed, match=r"source limit: the source expands to more than 2048\.0 MiB"):
        extract(archive, str(dest))

    assert time.monotonic() - started < 5
    assert os.listdir(dest) == []


def test_a_source_with_more_files_than_the_limit_is_refused(tmp_path: Path) -> None:
    dest = tmp_path / "src"
    dest.mkdir()

    with pytest.raises(BuildFailed, match=f"more than {MAX_SOURCE_FILES} files"):
        extract(_archive(tmp_path, many_files(MAX_SOURCE_FILES + 1)), str(dest))

    assert os.listdir(dest) == []


def test_a_source_within_the_limits_is_extracted(tmp_path: Path) -> None:
    dest = tmp_path / "src"
    dest.mkdir()
    extract(_archive(tmp_path, small_source()), str(dest))
    assert (dest / "main.py").read_text() == "print('hi')\n"


class World:
    """A source deployment's Build step with the real inspector over an in-memory bucket."""

    def __init__(self, max_upload_bytes: int = 500 * 1024**2, builds: FakeBuildRunner | None = None) -> None:
        counter = itertools.count(1)
        self.repo = InMemoryRepository()
        self.blobs = FakeBlobStore()
        self.builds = builds or FakeBuildRunner()
        self.logs = FakeLogStore()
        self.callbacks = FakeCallbacks()
        clock = lambda: datetime(2026, 1, 1, tzinfo=UTC)  # noqa: E731
        ids = lambda prefix: f"{prefix}_{next(counter):06d}"  # noqa: E731
        projects = ProjectService(self.repo, clock, ids)
        self.deployments = DeploymentService(
            self.repo, FakeWorkflow(), self.blobs, projects, self.logs, "sources", clock, ids
        )
        sources = TarballSources(self.blobs, "sources", max_upload_bytes)
        intake = SourceIntake(self.repo, self.blobs, clock, "sources")
        pipeline = Pipeline(
            self.repo, self.builds, FakeRuntime(), self.logs, clock, sources=sources, intake=intake
        )
        self.runner = TaskRunner(pipeline, self.callbacks)
        _, envs = projects.create_project(WHO, "demo")
        self.service = projects.create_service(WHO, envs[0].id, "web", None)

    def build(self, tarball: bytes) -> str:
        _, key = self.deployments.presign_upload(WHO, self.service.id)
        self.blobs.put_bytes("sources", key, tarball)
        deployment_id = self.deployments.deploy_source(WHO, self.service.id, key).id
        self.runner.run({"taskToken": "p", "deploymentId": deployment_id, "action": "prepare"})
        self.runner.run({"taskToken": "t", "deploymentId": deployment_id, "action": "build"})
        return deployment_id


@pytest.mark.parametrize(
    ("tarball", "limit_named"),
    [
        (lambda: tar_bomb(THREE_GIB), f"expands to more than {MAX_SOURCE_BYTES / 1024**2:.1f} MiB"),
        (lambda: many_files(MAX_SOURCE_FILES + 1), f"more than {MAX_SOURCE_FILES} files"),
        (
            lambda: small_source({"railway.json": b" " * (MAX_CONFIG_FILE_BYTES + 1)}),
            f"railway.json is {MAX_CONFIG_FILE_BYTES + 1} bytes",
        ),
    ],
    ids=["uncompressed size", "file count", "config file"],
)
def test_a_source_over_a_limit_fails_its_deployment_with_a_log_line_naming_it(tarball, limit_named) -> None:  # type: ignore[no-untyped-def]
    world = World()

    deployment_id = world.build(tarball())

    deployment = world.repo.get_deployment(deployment_id)
    assert deployment.status == DeploymentStatus.FAILED
    assert limit_named in (deployment.reason or "")
    (last,) = world.logs.streams[(deployment_id, "build")].lines[-1:]
    assert last.startswith("build failed: ") and " limit: " in last and limit_named in last
    assert world.builds.calls == []  # never handed to a builder


def test_an_upload_over_the_upload_limit_fails_before_it_is_read() -> None:
    """moto does not enforce the presigned POST's content-length-range, so the build checks it."""
    source = small_source()
    world = World(max_upload_bytes=len(source) - 1)

    deployment_id = world.build(source)

    deployment = world.repo.get_deployment(deployment_id)
    assert deployment.status == DeploymentStatus.FAILED
    last = world.logs.streams[(deployment_id, "build")].lines[-1]
    assert last.startswith("build failed: upload limit:") and "RAILYARD_MAX_UPLOAD_BYTES" in last


def test_the_cli_refuses_a_directory_over_the_file_limit_before_packing(tmp_path: Path) -> None:
    for i in range(4):
        (tmp_path / f"f{i}.txt").write_text("x")

    with pytest.raises(
        TarballError, match="holds 4 files and directories to deploy, over the source limit of 3"
    ):
        pack_directory(tmp_path, max_files=3)


class LongStartCommand(FakeBuildRunner):
    """A build whose detected start command (say, package.json's "start") is over the limit."""

    def build(self, request: BuildRequest, log: Any, progress: Progress) -> BuildResult:
        result = super().build(request, log, progress)
        return BuildResult(
            BuiltRelease(result.built.artifact_key, "x" * (MAX_COMMAND_CHARS + 1)), False, "node"
        )


def test_a_start_command_over_the_limit_fails_the_build_instead_of_overflowing_the_item() -> None:
    world = World(builds=LongStartCommand())

    deployment_id = world.build(small_source())

    deployment = world.repo.get_deployment(deployment_id)
    assert deployment.status == DeploymentStatus.FAILED and deployment.start_command is None
    assert deployment.reason == (
        f"BuildFailed: start command limit: the start command is {MAX_COMMAND_CHARS + 1} characters; "
        f"the limit is {MAX_COMMAND_CHARS}"
    )


def test_a_config_file_setting_over_its_limit_fails_the_build() -> None:
    too_long = "x" * (MAX_COMMAND_CHARS + 1)
    world = World(builds=FakeBuildRunner(deploy_settings={"pre_deploy_command": too_long}))

    deployment_id = world.build(small_source())

    assert world.repo.get_deployment(deployment_id).status == DeploymentStatus.FAILED
    last = world.logs.streams[(deployment_id, "build")].lines[-1]
    assert f"settings.preDeployCommand is {MAX_COMMAND_CHARS + 1} characters; the limit is" in last
