"""Retention rules with fakes: which releases are kept, what pruning removes, rollbacks to pruned
releases, old logs, and running twice (SQS delivers at least once)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.api.errors import body_for, status_for
from chalicelib.domain.errors import Conflict, ReleasePruned
from chalicelib.domain.intake import SourceIntake
from chalicelib.domain.models import DeploymentStatus, Release
from chalicelib.domain.pipeline import Pipeline
from chalicelib.domain.projects import ProjectService
from chalicelib.domain.retention import Retention, RetentionPolicy
from chalicelib.domain.services import DeploymentService
from chalicelib.domain.task_runner import TaskRunner
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

WHO = admin_access("org_1")
ARTIFACTS = "artifacts"


class ArtifactsWithMetadata(FakeBuildRunner):
    """A build runner whose artifacts are two objects (as the local one's): the tarball and the
    metadata that marks it complete."""

    def artifact_objects(self, artifact_key: str) -> list[str]:
        return [artifact_key + ".json", artifact_key]


class World:
    """The control plane with fakes and a clock that tests move; deploys run the real pipeline."""

    def __init__(self, keep: int = 3, log_days: int = 30) -> None:
        counter = itertools.count(1)
        self.now = datetime(2026, 1, 1, tzinfo=UTC)
        self.repo = InMemoryRepository()
        self.blobs = FakeBlobStore()
        self.logs = FakeLogStore()
        self.runtime = FakeRuntime()
        self.builds = ArtifactsWithMetadata()
        self.callbacks = FakeCallbacks()
        ids = lambda prefix: f"{prefix}_{next(counter):06d}"  # noqa: E731
        self.projects = ProjectService(self.repo, self.clock, ids)
        self.deployments = DeploymentService(
            self.repo, FakeWorkflow(), self.blobs, self.projects, self.logs, "sources", self.clock, ids
        )
        intake = SourceIntake(self.repo, self.blobs, self.clock, "sources", ARTIFACTS)
        self.pipeline = Pipeline(self.repo, self.builds, self.runtime, self.logs, self.clock, intake=intake)
        self.runner = TaskRunner(self.pipeline, self.callbacks)
        self.policy = RetentionPolicy(keep, timedelta(days=log_days))
        self.retention = Retention(
            self.repo, self.blobs, self.logs, self.runtime, ARTIFACTS, self.policy, self.clock,
            artifact_objects=self.builds.artifact_objects,
        )  # fmt: skip
        _, envs = self.projects.create_project(WHO, "demo")
        self.service = self.projects.create_service(WHO, envs[0].id, "web", None)

    def clock(self) -> datetime:
        return self.now

    def deploy(self, source: bytes | None = None) -> str:
        """`railyard up` of a new source through Build and Deploy; its artifact lands in the bucket."""
        _, key = self.deployments.presign_upload(WHO, self.service.id)
        self.blobs.put_bytes("sources", key, source if source is not None else key.encode())
        deployment = self.deployments.deploy_source(WHO, self.service.id, key)
        return self.run(deployment.id)

    def run(self, deployment_id: str) -> str:
        if self.repo.get_deployment(deployment_id).artifact_key is None:
            self.runner.run({"taskToken": "p", "deploymentId": deployment_id, "action": "prepare"})
        if self.repo.get_deployment(deployment_id).artifact_key is None:
            self.runner.run({"taskToken": "b", "deploymentId": deployment_id, "action": "build"})
            artifact = self.repo.get_deployment(deployment_id).artifact_key
            assert artifact is not None
            for key in self.builds.artifact_objects(artifact):
                self.blobs.put_bytes(ARTIFACTS, key, b"artifact")
        self.runner.run({"taskToken": "d", "deploymentId": deployment_id, "action": "deploy"})
        self.logs.open(deployment_id, "deploy").write("app output")
        self.now += timedelta(days=1)
        return deployment_id

    def release_of(self, deployment_id: str) -> Release:
        release_id = self.repo.get_deployment(deployment_id).release_id
        assert release_id is not None
        return self.repo.get_release(release_id)

    def releases(self) -> list[Release]:
        return self.repo.list_releases(self.service.id, limit=1000)

    def artifacts(self) -> set[str]:
        return {key for bucket, key in self.blobs.objects if bucket == ARTIFACTS}


def test_releases_beyond_the_newest_n_are_pruned_with_their_artifacts_and_directories() -> None:
    world = World(keep=3)
    deployed = [world.deploy() for _ in range(6)]

    report = world.retention.after_deployment(deployed[-1])

    assert report.kept == (6, 5, 4)
    assert report.pruned == (1, 2, 3)  # oldest first
    by_number = {r.number: r for r in world.releases()}
    assert [n for n, r in sorted(by_number.items()) if r.pruned] == [1, 2, 3]
    assert by_number[1].pruned_reason == "pruned by retention (keep 3)"
    kept_artifacts = {by_number[n].artifact_key for n in (4, 5, 6)}
    assert world.artifacts() == kept_artifacts | {key + ".json" for key in kept_artifacts}
    assert world.runtime.forgotten == [by_number[n].id for n in (1, 2, 3)]


def test_a_release_live_after_a_rollback_stays_while_newer_ones_go() -> None:
    world = World(keep=2)
    deployed = [world.deploy() for _ in range(3)]  # v1..v3
    rollback = world.deployments.rollback(WHO, world.service.id, deployed[0])  # v1 live again
    world.run(rollback.id)
    world.runtime.error = RuntimeError("health check never passed")
    failing = [world.deploy() for _ in range(2)]  # v4 and v5 fail: v1 stays live
    world.runtime.error = None
    assert all(world.repo.get_deployment(d).status == DeploymentStatus.FAILED for d in failing)

    report = world.retention.after_deployment(failing[-1])

    assert report.kept == (5, 4, 1)
    assert report.pruned == (2, 3)
    assert not world.release_of(deployed[0]).pruned
    assert world.release_of(deployed[0]).artifact_key in world.artifacts()


def test_a_redeploy_shares_its_artifact_so_pruning_the_original_keeps_the_file() -> None:
    world = World(keep=1)
    source = world.deploy()  # v1
    redeploy = world.deployments.redeploy(WHO, world.service.id)  # v2: same artifact
    world.run(redeploy.id)

    report = world.retention.after_deployment(redeploy.id)

    assert report.pruned == (1,)
    assert report.artifacts_deleted == 0
    assert world.release_of(source).artifact_key in world.artifacts()


def test_a_deployment_in_progress_keeps_the_release_it_activates() -> None:
    world = World(keep=1)
    deployed = [world.deploy() for _ in range(3)]
    rollback = world.deployments.rollback(WHO, world.service.id, deployed[0])  # QUEUED, v1

    report = world.retention.after_deployment(deployed[-1])

    assert report.pruned == (2,)
    assert not world.release_of(deployed[0]).pruned
    assert world.repo.get_deployment(rollback.id).status == DeploymentStatus.QUEUED


def test_rolling_back_to_a_pruned_release_is_a_clear_409() -> None:
    world = World(keep=2)
    deployed = [world.deploy() for _ in range(4)]
    world.retention.after_deployment(deployed[-1])

    with pytest.raises(ReleasePruned) as refused:
        world.deployments.rollback(WHO, world.service.id, deployed[0])

    assert str(refused.value) == "release v1 was pruned by retention (keep 2)"
    assert status_for(refused.value) == 409
    assert body_for(refused.value)["Code"] == "ReleasePruned"


def test_the_default_rollback_target_skips_pruned_releases() -> None:
    world = World(keep=1)
    [world.deploy() for _ in range(3)]  # v1, v2 pruned below; v3 live
    world.retention.after_deployment(world.repo.list_deployments(world.service.id, limit=1)[0].id)

    with pytest.raises(Conflict, match="no earlier release to roll back to"):
        world.deployments.rollback(WHO, world.service.id, None)


def test_a_rollback_accepted_before_its_release_was_pruned_fails_with_the_reason() -> None:
    world = World(keep=1)
    deployed = [world.deploy() for _ in range(3)]
    rollback = world.deployments.rollback(WHO, world.service.id, deployed[1])
    # What a run that read the deployments just before the rollback was created would have done:
    marked = world.release_of(deployed[1])
    world.repo.save(marked.bumped(pruned_at="2026-01-01T00:00:00.000Z", pruned_reason=world.policy.reason))

    world.run(rollback.id)

    failed = world.repo.get_deployment(rollback.id)
    assert failed.status == DeploymentStatus.FAILED
    assert failed.reason == "ReleasePruned: release v2 was pruned by retention (keep 1)"


def test_the_same_source_after_its_artifact_was_pruned_is_built_again() -> None:
    world = World(keep=1)
    first = world.deploy(b"the same bytes")
    world.deploy()
    world.retention.after_deployment(world.deploy())  # v1 pruned, its artifact gone
    built = len(world.builds.calls)

    again = world.deploy(b"the same bytes")

    assert len(world.builds.calls) == built + 1  # not "skipped: built before" with a missing artifact
    assert world.repo.get_deployment(again).status == DeploymentStatus.SUCCESS
    assert world.release_of(first).pruned


def test_running_twice_does_nothing_more() -> None:
    world = World(keep=2)
    deployed = [world.deploy() for _ in range(5)]
    first = world.retention.after_deployment(deployed[-1])
    releases, artifacts = world.releases(), world.artifacts()
    world.now += timedelta(hours=2)  # past the re-sweep of recent prunings

    second = world.retention.after_deployment(deployed[-1])

    assert first.pruned == (1, 2, 3)
    assert second.pruned == second.swept == ()
    assert world.releases() == releases and world.artifacts() == artifacts


def test_a_run_that_died_after_marking_is_finished_by_the_redelivery() -> None:
    world = World(keep=1)
    deployed = [world.deploy() for _ in range(3)]
    world.blobs.delete_keys = _fails_once(world.blobs.delete_keys)  # type: ignore[method-assign]
    with pytest.raises(OSError):
        world.retention.after_deployment(deployed[-1])
    assert world.release_of(deployed[0]).pruned  # marked, but its artifact is still there
    assert world.release_of(deployed[0]).artifact_key in world.artifacts()
    world.now += timedelta(minutes=5)  # SQS hands the message out again

    redelivered = world.retention.after_deployment(deployed[-1])

    assert redelivered.pruned == ()
    assert redelivered.swept == (1, 2)
    assert world.release_of(deployed[0]).artifact_key not in world.artifacts()


def test_logs_past_the_retention_go_except_those_of_kept_releases() -> None:
    world = World(keep=2, log_days=3)
    deployed = [world.deploy() for _ in range(8)]  # one a day
    world.runtime.error = RuntimeError("health check never passed")
    failed = world.deploy()  # v9, FAILED
    world.runtime.error = None
    world.now += timedelta(days=10)

    report = world.retention.after_deployment(failed)

    assert set(report.logs_deleted) == set(deployed[:7])  # v8 is live and v9 the newest: kept
    assert {deployment for deployment, _ in world.logs.streams} == {deployed[7], failed}


def test_recent_logs_stay_whatever_the_release() -> None:
    world = World(keep=1, log_days=30)
    deployed = [world.deploy() for _ in range(5)]

    report = world.retention.after_deployment(deployed[-1])

    assert report.logs_deleted == ()
    assert {d for d, _ in world.logs.streams} == set(deployed)


def test_a_long_history_is_read_only_down_to_what_earlier_runs_settled() -> None:
    world = World(keep=2)
    deployed = [world.deploy() for _ in range(80)]
    world.retention.after_deployment(deployed[-1])
    world.now += timedelta(hours=2)
    limits: list[int] = []
    list_releases = world.repo.list_releases

    def counting(service_id: str, limit: int = 20) -> list[Release]:
        limits.append(limit)
        return list_releases(service_id, limit)

    world.repo.list_releases = counting  # type: ignore[method-assign]
    world.retention.after_deployment(world.deploy())

    assert limits == [13]  # one query: the 2 kept, the newly superseded one and ten settled ones


def _fails_once(delete):  # type: ignore[no-untyped-def]
    calls = []

    def wrapper(bucket: str, keys: list[str]) -> None:
        calls.append(keys)
        if len(calls) == 1:
            raise OSError("S3 went away")
        delete(bucket, keys)

    return wrapper


def test_the_settings_come_from_the_environment_and_a_bad_value_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from chalicelib.config import Settings

    monkeypatch.setenv("RAILYARD_KEEP_RELEASES", "3")
    monkeypatch.setenv("RAILYARD_LOG_RETENTION_DAYS", "7")
    settings = Settings.from_env()
    assert (settings.keep_releases, settings.log_retention_days) == (3, 7)

    monkeypatch.setenv("RAILYARD_KEEP_RELEASES", "ten")
    with pytest.raises(ValueError, match="RAILYARD_KEEP_RELEASES='ten' is not a whole number"):
        Settings.from_env()
    monkeypatch.setenv("RAILYARD_KEEP_RELEASES", "-1")
    with pytest.raises(ValueError, match="RAILYARD_KEEP_RELEASES=-1 must be between 0 and 1000"):
        Settings.from_env()
    monkeypatch.delenv("RAILYARD_KEEP_RELEASES")
    monkeypatch.setenv("RAILYARD_LOG_RETENTION_DAYS", "0")
    with pytest.raises(ValueError, match="RAILYARD_LOG_RETENTION_DAYS=0 must be between 1 and 3650"):
        Settings.from_env()


def test_a_settled_log_history_costs_a_few_listings_not_one_per_deployment() -> None:
    world = World(keep=1, log_days=3)
    [world.deploy() for _ in range(30)]
    world.now += timedelta(days=10)
    world.retention.after_deployment(world.deploy())  # deletes the logs of 29 deployments
    asked: list[str] = []
    delete = world.logs.delete

    def counting(deployment_id: str) -> int:
        asked.append(deployment_id)
        return delete(deployment_id)

    world.logs.delete = counting  # type: ignore[method-assign]
    world.retention.after_deployment(world.deploy())

    assert len(asked) == 3  # three whose logs were already gone, then it stops (not 29 listings)
