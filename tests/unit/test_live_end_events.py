"""A live release that stops for good puts its deployment's second `deployment.completed` on the bus
(domain/live_end.py): exactly the call that moved the deployment publishes it, whichever of the three
learned of the end (the local runtime's crash listener, the sweep of a looking runtime, a restore after
a platform restart); a call that moved nothing publishes nothing, and a bus that refuses the event
neither undoes the end nor stops the caller."""

from __future__ import annotations

from typing import Any, cast

from chalicelib.domain.errors import HealthCheckFailed
from chalicelib.domain.events import LIVE_END_SOURCE, DeploymentCompleted
from chalicelib.domain.live_end import record_live_end
from chalicelib.domain.models import DeploymentStatus as S
from chalicelib.domain.ports import ReleaseEnd, Repository
from chalicelib.domain.reconcile import Reconciler
from chalicelib.domain.sweeper import DeploymentSweeper
from tests.fakes import FakeLiveReleaseWatch
from tests.support.domain_world import NOW, WHO, World

CODE_1 = "the process exited with code 1 (restarted 2 times)"


def _live() -> tuple[World, str]:
    world = World()
    deployment_id = world.deploy()
    assert world.repo.get_deployment(deployment_id).status == S.SUCCESS
    return world, deployment_id


def _announced(world: World) -> list[tuple[str, str]]:
    """(deployment id, status) of each event put on the bus, each checked against the contract."""
    found = []
    for envelope in world.events.published:
        data = envelope.typed_data()
        assert isinstance(data, DeploymentCompleted) and envelope.is_live_end
        assert (envelope.metadata.event_name, envelope.metadata.event_source) == (
            "deployment.completed",
            LIVE_END_SOURCE,
        )
        assert envelope.metadata.correlation_id == data.deployment_id
        assert envelope.metadata.created_at == world.repo.get_deployment(data.deployment_id).updated_at
        found.append((data.deployment_id, data.status))
    return found


def test_a_crash_the_runtime_reports_twice_is_put_on_the_bus_once() -> None:
    # GIVEN a live deployment
    world, deployment_id = _live()

    # WHEN the runtime's crash listener reports its end, and reports it again
    world.pipeline.mark_crashed(deployment_id, CODE_1)
    world.pipeline.mark_crashed(deployment_id, CODE_1)

    # THEN one CRASHED deployment.completed went out, for the deployment and service that crashed
    assert _announced(world) == [(deployment_id, "CRASHED")]
    assert world.events.published[0].data["service_id"] == world.service.id


def test_a_job_that_ran_to_its_end_is_announced_completed() -> None:
    world, deployment_id = _live()

    world.pipeline.mark_crashed(deployment_id, "the process exited with code 0", completed=True)

    assert _announced(world) == [(deployment_id, "COMPLETED")]


def test_only_the_one_that_moved_it_publishes_when_the_sweep_and_the_listener_both_learn_of_it() -> None:
    # GIVEN a live deployment whose end a looking runtime found
    world, deployment_id = _live()
    deployment = world.repo.get_deployment(deployment_id)
    assert deployment.release_id is not None
    watch = FakeLiveReleaseWatch(
        [ReleaseEnd(deployment.service_id, deployment_id, deployment.release_id, CODE_1, False)]
    )
    sweeper = DeploymentSweeper(
        world.repo, world.workflow, world.logs, lambda: NOW, watch, events=world.events
    )

    # WHEN the sweep records it, then the crash listener learns of it too
    assert [d.status for d in sweeper.sweep()] == [S.CRASHED]
    world.pipeline.mark_crashed(deployment_id, "seen later")

    # THEN the sweep's event is the only one
    assert _announced(world) == [(deployment_id, "CRASHED")]


def test_no_event_for_a_deployment_that_did_not_move() -> None:
    # GIVEN a deployment replaced by its successor (REMOVED), and one that already crashed
    world, replaced = _live()
    crashed = world.deploy()
    world.pipeline.mark_crashed(crashed, CODE_1)
    world.events.published.clear()

    # WHEN both are reported stopped
    world.pipeline.mark_crashed(replaced, CODE_1)
    world.pipeline.mark_crashed(crashed, "again")

    # THEN neither moved, and nothing went on the bus
    assert world.repo.get_deployment(replaced).status == S.REMOVED
    assert world.events.published == []


class _RacedRepository:
    """The world's repository, where another writer records the same end just before this one's write."""

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


def test_the_one_whose_conditional_write_lost_the_race_publishes_nothing() -> None:
    world, deployment_id = _live()

    _, moved = record_live_end(
        cast("Repository", _RacedRepository(world)),
        lambda: NOW,
        deployment_id,
        CODE_1,
        False,
        events=world.events,
    )

    assert moved is False and world.events.published == []  # the winner announces it


def test_a_bus_that_refuses_the_event_does_not_undo_the_end_or_fail_the_caller() -> None:
    world, deployment_id = _live()
    world.events.error = RuntimeError("the deployment.completed event was not accepted")

    world.pipeline.mark_crashed(deployment_id, CODE_1)  # does not raise

    assert world.repo.get_deployment(deployment_id).status == S.CRASHED


def test_a_release_that_does_not_come_back_after_a_restart_is_announced_crashed() -> None:
    # GIVEN a live deployment, and a runtime that cannot bring it back after a platform restart
    world, deployment_id = _live()
    world.runtime.error = HealthCheckFailed("no answer on /health within 5s")
    reconciler = Reconciler(world.repo, world.runtime, world.logs, lambda: NOW, events=world.events)

    # WHEN the platform restores its live releases
    reconciler.restore(reconciler.live_services(list(WHO.principal.workspace_ids)))

    # THEN the crash went on the bus
    assert _announced(world) == [(deployment_id, "CRASHED")]
