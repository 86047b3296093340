"""Environments through the API (ADR 0036): a copy gets the source's services, settings and
variables (sealed ones open for the copy), a new hostname each; deleting one stops its services,
deletes the artifacts no other environment runs and frees its names; production is never deleted;
promotion deploys the source's live artifact to the target's same-named service."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.built_release import BuiltRelease
from chalicelib.domain.models import ConfigSnapshot, Release
from chalicelib.domain.sealing import open_variables
from tests.api.conftest import Api
from tests.fakes import FakeRuntime

SECRET = "whsec_0123456789abcdefSEALED"


@dataclass
class StoppingRuntime(FakeRuntime):
    stopped: list[str] = field(default_factory=list)

    def stop(self, service_id: str) -> None:
        self.stopped.append(service_id)


def _project(api: Api) -> tuple[str, str]:
    _, created = api.call("POST", "/v1/projects", {"name": "shop"})
    return created["project"]["id"], created["environments"][0]["id"]


def _service(api: Api, env_id: str, name: str, **settings: Any) -> dict[str, Any]:
    status, body = api.call(
        "POST", f"/v1/environments/{env_id}/services", {"name": name, "settings": settings}
    )
    assert status == 201, body
    return body["service"]  # type: ignore[no-any-return]


def _live_release(api: Api, service_id: str, artifact: str, number: int = 1) -> Release:
    """Makes a release live on the service, as the Deploy step would (the workflow is a fake)."""
    repo = api.container.repository
    service = repo.get_service(service_id)
    release = Release(
        id=f"rel_{service_id[-6:]}_{number}",
        service_id=service_id,
        number=number,
        built=BuiltRelease(artifact_key=artifact, start_command="python app.py"),
        config=ConfigSnapshot(variables={}, settings=service.settings),
        deployment_id=f"dep_{number}",
        created_at="2026-12-04T00:00:00Z",
        workspace_id=service.workspace_id,
        project_id=service.project_id,
        environment_id=service.environment_id,
    )
    repo.save(release, service.bumped(active_release_id=release.id, active_deployment_id=f"dep_{number}"))
    api.container.blobs.put_bytes(api.container.settings.artifacts_bucket, artifact, b"artifact")
    return release


def test_a_copy_has_the_same_services_settings_and_variables_and_new_hostnames(api: Api) -> None:
    project_id, production = _project(api)
    web = _service(api, production, "web", startCommand="python app.py", healthcheckPath="/healthz")
    path = f"/v1/services/{web['id']}/variables"
    assert api.call("PATCH", path, {"set": {"MODE": "live"}, "sealed": {"HOOK_SECRET": SECRET}})[0] == 200

    reply = api.send(
        "POST", f"/v1/projects/{project_id}/environments", {"name": "staging", "copyFrom": "production"}
    )

    assert reply.status == 201, reply.body
    assert reply.body["environment"]["name"] == "staging" and reply.body["copiedFrom"]["id"] == production
    [copy] = reply.body["services"]
    assert copy["name"] == "web" and copy["id"] != web["id"]
    assert copy["hostname"] == "web-staging-shop" != web["hostname"]
    assert copy["settings"]["startCommand"] == "python app.py"
    assert copy["settings"]["healthcheckPath"] == "/healthz"
    listed = api.send("GET", f"/v1/services/{copy['id']}/variables").body
    assert listed == {"variables": {"MODE": "live"}, "sealed": ["HOOK_SECRET"]}
    assert SECRET not in reply.text
    # The copied sealed value opens for the copy's release (the Deploy step's call).
    stored = api.container.repository.get_variables(copy["id"])
    assert open_variables(api.container.sealer, copy["id"], stored.sealed) == {"HOOK_SECRET": SECRET}
    # And the original is untouched.
    assert api.send("GET", path).body["variables"] == {"MODE": "live"}


def test_an_environment_without_copy_is_empty_and_an_unknown_source_is_a_404(api: Api) -> None:
    project_id, production = _project(api)
    _service(api, production, "web")
    empty = api.send("POST", f"/v1/projects/{project_id}/environments", {"name": "dev"})
    assert empty.status == 201 and empty.body["services"] == [] and empty.body["copiedFrom"] is None
    missing = api.send("POST", f"/v1/projects/{project_id}/environments", {"name": "qa", "copyFrom": "nope"})
    assert missing.status == 404 and "nope" in missing.body["Message"]
    names = [
        e["name"] for e in api.send("GET", f"/v1/projects/{project_id}/environments").body["environments"]
    ]
    assert sorted(names) == ["dev", "production"]


def test_production_cannot_be_deleted(api: Api) -> None:
    _, production = _project(api)
    reply = api.send("DELETE", f"/v1/environments/{production}?confirm=production")
    assert reply.status == 409 and reply.body["Code"] == "ProductionEnvironment"
    assert "production" in reply.body["Message"]


def test_deleting_an_environment_stops_it_frees_its_names_and_keeps_shared_artifacts(api: Api) -> None:
    runtime = StoppingRuntime()
    api.container.runtime = runtime
    project_id, production = _project(api)
    _service(api, production, "web")
    _service(api, production, "worker")
    made = api.send(
        "POST", f"/v1/projects/{project_id}/environments", {"name": "staging", "copyFrom": production}
    )
    staging = made.body["environment"]["id"]
    web, worker = sorted(made.body["services"], key=lambda s: s["name"])
    own = _live_release(api, web["id"], "artifacts/staging-web.tar.gz")
    _live_release(api, worker["id"], "artifacts/shared.tar.gz")
    production_worker = next(
        s
        for s in api.send("GET", f"/v1/environments/{production}/services").body["services"]
        if s["name"] == "worker"
    )
    _live_release(api, production_worker["id"], "artifacts/shared.tar.gz")  # promoted from staging

    unconfirmed = api.send("DELETE", f"/v1/environments/{staging}")
    assert unconfirmed.status == 400 and "confirm=staging" in unconfirmed.body["Message"]
    wrong = api.send("DELETE", f"/v1/environments/{staging}?confirm=production")
    assert wrong.status == 400
    reply = api.send("DELETE", f"/v1/environments/{staging}?confirm=staging")

    assert reply.status == 200, reply.body
    assert sorted(reply.body["services"]) == ["web", "worker"]
    assert reply.body["artifactsDeleted"] == 1 and reply.body["artifactsKept"] == 1
    assert sorted(runtime.stopped) == sorted([web["id"], worker["id"]])
    bucket = api.container.settings.artifacts_bucket
    assert not api.container.blobs.exists(bucket, "artifacts/staging-web.tar.gz")
    assert api.container.blobs.exists(bucket, "artifacts/shared.tar.gz")  # production runs it
    assert api.container.repository.get_release(own.id).pruned  # no redeploy of it, ever
    assert api.send("GET", f"/v1/services/{web['id']}").status == 404
    envs = api.send("GET", f"/v1/projects/{project_id}/environments").body["environments"]
    assert [e["name"] for e in envs] == ["production"]
    again = api.send(
        "POST", f"/v1/projects/{project_id}/environments", {"name": "staging", "copyFrom": production}
    )
    assert sorted(s["hostname"] for s in again.body["services"]) == [
        "web-staging-shop",
        "worker-staging-shop",
    ]


def test_promotion_deploys_the_sources_live_artifact_with_the_targets_variables(api: Api) -> None:
    project_id, production = _project(api)
    prod_web = _service(api, production, "web")
    api.call("PATCH", f"/v1/services/{prod_web['id']}/variables", {"set": {"MODE": "production"}})
    made = api.send(
        "POST", f"/v1/projects/{project_id}/environments", {"name": "staging", "copyFrom": production}
    )
    [staging_web] = made.body["services"]
    api.call("PATCH", f"/v1/services/{staging_web['id']}/variables", {"set": {"MODE": "staging"}})
    release = _live_release(api, staging_web["id"], "artifacts/built-in-staging.tar.gz", number=3)

    reply = api.send("POST", f"/v1/environments/{production}/promote", {"from": "staging"})

    assert reply.status == 201, reply.body
    assert "variables and settings apply" in reply.body["note"]
    [promotion] = reply.body["promotions"]
    assert promotion["releaseId"] == release.id and promotion["releaseNumber"] == 3
    deployment = promotion["deployment"]
    assert deployment["kind"] == "promotion" and deployment["serviceId"] == prod_web["id"]
    started = api.workflow.started[-1]
    assert started.id == deployment["id"]
    assert started.artifact_key == "artifacts/built-in-staging.tar.gz"  # no rebuild
    assert started.requested.variables == {"MODE": "production"}  # the target's own


def test_promotion_with_nothing_live_is_a_409_and_a_missing_service_a_404(api: Api) -> None:
    project_id, production = _project(api)
    _service(api, production, "web", startCommand="x")
    api.send("POST", f"/v1/projects/{project_id}/environments", {"name": "staging", "copyFrom": production})
    nothing = api.send("POST", f"/v1/environments/{production}/promote", {"from": "staging"})
    assert nothing.status == 409 and "no live release" in nothing.body["Message"]
    missing = api.send(
        "POST", f"/v1/environments/{production}/promote", {"from": "staging", "service": "api"}
    )
    assert missing.status == 404
    itself = api.send("POST", f"/v1/environments/{production}/promote", {"from": "production"})
    assert itself.status == 400
