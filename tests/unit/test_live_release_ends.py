"""The sweep ends live releases a looking runtime (Kubernetes) found stopped for good
(docs/decisions/0030): COMPLETED or CRASHED with the reason in the deploy log, only from SUCCESS,
and the runtime retires a release only once its end is recorded; two that learn of one end at once
record it once (domain/live_end.py)."""

from __future__ import annotations

from typing import Any, cast

from chalicelib.domain.live_end import record_live_end
from chalicelib.domain.models import DeploymentStatus as S
from chalicelib.domain.ports import ReleaseEnd, Repository
from chalicelib.domain.sweeper import DeploymentSweeper
from tests.fakes import FakeLiveReleaseWatch
from tests.support.domain_world import NOW, World

WHY = "the process exited with code 0; restart policy ON_FAILURE does not restart a clean exit"


def live_world() -> tuple[World, str, FakeLiveReleaseWatch, DeploymentSweeper]:
    world = World()
    deployment_id = world.deploy()
    assert world.repo.get_deployment(deployment_id).status == S.SUCCESS
    watch = FakeLiveReleaseWatch()
    return (
        world,
        deployment_id,
        watch,
        DeploymentSweeper(world.repo, world.workflow, world.logs, lambda: NOW, watch),
    )


def end_of(world: World, deployment_id: str, completed: bool, reason: str = WHY) -> ReleaseEnd:
    deployment = world.repo.get_deployment(deployment_id)
    assert deployment.release_id is not None
    return ReleaseEnd(deployment.service_id, deployment_id, deployment.release_id, reason, completed)


def deploy_log(world: World, deployment_id: str) -> list[str]:
    return world.logs.open(deployment_id, "deploy").lines


def test_a_clean_end_is_completed_with_the_reason_logged_then_retired_once() -> None:
    world, deployment_id, watch, sweeper = live_world()
    watch.ends.append(end_of(world, deployment_id, completed=True))

    ended = sweeper.sweep()

    assert [(d.id, d.status, d.reason) for d in ended] == [(deployment_id, S.COMPLETED, WHY)]
    assert deploy_log(world, deployment_id)[-2:] == [f"completed: {WHY}", f"retired {ended[0].release_id}"]
    assert sweeper.sweep() == [] and len(watch.retired) == 1


def test_only_success_moves_and_a_replaced_release_is_left_to_its_successor() -> None:
    world, crashed_id, watch, sweeper = live_world()
    job_id = world.deploy()  # the crashed one's successor is the job: the first is REMOVED now
    job = world.repo.get_deployment(job_id)
    world.repo.save(job.moved_to(S.COMPLETED, "2026-01-01T00:00:01.000Z", reason="a job"))
    watch.ends += [end_of(world, crashed_id, completed=False, reason="code 1"), end_of(world, job_id, True)]

    assert sweeper.sweep() == []  # REMOVED and COMPLETED deployments do not move

    assert world.repo.get_deployment(crashed_id).status == S.REMOVED
    assert [end.deployment_id for end in watch.retired] == [job_id]  # a REMOVED one belongs to its successor
    assert not any(line.startswith(("crashed:", "completed:")) for line in deploy_log(world, job_id))


def test_a_live_release_that_crashed_is_crashed() -> None:
    world, deployment_id, watch, sweeper = live_world()
    watch.ends.append(end_of(world, deployment_id, completed=False, reason="the process exited with code 1"))

    assert [d.status for d in sweeper.sweep()] == [S.CRASHED]
    assert "crashed: the process exited with code 1" in deploy_log(world, deployment_id)


def test_a_cluster_that_cannot_be_read_does_not_stop_the_sweep() -> None:
    world, deployment_id, watch, sweeper = live_world()
    watch.error = OSError("connection refused")

    assert sweeper.sweep() == []
    assert world.repo.get_deployment(deployment_id).status == S.SUCCESS


class _RacedRepository:
    """The world's repository, where another writer records the same end (CRASHED) just before
    this one's first write lands."""

    def __init__(self, world: World) -> None:
        self._inner = world.repo
        self._raced = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def save(self, *entities: Any) -> None:
        if not self._raced:
            self._raced = True
            other = self._inner.get_deployment(entities[0].id)
            self._inner.save(other.moved_to(S.CRASHED, "2026-01-01T00:00:01.000Z", reason="seen first"))
        self._inner.save(*entities)


def test_two_that_learn_of_one_end_at_once_record_it_once() -> None:
    # GIVEN a live deployment, and another writer that records its end first
    world, deployment_id, _, _ = live_world()
    raced = _RacedRepository(world)
    announced: list[str] = []

    # WHEN this one records the end too
    deployment, moved = record_live_end(
        cast("Repository", raced), lambda: NOW, deployment_id, WHY, True, lambda: announced.append("why")
    )

    # THEN its conditional write loses, it decides on the stored deployment, and moves nothing
    assert (deployment.status, deployment.reason, moved) == (S.CRASHED, "seen first", False)
    assert world.repo.get_deployment(deployment_id).status == S.CRASHED
    assert announced == ["why"]  # announced once, before the write that lost
