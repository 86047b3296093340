"""The rollback's preview (GET /v1/services/{id}/rollback): before anything is made, it answers the
release a rollback would run and the variables it brings back, exactly as the rollback then does,
with the rollback's errors; a caller who may not read variables sees the release without the names."""

from __future__ import annotations

from chalicelib.domain.authentication import hash_token
from chalicelib.domain.built_release import BuiltRelease
from chalicelib.domain.models import ApiToken, ConfigSnapshot, DeploymentStatus, Release
from tests.api.conftest import OTHER_ORG_TOKEN, Api


def _two_releases(api: Api) -> tuple[str, str]:
    """A service whose v1 ran GREETING=hello and served, and whose v2 runs GREETING=hi, live, as the
    current variables say; made as the Deploy step would (the workflow is a fake). (service, v1's
    deployment)"""
    service_id = api.service()["id"]
    assert api.call("PATCH", f"/v1/services/{service_id}/variables", {"set": {"GREETING": "hi"}})[0] == 200
    repo = api.container.repository
    path = f"/v1/services/{service_id}/deployments"
    made = [api.call("POST", path, {"sourceKey": api.uploaded_source(service_id)})[1] for _ in (1, 2)]
    service = repo.get_service(service_id)
    for number, (body, greeting) in enumerate(zip(made, ("hello", "hi"), strict=True), start=1):
        deployment = repo.get_deployment(body["deployment"]["id"])
        status = DeploymentStatus.SUCCESS if number == 2 else DeploymentStatus.REMOVED
        release = Release(
            f"rel_{service_id[-6:]}_{number}",
            service_id,
            number,
            BuiltRelease(f"artifacts/{service_id}/{number}.tgz", "python app.py"),
            ConfigSnapshot({"GREETING": greeting}, service.settings),
            deployment.id,
            deployment.created_at,
            workspace_id=service.workspace_id,
            project_id=service.project_id,
            environment_id=service.environment_id,
        )
        repo.save(release, deployment.bumped(status=status, release_id=release.id, release_number=number))
    repo.save(service.bumped(active_release_id=release.id, active_deployment_id=deployment.id))
    return service_id, made[0]["deployment"]["id"]


def _token(api: Api, name: str, *actions: str) -> str:
    secret = f"ry_preview_{name}"
    workspace = api.container.settings.org_id
    api.container.repository.save(
        ApiToken(hash_token(secret), workspace, name, actions, "2026-01-01T00:00:00Z")
    )
    return secret


def test_the_preview_names_the_variables_the_rollback_brings_back_and_makes_nothing(api: Api) -> None:
    service_id, v1 = _two_releases(api)
    path = f"/v1/services/{service_id}/rollback"
    started = len(api.workflow.started)

    preview = api.send("GET", f"{path}?deploymentId={v1}")
    default = api.send("GET", path)  # no deploymentId: the newest earlier release that served

    assert preview.status == 200, preview.body
    assert preview.body["release"]["number"] == 1 and preview.body["variablesChanged"] == ["GREETING"]
    assert default.body == preview.body
    assert len(api.workflow.started) == started  # nothing was made
    assert api.call("GET", f"/v1/services/{service_id}/deployments")[1]["deployments"][0]["kind"] == "source"
    # ... and the rollback then says what its preview said
    status, rollback = api.call("POST", path, {"deploymentId": v1})
    assert status == 201 and rollback["variablesChanged"] == preview.body["variablesChanged"]
    assert rollback["deployment"]["releaseNumber"] == 1


def test_the_preview_says_when_the_release_runs_the_current_variables(api: Api) -> None:
    service_id, v1 = _two_releases(api)
    api.call("PATCH", f"/v1/services/{service_id}/variables", {"set": {"GREETING": "hello"}})

    status, preview = api.call("GET", f"/v1/services/{service_id}/rollback?deploymentId={v1}")

    assert status == 200 and preview["variablesChanged"] == []


def test_a_caller_who_may_not_read_variables_sees_the_release_but_no_names(api: Api) -> None:
    service_id, v1 = _two_releases(api)
    path = f"/v1/services/{service_id}/rollback?deploymentId={v1}"
    deployer = _token(api, "deployer", "read", "read-logs", "deploy")
    viewer = _token(api, "viewer", "read", "read-logs")

    for token in (deployer, viewer):
        status, preview = api.call("GET", path, token=token)
        assert status == 200 and preview["release"]["number"] == 1
        assert preview["variablesChanged"] is None
    # the viewer may see what a rollback would run, not make one
    assert api.call("POST", path.split("?")[0], {"deploymentId": v1}, token=viewer)[0] == 403


def test_the_preview_answers_the_rollbacks_errors_in_the_same_words(api: Api) -> None:
    service_id, v1 = _two_releases(api)
    path = f"/v1/services/{service_id}/rollback"
    repo = api.container.repository
    release = repo.get_release(repo.get_deployment(v1).release_id or "")
    repo.save(release.bumped(pruned_at="2026-12-04T00:00:00Z", pruned_reason="pruned by retention (keep 10)"))

    for deployment_id, code, words in (
        (v1, "ReleasePruned", "release v1 was pruned by retention (keep 10)"),
        ("dep_missing", "NotFound", "deployment dep_missing not found"),
    ):
        status, preview = api.call("GET", f"{path}?deploymentId={deployment_id}")
        refused = api.call("POST", path, {"deploymentId": deployment_id})
        assert (status, preview) == refused and preview["Code"] == code and words in preview["Message"]
    # another workspace learns nothing of the service
    assert api.call("GET", f"{path}?deploymentId={v1}", token=OTHER_ORG_TOKEN)[0] == 404
