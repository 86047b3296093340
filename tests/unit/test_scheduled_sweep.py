"""What AWS's scheduled sweep does (DeploymentSweeper.sweep_unreported, functions/sweep.py): only what
no event reports there, live releases that ended and deployments whose execution never started, in
bounded batches, and each end recorded once when two runs overlap (docs/decisions/0030)."""

from __future__ import annotations

from datetime import timedelta

from chalicelib.domain.models import DeploymentStatus as S
from chalicelib.domain.ports import ReleaseEnd, WorkflowRun
from chalicelib.domain.sweeper import DeploymentSweeper
from tests.fakes import FakeLiveReleaseWatch
from tests.support.domain_world import LIMITS, NOW, WHO, World

WHY = "the process exited with code 0; restart policy ON_FAILURE does not restart a clean exit"


def scheduled(
    world: World, watch: FakeLiveReleaseWatch, later: timedelta = timedelta(0)
) -> DeploymentSweeper:
    return DeploymentSweeper(world.repo, world.workflow, world.logs, lambda: NOW + later, watch)


def live_end(world: World, deployment_id: str) -> ReleaseEnd:
    deployment = world.repo.get_deployment(deployment_id)
    assert deployment.release_id is not None
    return ReleaseEnd(deployment.service_id, deployment_id, deployment.release_id, WHY, completed=True)


def test_two_overlapping_runs_record_a_live_end_once() -> None:
    # GIVEN a live release that ended, seen by two runs (the second listed it before the first
    # retired it, as two overlapping scheduled runs would)
    world = World()
    deployment_id = world.deploy()
    end = live_end(world, deployment_id)
    first, second = FakeLiveReleaseWatch(ends=[end]), FakeLiveReleaseWatch(ends=[end])

    # WHEN both run
    one = scheduled(world, first).sweep_unreported()
    two = scheduled(world, second).sweep_unreported()

    # THEN the first records COMPLETED, the second changes nothing, and the log says it once
    assert [(d.id, d.status) for d in one.ended] == [(deployment_id, S.COMPLETED)]
    assert two.ended == () and two.left == 0
    assert world.repo.get_deployment(deployment_id).status == S.COMPLETED
    lines = world.logs.open(deployment_id, "deploy").lines
    assert lines.count(f"completed: {WHY}") == 1
    # AND both retire it (idempotent): a run that saw the end recorded still stops what is left
    assert first.retired == second.retired == [end]


def test_a_deployment_whose_execution_never_started_is_ended_by_the_schedule() -> None:
    # GIVEN a deployment written by an API that died before starting its execution (no run)
    world = World()
    orphan = world.deployments.deploy_source(WHO, world.service.id, world.upload())

    # WHEN the schedule runs within the grace, then after it
    assert scheduled(world, FakeLiveReleaseWatch(), timedelta(seconds=30)).sweep_unreported().ended == ()
    report = scheduled(world, FakeLiveReleaseWatch(), timedelta(minutes=3)).sweep_unreported()

    # THEN it ends FAILED, saying why
    assert [(d.id, d.status, d.reason) for d in report.ended] == [
        (orphan.id, S.FAILED, "its workflow never started")
    ]


def test_an_execution_that_ended_is_left_to_its_event_and_a_running_one_alone() -> None:
    # GIVEN a deployment whose execution failed (AWS's status-change event reports it) and one
    # whose execution runs
    world = World()
    failed = world.deployments.deploy_source(WHO, world.service.id, world.upload())
    world.workflow.runs[failed.id] = WorkflowRun(
        "FAILED", failure={"Build": {"Error": "States.Timeout", "Cause": ""}}, limits=LIMITS
    )
    running = world.deployments.deploy_source(WHO, world.service.id, world.upload())
    world.workflow.runs[running.id] = WorkflowRun("RUNNING")

    # WHEN the schedule runs
    report = scheduled(world, FakeLiveReleaseWatch(), timedelta(minutes=10)).sweep_unreported()

    # THEN neither moves: the event handler (functions/execution_events.py) settles the failed one
    assert report.ended == ()
    assert world.repo.get_deployment(failed.id).status == S.QUEUED
    assert world.repo.get_deployment(running.id).status == S.QUEUED


def test_a_run_handles_a_bounded_batch_and_leaves_the_rest_to_the_next() -> None:
    # GIVEN three deployments whose executions never started
    world = World()
    orphans = [world.deployments.deploy_source(WHO, world.service.id, world.upload()).id for _ in range(3)]
    sweeper = scheduled(world, FakeLiveReleaseWatch(), timedelta(minutes=3))

    # WHEN runs of batch 2 follow one another
    first = sweeper.sweep_unreported(batch=2)
    second = sweeper.sweep_unreported(batch=2)

    # THEN the first ends the two oldest and counts one left; the next ends that one
    assert ([d.id for d in first.ended], first.left) == (orphans[:2], 1)
    assert ([d.id for d in second.ended], second.left) == (orphans[2:], 0)
