"""Exactly one winner per service: the promotion is the commit point, checked and committed by the
runtime around the switch, so whatever the interleaving the newest deployment ends live, a
superseded one ends SKIPPED with a reason, and a step the workflow gave up never goes live."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

from chalicelib.domain.models import DeploymentStatus
from chalicelib.domain.ports import ReleaseSpec
from tests.support.domain_world import WHO, World


def built(world: World) -> str:
    """A source deployment whose Prepare and Build steps ran: what the Deploy step starts from."""
    deployment = world.deployments.deploy_source(WHO, world.service.id, world.upload())
    world.runner.run({"taskToken": f"p-{deployment.id}", "deploymentId": deployment.id, "action": "prepare"})
    world.runner.run({"taskToken": f"b-{deployment.id}", "deploymentId": deployment.id, "action": "build"})
    return deployment.id


def deploy_step(world: World, deployment_id: str) -> None:
    world.runner.run(
        {
            "taskToken": f"d-{deployment_id}",
            "deploymentId": deployment_id,
            "action": "deploy",
            "heartbeatSeconds": 120,
        }
    )


def outcome(world: World, token: str) -> tuple[str, Any]:
    (found,) = [(kind, detail) for kind, t, detail in world.callbacks.outcomes if t == token]
    return found


def test_a_newer_deployment_committing_while_an_older_one_health_checks_wins() -> None:
    # GIVEN an older deployment, built and past its check
    world = World()
    older = built(world)
    created: list[str] = []

    # WHEN a newer one is made and goes live while the older one is past its health check
    def newer_goes_live_first(spec: ReleaseSpec) -> None:
        if spec.deployment_id == older:
            created.append(built(world))
            deploy_step(world, created[0])

    world.runtime.before_commit = newer_goes_live_first
    deploy_step(world, older)
    (newer,) = created

    # THEN the newer one is live, and the older one never took the traffic and ends SKIPPED
    assert world.repo.get_deployment(newer).status == DeploymentStatus.SUCCESS
    assert world.repo.get_service(world.service.id).active_deployment_id == newer
    assert [spec.deployment_id for spec in world.runtime.activated] == [newer]
    skipped = world.repo.get_deployment(older)
    assert skipped.status == DeploymentStatus.SKIPPED
    assert skipped.reason == f"superseded by {newer} (created later), which is live"
    # the workflow hears a normal end (no MarkFailed), with the status for its completed event
    assert outcome(world, f"d-{older}") == ("success", {"status": "SKIPPED", "releaseId": None})
    assert "deploy: not switched: superseded" in "\n".join(world.logs.streams[(older, "deploy")].lines)


def test_an_older_deployment_is_not_started_when_a_newer_one_is_on_its_way() -> None:
    # GIVEN an older and a newer deployment, both built, neither deployed
    world = World()
    older, newer = built(world), built(world)

    # WHEN the older one's Deploy step runs first
    deploy_step(world, older)

    # THEN it starts nothing (the newer one would replace it at once) and ends SKIPPED with the reason
    assert world.runtime.activated == []
    skipped = world.repo.get_deployment(older)
    assert skipped.status == DeploymentStatus.SKIPPED
    assert skipped.reason == f"superseded by {newer} (created later), which is BUILDING"
    deploy_step(world, newer)
    assert world.repo.get_service(world.service.id).active_deployment_id == newer


def test_an_older_deployment_that_committed_first_is_replaced_by_the_newer_one() -> None:
    # GIVEN an older deployment past its check; a newer one is made before the older one commits
    world = World()
    older = built(world)
    created: list[str] = []

    def newer_arrives(spec: ReleaseSpec) -> None:
        if spec.deployment_id == older:
            created.append(built(world))

    world.runtime.before_commit = newer_arrives
    deploy_step(world, older)
    (newer,) = created
    deploy_step(world, newer)

    # THEN both went live in turn, and the newer one is what is left live
    assert [spec.deployment_id for spec in world.runtime.activated] == [older, newer]
    assert world.repo.get_deployment(newer).status == DeploymentStatus.SUCCESS
    assert world.repo.get_deployment(older).status == DeploymentStatus.REMOVED
    assert world.repo.get_deployment(older).reason == f"replaced by {newer}"
    assert world.repo.get_service(world.service.id).active_deployment_id == newer


def test_a_step_whose_task_timed_out_before_its_switch_never_goes_live() -> None:
    # GIVEN a live deployment and a newer one whose Deploy task times out during its health check
    world = World()
    live = world.deploy()
    late = built(world)
    world.runtime.before_commit = lambda spec: world.callbacks.expired.add(f"d-{late}")

    # WHEN its step reaches the commit point
    deploy_step(world, late)

    # THEN it stops there: no switch, nothing reported on the dead token, the previous one serves
    assert [spec.deployment_id for spec in world.runtime.activated] == [live]
    assert [o for o in world.callbacks.outcomes if o[1] == f"d-{late}"] == []
    assert world.repo.get_service(world.service.id).active_deployment_id == live
    # and the workflow's failure path records the end, naming the step and its limit
    world.mark_failed(late, "Deploy", "States.Timeout")
    failed = world.repo.get_deployment(late)
    assert failed.status == DeploymentStatus.FAILED
    assert (
        failed.reason == "Deploy step timed out: no heartbeat for 120 s (its worker stopped or lost contact)"
    )


def test_a_deployment_failed_by_the_workflow_before_its_switch_cannot_commit() -> None:
    # GIVEN a deployment whose step timed out and whose MarkFailed already ran, while its worker
    # (which did not notice: an emulator may still accept the late heartbeat) health-checks
    world = World()
    live = world.deploy()
    late = built(world)
    world.runtime.before_commit = lambda spec: world.mark_failed(late, "Deploy", "States.Timeout")

    deploy_step(world, late)

    # THEN the conditional write refuses it: never live, and its reason stays the timeout's
    assert [spec.deployment_id for spec in world.runtime.activated] == [live]
    assert world.repo.get_deployment(late).status == DeploymentStatus.FAILED
    assert (world.repo.get_deployment(late).reason or "").startswith("Deploy step timed out")
    assert world.repo.get_service(world.service.id).active_deployment_id == live


def test_a_deployment_cancelled_during_its_health_check_never_goes_live() -> None:
    world = World()
    live = world.deploy()
    cancelled = built(world)
    world.runtime.before_commit = lambda spec: world.deployments.cancel(WHO, cancelled)

    deploy_step(world, cancelled)

    assert [spec.deployment_id for spec in world.runtime.activated] == [live]
    assert world.repo.get_deployment(cancelled).status == DeploymentStatus.CANCELLED
    assert outcome(world, f"d-{cancelled}")[1][0] == "DeploymentCancelled"


def test_a_redelivered_deploy_step_of_a_superseded_deployment_changes_nothing() -> None:
    world = World()
    older, newer = built(world), built(world)
    deploy_step(world, newer)
    deploy_step(world, older)  # superseded: SKIPPED
    world.callbacks.outcomes.clear()

    deploy_step(world, older)  # SQS delivers at least once

    assert world.repo.get_deployment(older).status == DeploymentStatus.SKIPPED
    assert outcome(world, f"d-{older}") == ("success", {"status": "SKIPPED", "releaseId": None})
    assert [spec.deployment_id for spec in world.runtime.activated] == [newer]


def test_twenty_concurrent_deploys_of_one_service_leave_the_newest_live_and_none_failed() -> None:
    # GIVEN twenty built deployments of one service
    world = World()
    ids = [built(world) for _ in range(20)]
    jitter = random.Random(8)

    def pause(spec: ReleaseSpec) -> None:
        time.sleep(jitter.random() / 500)  # let the other threads reach their commits in between

    world.runtime.before_commit = pause

    # WHEN their Deploy steps run at once, in a shuffled order
    order = ids[:]
    jitter.shuffle(order)
    threads = [threading.Thread(target=deploy_step, args=(world, d)) for d in order]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # THEN the newest is live, every other one ended SKIPPED or REMOVED, none FAILED or stuck
    statuses = {d: world.repo.get_deployment(d).status for d in ids}
    assert statuses[ids[-1]] == DeploymentStatus.SUCCESS
    assert world.repo.get_service(world.service.id).active_deployment_id == ids[-1]
    assert {statuses[d] for d in ids[:-1]} <= {DeploymentStatus.SKIPPED, DeploymentStatus.REMOVED}
    assert world.runtime.activated[-1].deployment_id == ids[-1]
    deploy_outcomes = [kind for kind, token, _ in world.callbacks.outcomes if token.startswith("d-")]
    assert deploy_outcomes == ["success"] * 20
