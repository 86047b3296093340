"""Reconciliation after a platform restart, with fakes: what was in flight ends FAILED with the
reason, what was live comes back, what cannot come back is CRASHED, nothing else moves."""

from __future__ import annotations

from chalicelib.domain.errors import HealthCheckFailed
from chalicelib.domain.models import DeploymentStatus
from chalicelib.domain.reconcile import INTERRUPTED, Reconciler
from tests.support.domain_world import NOW, WHO, World


def _reconciler(world: World) -> Reconciler:
    return Reconciler(world.repo, world.runtime, world.logs, lambda: NOW)


def test_deployments_in_flight_end_failed_with_the_reason_and_a_log_line() -> None:
    world = World()
    live = world.deploy()
    queued = world.deployments.deploy_source(WHO, world.service.id, world.upload()).id  # never ran

    ended = _reconciler(world).end_interrupted()

    assert ended == [queued]
    assert world.repo.get_deployment(queued).status == DeploymentStatus.FAILED
    assert world.repo.get_deployment(queued).reason == INTERRUPTED
    assert f"deployment FAILED: {INTERRUPTED}" in "\n".join(world.logs.open(queued, "deploy").lines)
    assert world.repo.get_deployment(live).status == DeploymentStatus.SUCCESS
    assert _reconciler(world).end_interrupted() == []  # idempotent


def test_live_releases_come_back_and_one_that_cannot_is_crashed() -> None:
    world = World()
    first = world.deploy()
    other = world.projects.create_service(WHO, world.service.environment_id, "api", None)
    world.service = other
    second = world.deploy()
    world.runtime.activated.clear()
    reconciler = _reconciler(world)

    services = reconciler.live_services(list(WHO.principal.workspace_ids))
    restored = reconciler.restore(services)

    assert sorted(spec.deployment_id for spec in world.runtime.activated) == sorted([first, second])
    assert all(r.error is None for r in restored)
    assert "platform restarted: bringing release v1 back up" in "\n".join(
        world.logs.open(first, "deploy").lines
    )

    world.runtime.activated.clear()
    world.runtime.error = HealthCheckFailed("no answer on /health within 5s")
    restored = reconciler.restore(reconciler.live_services(list(WHO.principal.workspace_ids)))
    assert {r.error for r in restored} == {"no answer on /health within 5s"}
    crashed = world.repo.get_deployment(first)
    assert crashed.status == DeploymentStatus.CRASHED
    assert crashed.reason is not None and "did not come back after a platform restart" in crashed.reason
    # a crashed release is not brought back again
    assert reconciler.live_services(list(WHO.principal.workspace_ids)) == []


def test_nothing_to_do_on_an_empty_platform() -> None:
    world = World()
    reconciler = _reconciler(world)
    assert reconciler.end_interrupted() == []
    assert reconciler.restore(reconciler.live_services(list(WHO.principal.workspace_ids))) == []
