"""Rules of the domain, with fakes: the status machine, deployments, releases, rollbacks, variables."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.domain.authentication import TOKEN_CACHE_SECONDS, AuthService
from chalicelib.domain.errors import (
    BadRequest,
    BuildFailed,
    Conflict,
    HealthCheckFailed,
    InvalidTransition,
    NotFound,
    Unauthorized,
)
from chalicelib.domain.models import DeploymentKind, DeploymentStatus, ServiceSettings, check_transition
from tests.support.domain_world import WHO, World
from tests.support.principals import admin_access


def test_transition_table_rejects_illegal_moves() -> None:
    check_transition(DeploymentStatus.QUEUED, DeploymentStatus.BUILDING)
    with pytest.raises(InvalidTransition):
        check_transition(DeploymentStatus.SUCCESS, DeploymentStatus.BUILDING)
    with pytest.raises(InvalidTransition):
        check_transition(DeploymentStatus.FAILED, DeploymentStatus.SUCCESS)


def test_source_deployment_builds_releases_and_goes_live() -> None:
    world = World()
    deployment_id = world.deploy()
    deployment = world.repo.get_deployment(deployment_id)
    service = world.repo.get_service(world.service.id)
    assert deployment.status == DeploymentStatus.SUCCESS
    assert deployment.release_number == 1
    assert service.active_deployment_id == deployment_id
    assert world.runtime.activated[-1].settings.healthcheck_path == "/health"
    assert world.workflow.started[0].id == deployment_id


def test_a_second_deployment_removes_the_first_and_numbers_the_release() -> None:
    world = World()
    first = world.deploy()
    second = world.deploy()
    assert world.repo.get_deployment(first).status == DeploymentStatus.REMOVED
    assert world.repo.get_deployment(second).release_number == 2


def test_steps_are_idempotent_when_a_message_is_delivered_twice() -> None:
    world = World()
    deployment_id = world.deploy()
    world.runner.run({"taskToken": "again", "deploymentId": deployment_id, "action": "deploy"})
    assert world.callbacks.outcomes[-1][0] == "success"
    assert len(world.runtime.activated) == 1
    assert len(world.repo.list_releases(world.service.id)) == 1


def test_failed_build_marks_failed_with_the_reason_and_keeps_previous_live() -> None:
    world = World()
    live = world.deploy()
    world.builds.error = BuildFailed("`npm run build` exited with code 3")
    failed = world.deploy()
    deployment = world.repo.get_deployment(failed)
    assert deployment.status == DeploymentStatus.FAILED
    assert "exited with code 3" in (deployment.reason or "")
    assert world.repo.get_service(world.service.id).active_deployment_id == live
    assert world.repo.get_deployment(live).status == DeploymentStatus.SUCCESS


def test_unhealthy_release_fails_and_is_never_a_rollback_target() -> None:
    world = World()
    world.deploy()
    second = world.deploy()
    world.runtime.error = HealthCheckFailed("no 200 on /health within 5s")
    failed = world.deploy()
    world.runtime.error = None
    assert world.repo.get_deployment(failed).status == DeploymentStatus.FAILED
    assert any("no 200" in line for line in world.logs.streams[(failed, "deploy")].lines)
    rollback = world.deployments.rollback(WHO, world.service.id, None)
    world.run_workflow(rollback.id)
    # the newest release that ever served is v1 (v2 is live, v3 never passed its health check)
    assert world.repo.get_deployment(rollback.id).release_number == 1
    assert world.repo.get_deployment(second).status == DeploymentStatus.REMOVED


def test_rollback_reactivates_the_old_release_without_creating_one() -> None:
    world = World()
    first = world.deploy()
    world.deploy()
    rollback = world.deployments.rollback(WHO, world.service.id, first)
    world.run_workflow(rollback.id)
    done = world.repo.get_deployment(rollback.id)
    assert done.status == DeploymentStatus.SUCCESS and done.kind == DeploymentKind.ROLLBACK
    assert done.release_id == world.repo.get_deployment(first).release_id
    assert len(world.repo.list_releases(world.service.id)) == 2


def test_setting_three_variables_creates_exactly_one_deployment_that_carries_them() -> None:
    world = World()
    world.deploy()
    before = len(world.workflow.started)
    _, deployment = world.deployments.set_variables(WHO, world.service.id, {"A": "1", "B": "2", "C": "3"}, [])
    assert deployment is not None and len(world.workflow.started) == before + 1
    world.run_workflow(deployment.id)
    assert world.runtime.activated[-1].variables == {"A": "1", "B": "2", "C": "3"}
    listing, _ = world.deployments.set_variables(WHO, world.service.id, {}, ["B"])
    assert listing.plain == {"A": "1", "C": "3"}


def test_variables_before_any_release_are_saved_without_a_deployment() -> None:
    world = World()
    listing, deployment = world.deployments.set_variables(WHO, world.service.id, {"A": "1"}, [])
    assert deployment is None and listing.plain == {"A": "1"}
    with pytest.raises(BadRequest):
        world.deployments.set_variables(WHO, world.service.id, {"1BAD": "x"}, [])


def test_cancel_stops_the_workflow_and_a_late_step_does_nothing() -> None:
    world = World()
    deployment = world.deployments.deploy_source(WHO, world.service.id, world.upload())
    world.deployments.cancel(WHO, deployment.id)
    assert world.workflow.stopped == [deployment.id]
    world.runner.run({"taskToken": "t", "deploymentId": deployment.id, "action": "build"})
    assert world.callbacks.outcomes[-1][2][0] == "DeploymentCancelled"
    assert world.builds.calls == []
    with pytest.raises(InvalidTransition):
        world.deployments.cancel(WHO, deployment.id)


def test_a_cancel_that_races_the_workflow_moving_the_deployment_still_cancels_it() -> None:
    world = World()
    deployment = world.deployments.deploy_source(WHO, world.service.id, world.upload())
    save = world.repo.save
    raced: list[str] = []

    def workflow_moves_it_first(entity):  # type: ignore[no-untyped-def]
        if not raced and getattr(entity, "status", None) == DeploymentStatus.CANCELLED:
            raced.append("moved")
            stored = world.repo.get_deployment(deployment.id)
            save(stored.moved_to(DeploymentStatus.BUILDING, "2026-01-01T00:00:01Z"))
        return save(entity)

    world.repo.save = workflow_moves_it_first  # type: ignore[method-assign]
    cancelled = world.deployments.cancel(WHO, deployment.id)
    assert raced and cancelled.status == DeploymentStatus.CANCELLED
    assert world.repo.get_deployment(deployment.id).status == DeploymentStatus.CANCELLED
    assert world.workflow.stopped == [deployment.id]


def test_source_keys_are_checked() -> None:
    world = World()
    with pytest.raises(BadRequest, match="not issued"):
        world.deployments.deploy_source(WHO, world.service.id, "sources/svc_other/x.tar.gz")


def test_a_source_that_was_never_uploaded_fails_in_the_prepare_step_saying_so() -> None:
    world = World()
    missing = f"sources/{world.service.id}/missing.tar.gz"
    deployment = world.deployments.deploy_source(WHO, world.service.id, missing)  # accepted: no read of S3
    world.run_workflow(deployment.id)
    failed = world.repo.get_deployment(deployment.id)
    assert failed.status == DeploymentStatus.FAILED
    assert failed.reason is not None and failed.reason.startswith(
        "SourceNotUploaded: the source upload was not found"
    )
    assert any(
        "source upload was not found" in line for line in world.logs.streams[(deployment.id, "deploy")].lines
    )
    assert world.builds.calls == []


def test_other_workspaces_see_nothing() -> None:
    world = World()
    stranger = admin_access("org_2")
    with pytest.raises(NotFound):
        world.projects.get_service(stranger, world.service.id)


def test_conflicting_saves_write_nothing() -> None:
    world = World()
    service = world.repo.get_service(world.service.id)
    world.repo.save(service.bumped(name="one"))
    with pytest.raises(Conflict):
        world.repo.save(service.bumped(name="two"))
    assert world.repo.get_service(service.id).name == "one"


def test_settings_are_validated() -> None:
    with pytest.raises(BadRequest, match="healthcheckPath"):
        ServiceSettings(healthcheck_path="health")
    with pytest.raises(BadRequest, match="restartPolicyType"):
        ServiceSettings(restart_policy_type="SOMETIMES")


def test_tokens() -> None:
    world = World()
    auth = AuthService(world.repo, lambda: datetime(2026, 1, 1, tzinfo=UTC))
    auth.ensure_token("secret", "org_1", "admin")
    auth.ensure_token("secret", "org_1", "admin")  # idempotent
    assert auth.authenticate("Bearer secret").workspace_ids == ("org_1",)
    with pytest.raises(Unauthorized):
        auth.authenticate("Bearer wrong")
    with pytest.raises(Unauthorized):
        auth.authenticate(None)


def test_a_valid_token_is_believed_for_the_cache_bound_then_read_again() -> None:
    world = World()
    now = [0.0]
    auth = AuthService(world.repo, lambda: datetime(2026, 1, 1, tzinfo=UTC), monotonic=lambda: now[0])
    with pytest.raises(Unauthorized):
        auth.authenticate("Bearer later")  # unknown tokens are not cached...
    auth.ensure_token("later", "org_1", "ci")
    assert auth.authenticate("Bearer later").name == "ci"  # ...so a new one works at once
    world.repo.items.clear()  # the token is gone from the table (as a revocation would do)
    now[0] = TOKEN_CACHE_SECONDS - 1
    assert auth.authenticate("Bearer later").workspace_ids == ("org_1",)  # still believed within the bound
    now[0] = TOKEN_CACHE_SECONDS + 1
    with pytest.raises(Unauthorized):
        auth.authenticate("Bearer later")  # read again after it: gone


def test_an_older_deployment_never_replaces_a_newer_live_one() -> None:
    world = World()
    older = world.deployments.deploy_source(WHO, world.service.id, world.upload())
    newer = world.deploy()
    world.run_workflow(older.id)
    assert world.repo.get_deployment(older.id).status == DeploymentStatus.SKIPPED
    assert (
        world.repo.get_deployment(older.id).reason == f"superseded by {newer} (created later), which is live"
    )
    assert world.repo.get_service(world.service.id).active_deployment_id == newer


def test_a_transient_error_is_left_to_the_workflow_retry() -> None:
    world = World()
    from chalicelib.domain.errors import TransientError

    world.builds.error = TransientError("S3 throttled")
    deployment = world.deployments.deploy_source(WHO, world.service.id, world.upload())
    world.runner.run({"taskToken": "p", "deploymentId": deployment.id, "action": "prepare"})
    world.runner.run({"taskToken": "t", "deploymentId": deployment.id, "action": "build"})
    assert world.callbacks.outcomes[-1] == ("failure", "t", ("TransientError", "S3 throttled"))
    assert (
        world.repo.get_deployment(deployment.id).status == DeploymentStatus.BUILDING
    )  # not FAILED: it will be retried


def test_default_rollback_goes_back_not_forward() -> None:
    world = World()
    first = world.deploy()
    world.deploy()
    third = world.deploy()
    back = world.deployments.rollback(WHO, world.service.id, None)
    world.run_workflow(back.id)
    assert world.repo.get_deployment(back.id).release_number == 2
    again = world.deployments.rollback(WHO, world.service.id, None)
    world.run_workflow(again.id)
    assert world.repo.get_deployment(again.id).release_number == 1
    assert {first, third} <= {d.id for d in world.repo.list_deployments(world.service.id)}


def test_a_workflow_that_cannot_start_fails_the_deployment_instead_of_leaving_it_queued() -> None:
    from chalicelib.domain.errors import TransientError

    world = World()
    world.workflow.error = ConnectionError("states endpoint unreachable")
    with pytest.raises(TransientError):
        world.deployments.deploy_source(WHO, world.service.id, world.upload())
    (deployment,) = world.repo.list_deployments(world.service.id)
    assert deployment.status == DeploymentStatus.FAILED
    assert "states endpoint unreachable" in (deployment.reason or "")


def test_the_same_source_with_the_same_inputs_skips_the_build() -> None:
    world = World()
    first = world.deployments.deploy_source(WHO, world.service.id, world.upload(b"same bytes"))
    world.run_workflow(first.id)
    again = world.deployments.deploy_source(WHO, world.service.id, world.upload(b"same bytes"))
    world.runner.run({"taskToken": "p", "deploymentId": again.id, "action": "prepare"})
    assert world.callbacks.outcomes[-1][:2] == ("success", "p")
    assert world.callbacks.outcomes[-1][2]["needsBuild"] is False  # Build is skipped
    prepared = world.repo.get_deployment(again.id)
    assert prepared.artifact_key == world.repo.get_deployment(first.id).artifact_key and prepared.build_cached
    world.runner.run({"taskToken": "d", "deploymentId": again.id, "action": "deploy"})
    assert world.repo.get_deployment(again.id).status == DeploymentStatus.SUCCESS
    assert len(world.builds.calls) == 1
    assert any("build: skipped" in line for line in world.logs.streams[(again.id, "deploy")].lines)
    # a variable the build would see is a different input: build again
    world.deployments.set_variables(WHO, world.service.id, {"NEXT_PUBLIC_URL": "x"}, [])
    third = world.deployments.deploy_source(WHO, world.service.id, world.upload(b"same bytes"))
    world.run_workflow(third.id)
    assert len(world.builds.calls) == 2


def test_config_file_deploy_settings_win_for_the_release_and_survive_a_skipped_build() -> None:
    world = World()
    world.builds.deploy_settings = {"healthcheck_path": "/ready", "healthcheck_timeout": 5.0}
    first = world.deployments.deploy_source(WHO, world.service.id, world.upload(b"with config"))
    world.run_workflow(first.id)
    assert world.runtime.activated[-1].settings.healthcheck_path == "/ready"
    assert world.repo.get_deployment(first.id).build_cache == {
        "artifact": "miss",
        "deps": "none",
        "savedSeconds": 0.0,
    }
    again = world.deployments.deploy_source(WHO, world.service.id, world.upload(b"with config"))
    world.run_workflow(again.id)
    assert len(world.builds.calls) == 1  # skipped
    assert world.runtime.activated[-1].settings.healthcheck_path == "/ready"


def test_no_cache_always_builds() -> None:
    world = World()
    world.run_workflow(world.deployments.deploy_source(WHO, world.service.id, world.upload(b"same")).id)
    cold = world.deployments.deploy_source(WHO, world.service.id, world.upload(b"same"), no_cache=True)
    world.run_workflow(cold.id)
    assert len(world.builds.calls) == 2 and world.builds.calls[-1].no_cache


def test_config_file_settings_survive_a_variable_change() -> None:
    world = World()
    world.builds.deploy_settings = {"healthcheck_path": "/ready", "pre_deploy_command": "./migrate"}
    world.deploy()
    _, redeploy = world.deployments.set_variables(WHO, world.service.id, {"A": "1"}, [])
    assert redeploy is not None
    world.run_workflow(redeploy.id)
    settings = world.runtime.activated[-1].settings
    assert (settings.healthcheck_path, settings.pre_deploy_command) == ("/ready", "./migrate")
    assert world.runtime.activated[-1].variables == {"A": "1"}


class Trigger:
    def __init__(self, started: bool = True) -> None:
        self.started = started
        self.runs: list[str] = []

    def run_now(self, service_id: str) -> bool:
        self.runs.append(service_id)
        return self.started


def test_run_now_starts_the_live_cron_release_and_reports_a_skip() -> None:
    from chalicelib.domain.cron_jobs import CronJobs

    world = World()
    world.projects.update_settings(WHO, world.service.id, {"cron_schedule": "*/5 * * * *"})
    world.deploy()
    trigger = Trigger()
    cron = CronJobs(world.repo, world.projects, trigger)

    release, started = cron.run_now(WHO, world.service.id)

    assert started and trigger.runs == [world.service.id]
    assert release.config.settings.cron_schedule == "*/5 * * * *"
    trigger.started = False
    assert cron.run_now(WHO, world.service.id)[1] is False


def test_run_now_refuses_a_web_service_and_a_service_never_deployed() -> None:
    from chalicelib.domain.cron_jobs import CronJobs

    world = World()
    cron = CronJobs(world.repo, world.projects, Trigger())
    with pytest.raises(Conflict, match="no live release"):
        cron.run_now(WHO, world.service.id)
    world.deploy()
    with pytest.raises(BadRequest, match="not a cron service"):
        cron.run_now(WHO, world.service.id)
