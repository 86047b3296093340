"""Sealed variables in the domain, on fakes: stored and snapshotted only as ciphertext, never given
to builds, opened for the running release only, bound to their service and name, and carried by
redeploys and rollbacks (docs/decisions/0023)."""

from __future__ import annotations

import dataclasses

import pytest

from chalicelib.domain.errors import BadRequest
from chalicelib.domain.models import DeploymentStatus
from chalicelib.domain.reconcile import Reconciler
from chalicelib.domain.sealing import SealedValue, SealedValueUnreadable, open_variables, seal_variable
from chalicelib.domain.services import DeploymentService
from tests.fakes import FakeSealer
from tests.support.domain_world import NOW, WHO, World

SECRET = "sk_live_51HxY\n-----END-----\n"


def _live_world() -> World:
    world = World()
    world.deploy()
    return world


def _apply(world: World, **changes: dict[str, str]) -> str:
    """One variables change on a live service, its deployment run; returns the deployment id."""
    _, deployment = world.deployments.set_variables(
        WHO, world.service.id, changes.get("set", {}), list(changes.get("unset", {})), changes.get("sealed")
    )
    assert deployment is not None
    world.run_workflow(deployment.id)
    return deployment.id


def _stored_anywhere(world: World, needle: str) -> list[str]:
    """Every entity of the repository whose repr holds `needle` (what the table would hold)."""
    return [repr(e) for e in world.repo.items.values() if needle in repr(e)]


def test_a_sealed_value_reaches_the_running_release_and_is_stored_only_as_ciphertext() -> None:
    world = _live_world()
    listing, deployment = world.deployments.set_variables(
        WHO, world.service.id, {"MODE": "live"}, [], {"STRIPE_KEY": SECRET}
    )
    assert listing.plain == {"MODE": "live"} and listing.sealed == ("STRIPE_KEY",)
    assert deployment is not None and "STRIPE_KEY" not in deployment.config.variables
    SealedValue.from_text(deployment.config.sealed["STRIPE_KEY"])  # ciphertext, in its stored form
    world.run_workflow(deployment.id)
    assert world.repo.get_deployment(deployment.id).status == DeploymentStatus.SUCCESS
    assert world.runtime.activated[-1].variables == {"MODE": "live", "STRIPE_KEY": SECRET}
    assert world.sealer.opened == [{"railyard:service": world.service.id, "railyard:variable": "STRIPE_KEY"}]
    assert _stored_anywhere(world, SECRET) == [] and _stored_anywhere(world, "sk_live") == []
    listed = world.deployments.get_variables(WHO, world.service.id)
    assert listed.plain == {"MODE": "live"} and listed.sealed == ("STRIPE_KEY",)


def test_builds_never_get_sealed_values_and_the_build_log_says_so() -> None:
    world = World()
    world.deployments.set_variables(WHO, world.service.id, {"NEXT_PUBLIC_URL": "x"}, [], {"TOKEN": SECRET})
    deployment_id = world.deploy()
    request = world.builds.calls[-1]
    assert request.variables == {"NEXT_PUBLIC_URL": "x"}
    assert SECRET not in repr(request)
    build_log = [line.message for line in world.logs.read(deployment_id, "build", 0, 100)]
    assert "build: sealed variables are not given to builds: TOKEN" in build_log
    assert world.runtime.activated[-1].variables == {"NEXT_PUBLIC_URL": "x", "TOKEN": SECRET}


def test_a_name_is_plain_or_sealed_never_both_and_a_sealed_one_is_never_unsealed_in_place() -> None:
    world = _live_world()
    _apply(world, set={"KEY": "plain"})
    _apply(world, sealed={"KEY": "secret"})  # sealing replaces the plain value
    listing = world.deployments.get_variables(WHO, world.service.id)
    assert (listing.plain, listing.sealed) == ({}, ("KEY",))
    _apply(world, set={"KEY": "visible"})  # setting it plain replaces the sealed one: no way to read it back
    listing = world.deployments.get_variables(WHO, world.service.id)
    assert (listing.plain, listing.sealed) == ({"KEY": "visible"}, ())
    _apply(world, sealed={"KEY": "again"})
    _apply(world, unset=["KEY"])
    listing = world.deployments.get_variables(WHO, world.service.id)
    assert (listing.plain, listing.sealed) == ({}, ())
    assert world.runtime.activated[-1].variables == {}
    with pytest.raises(BadRequest, match="both 'set' and 'sealed'"):
        world.deployments.set_variables(WHO, world.service.id, {"A": "1"}, [], {"A": "2"})
    with pytest.raises(BadRequest, match="must match"):
        world.deployments.set_variables(WHO, world.service.id, {}, [], {"1BAD": "x"})
    with pytest.raises(BadRequest, match="a value is at most"):
        world.deployments.set_variables(WHO, world.service.id, {}, [], {"BIG": "x" * 40_000})


