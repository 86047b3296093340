"""Environments on fakes (chalicelib/domain/environments.py): the whole story a PR environment
worker relies on: an "ensure" copy that a retry completes, promotion through the real pipeline
steps, and a teardown that a retry finishes after a crash in the middle."""

from __future__ import annotations

import pytest

from chalicelib.domain.environments import Environments, system_access
from chalicelib.domain.errors import NotFound, ProductionEnvironment
from chalicelib.domain.models import DeploymentKind, DeploymentStatus
from tests.support.domain_world import WHO, World
from tests.support.environment_store import InMemoryEnvironmentStore


def _environments(world: World) -> tuple[Environments, InMemoryEnvironmentStore]:
    store = InMemoryEnvironmentStore(world.repo)
    envs = Environments(
        world.repo,
        store,
        world.projects,
        world.deployments,
        lambda: world.runtime,
        world.workflow,
        world.blobs,
        world.logs,
        "artifacts",
        world.clock,
    )
    return envs, store


def test_an_ensure_copy_completes_what_a_first_try_left_and_makes_nothing_twice() -> None:
    world = World()
    envs, _ = _environments(world)
    production = world.repo.get_environment(world.service.environment_id)
    world.projects.create_service(WHO, production.id, "api", None)
    worker = system_access("org_1")
    first = envs.create(worker, production.project_id, "pr-7", copy_from="production")
    assert sorted(s.name for s in first.services) == ["api", "web"]
    # A first try that died after one service, before its variables: the retry makes only the
    # missing service and fills the variables in.
    world.deployments.set_variables(WHO, world.service.id, {"MODE": "prod"}, [])
    world.repo.items.pop(("Service", first.services[0].id))
    web_copy = next(s for s in first.services if s.name == "web")
    world.repo.items.pop(("vars", web_copy.id), None)
    again = envs.create(worker, production.project_id, "pr-7", copy_from="production", exist_ok=True)
    assert sorted(s.name for s in again.services) == ["api", "web"]
    assert again.environment.id == first.environment.id
    assert len(world.repo.list_services(first.environment.id)) == 2
    assert (
        world.repo.get_service(
            next(s.id for s in again.services if s.name == "web")
        ).settings.healthcheck_path
        == "/health"
    )


def test_promotion_runs_the_sources_artifact_with_the_targets_sealed_and_plain_variables() -> None:
    world = World()
    envs, _ = _environments(world)
    world.deployments.set_variables(WHO, world.service.id, {"MODE": "prod"}, [], {"TOKEN": "t0p"})
    world.deploy()
    production = world.repo.get_environment(world.service.environment_id)
    staging = envs.create(WHO, production.project_id, "staging", copy_from=production.id)
    [staging_web] = staging.services
    world.deployments.set_variables(WHO, staging_web.id, {"MODE": "staging"}, [])
    built = world.deployments.deploy_source(WHO, staging_web.id, _upload(world, staging_web.id))
    world.run_workflow(built.id)
    assert world.runtime.activated[-1].variables == {"MODE": "staging", "TOKEN": "t0p"}  # copy opens

    _, _, [promoted] = envs.promote(WHO, production.id, "staging")
    assert promoted.deployment is not None and promoted.deployment.kind is DeploymentKind.PROMOTION
    world.run_workflow(promoted.deployment.id)

    done = world.repo.get_deployment(promoted.deployment.id)
    assert done.status is DeploymentStatus.SUCCESS
    staged = world.repo.get_release(world.repo.get_service(staging_web.id).active_release_id or "")
    assert done.artifact_key == staged.artifact_key  # no rebuild
    assert world.runtime.activated[-1].variables == {"MODE": "prod", "TOKEN": "t0p"}


def test_a_teardown_that_died_halfway_is_finished_by_its_retry_and_production_is_refused() -> None:
    world = World()
    envs, store = _environments(world)
    production = world.repo.get_environment(world.service.environment_id)
    with pytest.raises(ProductionEnvironment):
        envs.delete(WHO, production.id)
    staging = envs.create(WHO, production.project_id, "staging", copy_from="production")
    [web] = staging.services
    deployment = world.deployments.deploy_source(WHO, web.id, _upload(world, web.id))
    world.run_workflow(deployment.id)
    artifact = world.repo.get_deployment(deployment.id).artifact_key
    assert artifact is not None
    world.blobs.put_bytes("artifacts", artifact, b"built")  # what a real build runner uploads

    store.fail_next = True
    with pytest.raises(ConnectionError):
        envs.delete(WHO, staging.environment.id)
    done = envs.delete(WHO, staging.environment.id)  # the queue's redelivery

    assert done.services == ("web",) and done.artifacts_deleted == 1
    assert not world.blobs.exists("artifacts", artifact)
    with pytest.raises(NotFound):
        world.repo.get_environment(staging.environment.id)
    with pytest.raises(NotFound):
        world.repo.get_service(web.id)
    assert [s.id for s in world.repo.list_services(production.id)] == [world.service.id]  # untouched


def _upload(world: World, service_id: str) -> str:
    _, key = world.deployments.presign_upload(WHO, service_id)
    world.blobs.put_bytes("sources", key, key.encode())
    return key
