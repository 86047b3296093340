"""The Build step with an asynchronous build runner (CodeBuild), with fakes: the step starts the build
and leaves its task token waiting; the build's state-change event completes it."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from chalicelib.domain.errors import NothingToBuild
from chalicelib.domain.intake import SourceIntake
from chalicelib.domain.models import DeploymentStatus, source_fingerprint
from chalicelib.domain.pipeline import Pipeline
from chalicelib.domain.pipeline_build import PENDING_BUILD_TTL
from chalicelib.domain.ports import BuildStateChange, PendingBuild
from chalicelib.domain.projects import ProjectService
from chalicelib.domain.services import DeploymentService
from chalicelib.domain.task_runner import TaskRunner
from tests.fakes import (
    FakeAsyncBuildRunner,
    FakeBlobStore,
    FakeCallbacks,
    FakeLogStore,
    FakeRuntime,
    FakeWorkflow,
    InMemoryRepository,
)
from tests.support.principals import admin_access

WHO = admin_access("org_1")
NOW = datetime(2026, 1, 1, tzinfo=UTC)
LOGS = "https://console.aws.amazon.com/cloudwatch/home#logEvent:group=/aws/codebuild/builds;stream=1"


class World:
    def __init__(self, builds: FakeAsyncBuildRunner | None = None) -> None:
        counter = itertools.count(1)
        self.repo = InMemoryRepository()
        self.blobs = FakeBlobStore()
        self.builds = builds or FakeAsyncBuildRunner()
        self.runtime = FakeRuntime()
        self.logs = FakeLogStore()
        self.callbacks = FakeCallbacks()
        clock = lambda: NOW  # noqa: E731
        ids = lambda prefix: f"{prefix}_{next(counter):06d}"  # noqa: E731
        self.projects = ProjectService(self.repo, clock, ids)
        self.deployments = DeploymentService(
            self.repo, FakeWorkflow(), self.blobs, self.projects, self.logs, "sources", clock, ids
        )
        intake = SourceIntake(self.repo, self.blobs, clock, "sources")
        self.pipeline = Pipeline(self.repo, self.builds, self.runtime, self.logs, clock, intake=intake)
        self.runner = TaskRunner(self.pipeline, self.callbacks)
        _, envs = self.projects.create_project(WHO, "demo")
        self.service = self.projects.create_service(WHO, envs[0].id, "web", None)

    def deployment(self) -> str:
        _, key = self.deployments.presign_upload(WHO, self.service.id)
        self.blobs.put_bytes("sources", key, key.encode())
        deployment_id = self.deployments.deploy_source(WHO, self.service.id, key).id
        self.runner.run({"taskToken": "prepare", "deploymentId": deployment_id, "action": "prepare"})
        self.callbacks.outcomes.clear()  # the Prepare step's; the tests look at the Build step's
        return deployment_id

    def build_step(self, deployment_id: str, token: str = "build-token") -> None:
        self.runner.run({"taskToken": token, "deploymentId": deployment_id, "action": "build"})

    def pending(self, deployment_id: str) -> list[PendingBuild]:
        return self.repo.list_pending_builds(deployment_id)

    def build_log(self, deployment_id: str) -> list[str]:
        return self.logs.streams[(deployment_id, "build")].lines


def ended(build_id: str, status: str = "SUCCEEDED", **details: Any) -> BuildStateChange:
    reported = details.pop("reported_status", status)
    return BuildStateChange(build_id=build_id, status=status, reported_status=reported, **details)


def test_the_build_step_starts_a_build_and_leaves_its_token_waiting() -> None:
    world = World()
    deployment_id = world.deployment()

    world.build_step(deployment_id)

    assert [r.deployment_id for r in world.builds.started] == [deployment_id]
    assert world.callbacks.outcomes == []  # the token waits for the build's event
    (pending,) = world.pending(deployment_id)
    assert pending == world.repo.get_pending_build(pending.build_id)
    assert pending.task_token == "build-token" and pending.finished is None
    assert pending.expires_at == int(NOW.timestamp()) + PENDING_BUILD_TTL
    assert world.repo.get_deployment(deployment_id).status == DeploymentStatus.BUILDING
    assert f"build: started CodeBuild build {pending.build_id}" in world.build_log(deployment_id)


def test_a_redelivered_or_retried_step_starts_no_second_build() -> None:
    world = World()
    deployment_id = world.deployment()
    world.build_step(deployment_id)
    world.build_step(deployment_id)  # SQS redelivered the same message
    world.build_step(deployment_id, token="retry-token")  # the workflow retried the step

    assert len(world.builds.started) == 1
    (pending,) = world.pending(deployment_id)
    assert pending.task_token == "retry-token"
    assert world.callbacks.outcomes == []

    world.runner.build_changed(ended(pending.build_id))
    assert [(kind, token) for kind, token, _ in world.callbacks.outcomes] == [("success", "retry-token")]


def test_a_succeeded_build_records_artifact_and_image_and_completes_the_step() -> None:
    world = World(FakeAsyncBuildRunner(deploy_settings={"healthcheck_path": "/ready"}))
    deployment_id = world.deployment()
    world.build_step(deployment_id)
    (pending,) = world.pending(deployment_id)

    world.runner.build_changed(ended(pending.build_id))

    artifact = f"artifacts/codebuild/{deployment_id}/artifact.tar.gz"
    # The same output the synchronous path gives: BuildCompleted reads it.
    assert world.callbacks.outcomes == [
        ("success", "build-token", {"artifactKey": artifact, "cached": False, "skipped": False})
    ]
    deployment = world.repo.get_deployment(deployment_id)
    assert deployment.status == DeploymentStatus.BUILDING
    assert deployment.artifact_key == artifact
    assert deployment.start_command == "node server.js"
    assert deployment.image == world.builds.image
    assert deployment.config.settings.healthcheck_path == "/ready"  # the config file's settings
    assert world.pending(deployment_id)[0].finished == "SUCCEEDED"
    assert f"build: CodeBuild build {pending.build_id} SUCCEEDED" in world.build_log(deployment_id)
    # Deploying the same bytes again skips the build and keeps the image.
    assert deployment.source_etag is not None
    built = world.repo.get_built_source(
        world.service.id, source_fingerprint(deployment.source_etag, deployment.config)
    )
    assert built.built.image == world.builds.image and built.artifact_key == artifact

    world.runner.run({"taskToken": "deploy-token", "deploymentId": deployment_id, "action": "deploy"})
    assert world.callbacks.outcomes[-1][0] == "success"
    release = world.repo.get_release(world.repo.get_deployment(deployment_id).release_id or "")
    assert release.image == world.builds.image
    assert world.runtime.activated[-1].image == world.builds.image


def test_a_failed_build_fails_the_deployment_with_codebuilds_reason() -> None:
    world = World()
    deployment_id = world.deployment()
    world.build_step(deployment_id)
    (pending,) = world.pending(deployment_id)

    world.runner.build_changed(
        ended(
            pending.build_id,
            "FAILED",
            phase="BUILD (FAILED)",
            context="COMMAND_EXECUTION_ERROR: Error while executing command: npm run build. "
            "Reason: exit status 2",
            logs=LOGS,
        )
    )

    ((kind, token, (error, cause)),) = world.callbacks.outcomes
    assert (kind, token, error) == ("failure", "build-token", "BuildFailed")
    expected = (
        f"CodeBuild build {pending.build_id} FAILED in phase BUILD (FAILED): COMMAND_EXECUTION_ERROR: "
        f"Error while executing command: npm run build. Reason: exit status 2; build log: {LOGS}"
    )
    assert cause == expected
    deployment = world.repo.get_deployment(deployment_id)
    assert deployment.status == DeploymentStatus.FAILED
    assert deployment.reason == f"BuildFailed: {expected}"
    assert f"build failed: {expected}" in world.build_log(deployment_id)
    assert deployment.artifact_key is None
    assert world.pending(deployment_id)[0].finished == "FAILED"


def test_a_timed_out_build_says_so() -> None:
    world = World()
    deployment_id = world.deployment()
    world.build_step(deployment_id)
    (pending,) = world.pending(deployment_id)
    world.runner.build_changed(ended(pending.build_id, "FAILED", reported_status="TIMED_OUT", phase="BUILD"))
    reason = world.repo.get_deployment(deployment_id).reason or ""
    assert reason == f"BuildFailed: CodeBuild build {pending.build_id} TIMED_OUT in phase BUILD"


def test_a_stopped_build_fails_an_active_deployment_and_leaves_a_cancelled_one_cancelled() -> None:
    world = World()
    stopped = world.deployment()
    world.build_step(stopped, token="a")
    world.runner.build_changed(ended(world.pending(stopped)[0].build_id, "STOPPED"))
    assert world.repo.get_deployment(stopped).status == DeploymentStatus.FAILED
    assert "was stopped before it finished" in (world.repo.get_deployment(stopped).reason or "")

    cancelled = world.deployment()
    world.build_step(cancelled, token="b")
    world.deployments.cancel(WHO, cancelled)
    world.runner.build_changed(ended(world.pending(cancelled)[0].build_id, "STOPPED"))
    assert world.repo.get_deployment(cancelled).status == DeploymentStatus.CANCELLED
    assert world.callbacks.outcomes[-1][:2] == ("failure", "b")
    assert world.callbacks.outcomes[-1][2][0] == "DeploymentCancelled"


def test_duplicate_unknown_and_progress_events_complete_nothing() -> None:
    world = World()
    deployment_id = world.deployment()
    world.build_step(deployment_id)
    (pending,) = world.pending(deployment_id)

    world.runner.build_changed(ended(pending.build_id, "IN_PROGRESS"))
    assert world.callbacks.outcomes == []
    world.runner.build_changed(ended("builds:somebody-else"))
    assert world.callbacks.outcomes == []

    world.runner.build_changed(ended(pending.build_id))
    world.runner.build_changed(ended(pending.build_id))  # SQS delivered the event twice
    world.runner.build_changed(ended(pending.build_id, "FAILED"))  # or a contradicting late one
    assert len(world.callbacks.outcomes) == 1
    assert world.repo.get_deployment(deployment_id).status == DeploymentStatus.BUILDING
    assert world.repo.get_deployment(deployment_id).artifact_key is not None


def test_a_token_re_pointed_while_the_event_is_handled_hears_the_outcome_too() -> None:
    world = World()
    deployment_id = world.deployment()
    world.build_step(deployment_id)
    (pending,) = world.pending(deployment_id)
    real_finish = world.pipeline.finish_build

    def finish_while_a_retried_step_re_points(*args: Any) -> Any:
        world.build_step(deployment_id, token="retry-token")
        return real_finish(*args)

    world.pipeline.finish_build = finish_while_a_retried_step_re_points  # type: ignore[method-assign,assignment]
    world.runner.build_changed(ended(pending.build_id))

    assert [(kind, token) for kind, token, _ in world.callbacks.outcomes] == [
        ("success", "build-token"),
        ("success", "retry-token"),
    ]
    assert world.pending(deployment_id)[0].finished == "SUCCEEDED"
    assert len(world.builds.started) == 1


def test_a_build_record_recorded_meanwhile_gets_the_new_token() -> None:
    """CodeBuild's idempotency token returns a build that a concurrent step already recorded."""
    world = World(FakeAsyncBuildRunner(idempotent=True))
    deployment_id = world.deployment()
    world.build_step(deployment_id)
    (pending,) = world.pending(deployment_id)
    world.repo.items.pop(("pending", pending.build_id))  # as if the index had not caught up
    world.repo.save(pending)

    original = world.repo.list_pending_builds
    world.repo.list_pending_builds = lambda deployment_id: []  # type: ignore[method-assign]
    world.build_step(deployment_id, token="retry-token")
    world.repo.list_pending_builds = original  # type: ignore[method-assign]

    (stored,) = world.pending(deployment_id)
    assert stored.build_id == pending.build_id and stored.task_token == "retry-token"
    assert world.callbacks.outcomes == []


def test_a_source_that_cannot_be_planned_fails_the_step_without_a_build() -> None:
    world = World(FakeAsyncBuildRunner(error=NothingToBuild("no provider recognised the source")))
    deployment_id = world.deployment()
    world.build_step(deployment_id)
    assert world.callbacks.outcomes[-1][2][0] == "NothingToBuild"
    assert world.repo.get_deployment(deployment_id).status == DeploymentStatus.FAILED
    assert world.pending(deployment_id) == []


def test_a_success_without_the_build_record_is_a_build_failure() -> None:
    world = World()
    deployment_id = world.deployment()
    world.build_step(deployment_id)
    (pending,) = world.pending(deployment_id)
    world.builds.started.clear()  # result() finds no record
    world.runner.build_changed(ended(pending.build_id))
    assert world.callbacks.outcomes[-1][2][0] == "BuildFailed"
    assert "succeeded, but no build record" in (world.repo.get_deployment(deployment_id).reason or "")
