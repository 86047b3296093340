"""A deployment's variables resolved by the workflow (ADR 0037), on the domain's fakes: shared ones
under the service's own, references to other services and injected values, a failing reference
failing the deployment (the live release keeps serving), rollbacks reusing the release's values."""

from __future__ import annotations

from chalicelib.domain.models import DeploymentStatus
from chalicelib.domain.variables import VariableService
from tests.support.domain_world import WHO, World


def world() -> tuple[World, VariableService]:
    w = World(resolve_variables=True)
    assert w.resolution is not None
    return w, VariableService(w.repo, w.projects, w.resolution, w.sealer)


def test_a_release_runs_shared_values_under_its_own_references_and_injected_variables() -> None:
    # GIVEN a shared variable, another service "api" with its own variable, and references to both
    w, variables = world()
    env = w.service.environment_id
    api = w.projects.create_service(WHO, env, "api", None)
    w.deployments.set_variables(WHO, api.id, {"VERSION_PATH": "/v2"}, [])
    variables.set_shared(WHO, env, {"REGION": "eu", "MODE": "shared"}, [])
    w.deployments.set_variables(
        WHO,
        w.service.id,
        {"MODE": "own", "API_URL": "http://${{api.RAILWAY_PUBLIC_DOMAIN}}${{api.VERSION_PATH}}"},
        [],
    )
    # WHEN the service deploys
    deployment_id = w.deploy()
    # THEN the release runs the resolved values, and the runtime gets the injected ones too
    assert w.repo.get_deployment(deployment_id).status == DeploymentStatus.SUCCESS
    spec = w.runtime.activated[-1]
    assert spec.variables["API_URL"] == f"http://{api.hostname}.localhost/v2"
    assert spec.variables["MODE"] == "own" and spec.variables["REGION"] == "eu"
    assert spec.variables["RAILWAY_SERVICE_NAME"] == spec.variables["RAILYARD_SERVICE_NAME"] == "web"
    assert spec.variables["RAILWAY_PUBLIC_DOMAIN"] == f"{w.service.hostname}.localhost"
    assert spec.variables["RAILWAY_ENVIRONMENT_NAME"] == "production"
    release = w.repo.get_release(spec.release_id)
    assert release.config.resolved and release.config.variables["API_URL"].endswith("/v2")


def test_a_redeploy_with_a_missing_reference_fails_naming_it_and_the_live_release_keeps_serving() -> None:
    w, _ = world()
    first = w.deploy()
    live = w.repo.get_service(w.service.id).active_release_id
    # WHEN a variable change refers to a variable that does not exist
    _, redeploy = w.deployments.set_variables(WHO, w.service.id, {"API_URL": "${{web.MISSING}}"}, [])
    assert redeploy is not None
    w.run_workflow(redeploy.id)
    # THEN that deployment FAILED saying which reference, and the first release still serves
    failed = w.repo.get_deployment(redeploy.id)
    assert failed.status == DeploymentStatus.FAILED
    expected = "variable API_URL references ${{web.MISSING}}: service web has no variable MISSING"
    assert failed.reason is not None and expected in failed.reason
    assert any(expected in line.message for line in w.logs.read(redeploy.id, "deploy", 0, 100))
    assert w.repo.get_service(w.service.id).active_release_id == live
    assert w.repo.get_deployment(first).status == DeploymentStatus.SUCCESS


def test_a_source_deployment_with_a_cycle_fails_in_prepare_before_any_build() -> None:
    w, _ = world()
    w.deployments.set_variables(WHO, w.service.id, {"A": "${{B}}", "B": "${{A}}"}, [])
    deployment_id = w.deploy()
    failed = w.repo.get_deployment(deployment_id)
    assert failed.status == DeploymentStatus.FAILED and "a cycle: web.A → web.B → web.A" in (
        failed.reason or ""
    )
    assert w.builds.calls == []


def test_a_rollback_brings_back_the_releases_values_and_says_which_differ() -> None:
    w, variables = world()
    env = w.service.environment_id
    variables.set_shared(WHO, env, {"COLOUR": "blue"}, [])
    w.deployments.set_variables(WHO, w.service.id, {"SIZE": "s"}, [])
    first = w.deploy()
    _, second = w.deployments.set_variables(WHO, w.service.id, {"SIZE": "m"}, [])
    assert second is not None
    w.run_workflow(second.id)
    variables.set_shared(WHO, env, {"COLOUR": "red"}, [])  # staged: not deployed
    assert variables.live_difference(WHO, w.service.id) is not None
    assert variables.live_difference(WHO, w.service.id).names == ["COLOUR"]  # type: ignore[union-attr]
    # WHEN rolling back to the first release
    rollback = w.deployments.rollback(WHO, w.service.id, first)
    # THEN it reports what differs from the current values, and runs the first release's values
    assert variables.rollback_differences(WHO, rollback.service_id, rollback.requested) == ["COLOUR", "SIZE"]
    w.run_workflow(rollback.id)
    spec = w.runtime.activated[-1]
    assert spec.variables["SIZE"] == "s" and spec.variables["COLOUR"] == "blue"


def test_a_shared_sealed_value_opens_for_the_release_and_a_services_own_value_overrides_it() -> None:
    w, variables = world()
    env = w.service.environment_id
    listing = variables.set_shared(WHO, env, {}, [], {"DB_PASSWORD": "s3cret", "API_KEY": "shared-key"})
    assert listing.sealed == ("API_KEY", "DB_PASSWORD") and listing.plain == {}
    w.deployments.set_variables(WHO, w.service.id, {"API_KEY": "own-key"}, [])
    w.deploy()
    spec = w.runtime.activated[-1]
    assert spec.variables["DB_PASSWORD"] == "s3cret" and spec.variables["API_KEY"] == "own-key"
    resolved = variables.resolved(WHO, w.service.id)
    assert "DB_PASSWORD" not in resolved.variables and set(resolved.shared_sealed) == {"DB_PASSWORD"}


def test_the_deployments_commit_is_injected_and_absent_without_one() -> None:
    w, _ = world()
    deployment = w.deployments.deploy_source(WHO, w.service.id, w.upload())
    w.repo.save(w.repo.get_deployment(deployment.id).bumped(commit_sha="0123abc"))  # a push's (h1)
    w.run_workflow(deployment.id)
    spec = w.runtime.activated[-1]
    assert spec.variables["RAILYARD_GIT_COMMIT_SHA"] == spec.variables["RAILWAY_GIT_COMMIT_SHA"] == "0123abc"
    w.deploy()  # an upload from a directory: no commit known
    assert "RAILWAY_GIT_COMMIT_SHA" not in w.runtime.activated[-1].variables