def test_a_rollback_and_a_redeploy_open_the_release_s_own_sealed_values() -> None:
    world = _live_world()
    first = _apply(world, sealed={"API_KEY": "old-secret"})
    _apply(world, sealed={"API_KEY": "new-secret"})
    assert world.runtime.activated[-1].variables == {"API_KEY": "new-secret"}
    rollback = world.deployments.rollback(WHO, world.service.id, first)
    world.run_workflow(rollback.id)
    assert world.runtime.activated[-1].variables == {"API_KEY": "old-secret"}
    redeploy = world.deployments.redeploy(WHO, world.service.id)  # the current variables again
    world.run_workflow(redeploy.id)
    assert world.runtime.activated[-1].variables == {"API_KEY": "new-secret"}


def test_a_ciphertext_copied_to_another_service_fails_its_deployment_without_the_value() -> None:
    world = _live_world()
    _apply(world, sealed={"DB_PASSWORD": "hunter2-long-password"})
    stolen = world.repo.get_variables(world.service.id).sealed["DB_PASSWORD"]
    other = world.projects.create_service(WHO, world.service.environment_id, "api", {})
    world.service = other
    world.deploy()
    variables = world.repo.get_variables(other.id)
    world.repo.save(variables.bumped(sealed={"DB_PASSWORD": stolen}))
    redeploy = world.deployments.redeploy(WHO, other.id)
    world.run_workflow(redeploy.id)
    failed = world.repo.get_deployment(redeploy.id)
    assert failed.status == DeploymentStatus.FAILED
    assert "sealed variable DB_PASSWORD could not be opened" in (failed.reason or "")
    assert "hunter2" not in (failed.reason or "")
    assert all(s.service_id != other.id or "DB_PASSWORD" not in s.variables for s in world.runtime.activated)


def test_a_renamed_or_tampered_ciphertext_does_not_open() -> None:
    sealer = FakeSealer()
    text = FakeSealer().seal(b"value", {"railyard:service": "svc_1", "railyard:variable": "A"}).to_text()
    assert open_variables(sealer, "svc_1", {"A": text}) == {"A": "value"}
    with pytest.raises(SealedValueUnreadable, match="sealed variable B could not be opened"):
        open_variables(sealer, "svc_1", {"B": text})
    envelope = SealedValue.from_text(text)
    flipped = bytes([envelope.ciphertext[0] ^ 1]) + envelope.ciphertext[1:]
    tampered = dataclasses.replace(envelope, ciphertext=flipped).to_text()
    with pytest.raises(SealedValueUnreadable):
        open_variables(sealer, "svc_1", {"A": tampered})
    with pytest.raises(SealedValueUnreadable, match="not in a known format"):
        open_variables(sealer, "svc_1", {"A": "sealed.v1.garbage"})
    with pytest.raises(SealedValueUnreadable, match="no sealing key"):
        open_variables(None, "svc_1", {"A": text})


def test_without_a_sealer_sealing_is_refused_and_plain_variables_still_work() -> None:
    world = World()
    bare = DeploymentService(
        world.repo,
        world.workflow,
        world.blobs,
        world.projects,
        world.logs,
        "sources",
        lambda: NOW,
        lambda p: p,
    )
    with pytest.raises(BadRequest, match="no sealing key"):
        bare.set_variables(WHO, world.service.id, {}, [], {"A": "1"})
    listing, _ = bare.set_variables(WHO, world.service.id, {"A": "1"}, [])
    assert listing.plain == {"A": "1"}


def test_a_restart_brings_a_release_back_with_its_sealed_values() -> None:
    world = _live_world()
    _apply(world, sealed={"SESSION_SECRET": "s3cr3t"})
    reconciler = Reconciler(world.repo, world.runtime, world.logs, lambda: NOW, sealer=world.sealer)
    restored = reconciler.restore([world.repo.get_service(world.service.id)])
    assert [r.error for r in restored] == [None]
    assert world.runtime.activated[-1].variables == {"SESSION_SECRET": "s3cr3t"}


def test_a_copied_sealed_value_opens_for_its_copy_with_its_origins_binding_only() -> None:
    from chalicelib.domain.sealing import copied_sealed

    sealer = FakeSealer()
    text = seal_variable(sealer, "svc_prod", "A", "value")
    copy = copied_sealed(text, "svc_prod")
    assert open_variables(sealer, "svc_staging", {"A": copy}) == {"A": "value"}
    assert copied_sealed(copy, "svc_staging") == copy  # a copy of a copy keeps the first origin
    with pytest.raises(SealedValueUnreadable):
        open_variables(sealer, "svc_staging", {"B": copy})  # the name still binds it
    with pytest.raises(SealedValueUnreadable):
        open_variables(sealer, "svc_staging", {"A": "copied.v1.garbage"})
