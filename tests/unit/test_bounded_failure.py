"""Bounded failure: every step's limits come from one table, a step whose task the workflow gave up
stops and reports nothing, and the reason a user reads for a timeout names the step and the limit.
The sweeper ends what a dead worker could not."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib.domain.errors import TaskExpired
from chalicelib.domain.limits import (
    StepFailure,
    StepLimits,
    failure_reason,
    step_limits,
)
from chalicelib.domain.models import DeploymentStatus, ServiceSettings
from chalicelib.domain.ports import WorkflowRun
from chalicelib.domain.promotion import TaskLease
from chalicelib.domain.sweeper import DeploymentSweeper
from tests.support.domain_world import LIMITS, NOW, WHO, World

LOCAL = step_limits(ServiceSettings(build_timeout=900), builds_beat=True)
CODEBUILD = step_limits(ServiceSettings(build_timeout=61), builds_beat=False)


# -- the limits -------------------------------------------------------------------------------------


def test_a_local_build_beats_and_may_run_its_build_timeout_plus_a_margin() -> None:
    assert (LOCAL.build_heartbeat_seconds, LOCAL.build_timeout_seconds) == (120, 1200)
    assert LOCAL.build_beats
    assert (LOCAL.deploy_heartbeat_seconds, LOCAL.deploy_timeout_seconds) == (120, 3900)


def test_a_codebuild_build_keeps_only_a_timeout_above_codebuilds_own() -> None:
    # CodeBuild's own limit is whole minutes, at least five: 61 s becomes 300 s; +300 s margin
    assert (CODEBUILD.build_timeout_seconds, CODEBUILD.build_beats) == (600, False)
    assert CODEBUILD.build_heartbeat_seconds < CODEBUILD.build_timeout_seconds  # the ASL requires it
    assert StepLimits.from_input(CODEBUILD.workflow_input()) == CODEBUILD


@pytest.mark.parametrize(
    ("failure", "limits", "elapsed", "reason"),
    [
        (
            StepFailure("Build", "States.HeartbeatTimeout"),
            LOCAL,
            500,
            "Build step timed out: no heartbeat for 120 s (its worker stopped or lost contact)",
        ),
        (  # moto reports a missed heartbeat as States.Timeout: told apart by how long the step ran
            StepFailure("Build", "States.Timeout"),
            LOCAL,
            130,
            "Build step timed out: no heartbeat for 120 s (its worker stopped or lost contact)",
        ),
        (
            StepFailure("Build", "States.Timeout"),
            LOCAL,
            1200,
            "Build step timed out after 1200 s (buildTimeout 900 s + 300 s)",
        ),
        (
            StepFailure("Build", "States.Timeout"),
            CODEBUILD,
            600,
            "Build step timed out after 600 s: the build service never reported the build's end "
            "(buildTimeout 61 s + 300 s)",
        ),
        (
            StepFailure("Deploy", "States.Timeout"),
            None,
            121,
            "Deploy step timed out: no heartbeat for 120 s (its worker stopped or lost contact)",
        ),
        (StepFailure("Requested", "States.Timeout"), None, 61, "Requested step timed out"),
        (
            StepFailure("Build", "BuildFailed", "`npm ci` exited with code 1"),
            LOCAL,
            5,
            "BuildFailed: `npm ci` exited with code 1",
        ),
    ],
    ids=[
        "heartbeat",
        "heartbeat-as-timeout",
        "own-limit",
        "codebuild",
        "deploy",
        "event-step",
        "not-a-timeout",
    ],
)
def test_the_reason_names_the_step_and_the_limit_never_states_timeout(
    failure: StepFailure, limits: StepLimits | None, elapsed: float, reason: str
) -> None:
    assert failure_reason(failure, limits, NOW - timedelta(seconds=elapsed), NOW) == reason


# -- a step whose task the workflow gave up ------------------------------------------------------------


def test_a_lease_expires_after_the_heartbeat_limit_without_an_acknowledged_beat() -> None:
    # GIVEN a lease on a 120 s heartbeat, whose worker then stalls (paused, starved) for 121 s
    now = [0.0]
    sent: list[float] = []
    lease = TaskLease(lambda: sent.append(now[0]), 120, lambda: now[0])
    now[0] = 100.0
    lease.beat()
    now[0] = 221.0

    # WHEN it beats again, THEN the task is gone (the workflow timed it out), without asking
    with pytest.raises(TaskExpired, match="121 s"):
        lease.beat()
    assert sent == [100.0]
    now[0] = 222.0
    with pytest.raises(TaskExpired):  # and stays gone
        lease.beat()


def test_a_lease_is_gone_once_the_workflow_says_so() -> None:
    def refused() -> None:
        raise TaskExpired("TaskTimedOut")

    lease = TaskLease(refused, 120, lambda: 0.0)
    with pytest.raises(TaskExpired):
        lease.beat()


def test_a_deploy_step_whose_message_waited_past_the_heartbeat_limit_is_not_worked_on() -> None:
    # GIVEN a built deployment whose Deploy message waited 130 s for a free worker (limit 120 s):
    # the workflow timed the task out meanwhile, even if the emulator would still take a beat
    world = World()
    live = world.deploy()
    late = world.deployments.redeploy(WHO, world.service.id)

    world.runner.run(
        {"taskToken": "d", "deploymentId": late.id, "action": "deploy", "heartbeatSeconds": 120},
        queued_seconds=130,
    )

    # THEN nothing is rolled out, nothing asked or reported; the previous release keeps serving
    assert [spec.deployment_id for spec in world.runtime.activated] == [live]
    assert "d" not in world.callbacks.beats
    assert [o for o in world.callbacks.outcomes if o[1] == "d"] == []
    assert world.repo.get_deployment(late.id).status == DeploymentStatus.QUEUED


def test_a_build_step_whose_task_was_given_up_while_queued_does_not_build() -> None:
    # GIVEN a deployment whose Build task timed out while its message waited for a worker
    world = World()
    deployment = world.deployments.deploy_source(WHO, world.service.id, world.upload())
    world.callbacks.expired.add("b")

    # WHEN a worker finally takes the message
    world.runner.run(
        {"taskToken": "b", "deploymentId": deployment.id, "action": "build", "heartbeatSeconds": 120}
    )

    # THEN nothing is built and nothing reported: the workflow's failure path records the end
    assert world.builds.calls == []
    assert world.callbacks.outcomes == []
    assert world.repo.get_deployment(deployment.id).status == DeploymentStatus.QUEUED


def test_mark_failed_records_a_builds_missed_heartbeat_with_the_step_and_the_limit() -> None:
    world = World()
    deployment = world.deployments.deploy_source(WHO, world.service.id, world.upload())

    world.mark_failed(deployment.id, "Build", "States.Timeout")

    failed = world.repo.get_deployment(deployment.id)
    assert failed.status == DeploymentStatus.FAILED
    assert (
        failed.reason == "Build step timed out: no heartbeat for 120 s (its worker stopped or lost contact)"
    )
    assert world.logs.streams[(deployment.id, "deploy")].lines[-1] == f"deployment FAILED: {failed.reason}"
    assert world.callbacks.outcomes[-1] == ("success", "f", {"status": "FAILED"})


def test_mark_failed_understands_an_execution_started_by_the_previous_definition() -> None:
    # An execution keeps the definition it started with: its MarkFailed sends `error`, no step.
    world = World()
    deployment = world.deployments.deploy_source(WHO, world.service.id, world.upload())

    world.runner.run(
        {
            "taskToken": "f",
            "deploymentId": deployment.id,
            "action": "fail",
            "error": {"Error": "States.Timeout", "Cause": ""},
        }
    )

    assert world.repo.get_deployment(deployment.id).reason == "A step timed out"


# -- the sweeper ------------------------------------------------------------------------------------


def sweeper(world: World, later: timedelta = timedelta(0)) -> DeploymentSweeper:
    return DeploymentSweeper(world.repo, world.workflow, world.logs, lambda: NOW + later)


def test_the_sweeper_ends_a_deployment_whose_workflow_failed_with_no_worker_to_record_it() -> None:
    # GIVEN a deployment stuck BUILDING: its Build step timed out and MarkFailed found no worker
    world = World()
    deployment = world.deployments.deploy_source(WHO, world.service.id, world.upload())
    world.repo.save(
        world.repo.get_deployment(deployment.id).moved_to(
            DeploymentStatus.BUILDING, "2026-01-01T00:00:00.000Z"
        )
    )
    world.workflow.runs[deployment.id] = WorkflowRun(
        "FAILED", failure={"Build": {"Error": "States.Timeout", "Cause": ""}}, limits=LIMITS
    )

    # WHEN the sweep runs (a few minutes later)
    ended = sweeper(world, timedelta(minutes=7)).sweep()

    # THEN it ends FAILED with the reason the workflow would have recorded
    assert [d.id for d in ended] == [deployment.id]
    failed = world.repo.get_deployment(deployment.id)
    assert failed.status == DeploymentStatus.FAILED
    assert (
        failed.reason == "Build step timed out: no heartbeat for 120 s (its worker stopped or lost contact)"
    )
    assert world.logs.streams[(deployment.id, "deploy")].lines[-1] == f"deployment FAILED: {failed.reason}"
    assert sweeper(world).sweep() == []  # idempotent


def test_the_sweeper_leaves_running_and_finished_workflows_alone() -> None:
    world = World()
    running = world.deployments.deploy_source(WHO, world.service.id, world.upload())
    world.workflow.runs[running.id] = WorkflowRun("RUNNING")
    done = world.deploy()
    world.workflow.runs[done] = WorkflowRun("SUCCEEDED")

    assert sweeper(world, timedelta(hours=1)).sweep() == []
    assert world.repo.get_deployment(running.id).status == DeploymentStatus.QUEUED
    assert world.repo.get_deployment(done).status == DeploymentStatus.SUCCESS


def test_a_deployment_whose_workflow_never_started_ends_after_a_grace_period() -> None:
    world = World()
    orphan = world.deployments.deploy_source(WHO, world.service.id, world.upload())  # FakeWorkflow: no run

    assert sweeper(world, timedelta(seconds=30)).settle(orphan.id) is None  # may be starting
    ended = sweeper(world, timedelta(minutes=3)).settle(orphan.id)

    assert ended is not None
    assert (ended.status, ended.reason) == (DeploymentStatus.FAILED, "its workflow never started")


def test_a_succeeded_workflow_that_left_its_deployment_in_progress_ends_it() -> None:
    world = World()
    stuck = world.deployments.deploy_source(WHO, world.service.id, world.upload())
    world.workflow.runs[stuck.id] = WorkflowRun("SUCCEEDED")

    ended = sweeper(world).settle(stuck.id)

    assert ended is not None
    assert ended.reason == "its workflow ended (SUCCEEDED) without recording the deployment's end"
