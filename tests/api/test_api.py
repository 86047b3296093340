"""The HTTP API through chalice.test.Client: auth, validation, error shapes, and each route's effect.

The repository is real DynamoDB on moto; the workflow starter is a fake (a real execution would
race the assertions: LOCAL_AWS_FACTS.md), so these tests see exactly what the API wrote.
"""

from __future__ import annotations

import pytest

from chalicelib.domain import limits
from tests.api.conftest import Api


def test_health_is_public_and_everything_else_needs_a_token(api: Api) -> None:
    assert api.call("GET", "/v1/health", token=None) == (200, {"status": "ok"})
    # No Authorization header: the gateway answers without calling the authorizer (API Gateway's
    # own body, as in AWS: docs/decisions/0026-authorizer.md)
    assert api.call("GET", "/v1/projects", token=None) == (401, {"message": "Unauthorized"})
    status, body = api.call("GET", "/v1/projects", token="wrong")
    assert status == 401 and "not valid" in body["Message"]


def test_project_comes_with_production_and_services_get_a_url(api: Api) -> None:
    service = api.service()
    assert service["hostname"] == "web-production-demo"
    assert service["url"] == "http://web-production-demo.localhost:8080"
    assert service["settings"]["healthcheckPath"] is None  # no HTTP check unless asked for


def test_malformed_json_and_unknown_fields_are_400_naming_the_problem(api: Api) -> None:
    status, body = api.call("POST", "/v1/projects", raw=b'{"name": ')
    assert status == 400 and body["Code"] == "BadRequest" and "malformed JSON" in body["Message"]
    status, body = api.call("POST", "/v1/projects", {"name": "demo", "colour": "red"})
    assert status == 400 and body["Message"] == "unknown field 'colour'"
    service = api.service()
    status, body = api.call("PATCH", f"/v1/services/{service['id']}", {"settings": {"healthcheckPath": 3}})
    assert status == 400 and "settings.healthcheckPath" in body["Message"]
    status, body = api.call("PATCH", f"/v1/services/{service['id']}", {"settings": {"healthcheckPath": "x"}})
    assert status == 400 and "healthcheckPath" in body["Message"]
    status, body = api.call("POST", "/v1/projects", {"name": "Not A Name"})
    assert status == 400 and "lowercase" in body["Message"]


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"numReplicas": 0}, "numReplicas"),
        ({"numReplicas": limits.MAX_REPLICAS + 1}, "numReplicas"),
        ({"cronSchedule": "every minute"}, "cronSchedule"),
        ({"cpuRequestMillis": 2000, "cpuLimitMillis": 1000}, "cpuRequestMillis"),
        ({"memoryLimitMb": 8}, "memoryRequestMb"),
        ({"autoscaleMaxReplicas": 3, "autoscaleMinReplicas": 5}, "autoscaleMinReplicas"),
        ({"autoscaleMaxReplicas": 3, "autoscaleCpuPercent": 0}, "autoscaleCpuPercent"),
        ({"healthcheckPath": "/health check"}, "healthcheckPath"),
        ({"customDomains": ["app.example.com"]}, "railyard domain add"),  # retired: domain records now
    ],
)
def test_invalid_replicas_resources_schedules_and_probe_paths_are_400_and_change_nothing(
    api: Api, settings: dict[str, object], named: str
) -> None:
    service = api.service()

    status, body = api.call("PATCH", f"/v1/services/{service['id']}", {"settings": settings})

    assert status == 400 and body["Code"] == "BadRequest" and named in body["Message"]
    _, after = api.call("GET", f"/v1/services/{service['id']}")
    assert after["service"]["settings"] == service["settings"]


def test_scaling_and_schedule_settings_round_trip(api: Api) -> None:
    service = api.service()
    patch = {
        "numReplicas": 3,
        "autoscaleMaxReplicas": 6,
        "autoscaleMinReplicas": 2,
        "cronSchedule": "*/5 * * * *",
    }

    status, body = api.call("PATCH", f"/v1/services/{service['id']}", {"settings": patch})

    assert status == 200, body
    settings = body["service"]["settings"]
    assert "customDomains" not in settings  # custom domains are records: /v1/services/{id}/domains
    assert (settings["numReplicas"], settings["autoscaleMaxReplicas"]) == (3, 6)
    _, again = api.call("GET", f"/v1/services/{service['id']}")
    assert again["service"]["settings"] == settings


def test_run_now_on_a_service_never_deployed_is_409_naming_it(api: Api) -> None:
    service = api.service()

    status, body = api.call("POST", f"/v1/services/{service['id']}/cron/run")

    assert status == 409 and body["Code"] == "Conflict" and "web has no live release" in body["Message"]


def test_unknown_ids_are_404(api: Api) -> None:
    for path in (
        "/v1/projects/prj_nope",
        "/v1/services/svc_nope",
        "/v1/deployments/dep_nope",
        "/v1/deployments/dep_nope/logs",
        "/v1/environments/env_nope/services",
    ):
        status, body = api.call("GET", path)
        assert status == 404, path
        assert body["Code"] == "NotFound"


def test_a_deployment_is_accepted_before_its_upload_is_looked_for(api: Api) -> None:
    """Whether the upload arrived is the workflow's Prepare step's to find (docs/decisions/0027):
    a never-uploaded source ends FAILED saying so (tests/integration/test_workflow.py)."""
    service = api.service()
    status, upload = api.call("POST", f"/v1/services/{service['id']}/uploads")
    assert status == 201 and upload["uploadUrl"].startswith("http://127.0.0.1:")
    path = f"/v1/services/{service['id']}/deployments"
    status, body = api.call("POST", path, {"sourceKey": upload["sourceKey"]})
    assert status == 201 and body["deployment"]["status"] == "QUEUED"
    assert [d.id for d in api.workflow.started] == [body["deployment"]["id"]]
    status, listed = api.call("GET", path)
    assert [d["id"] for d in listed["deployments"]] == [body["deployment"]["id"]]
    status, body = api.call("POST", path, {})
    assert status == 400 and "exactly one" in body["Message"]


def test_redeploy_and_rollback_without_a_release_are_conflicts(api: Api) -> None:
    service = api.service()
    status, body = api.call("POST", f"/v1/services/{service['id']}/deployments", {"redeploy": True})
    assert status == 409 and "railyard up" in body["Message"]
    status, body = api.call("POST", f"/v1/services/{service['id']}/rollback", {})
    assert status == 409


def test_cancel_a_queued_deployment_then_cancel_again_is_409(api: Api) -> None:
    deployment_id = api.queued_deployment()
    status, body = api.call("POST", f"/v1/deployments/{deployment_id}/cancel")
    assert status == 200 and body["deployment"]["status"] == "CANCELLED"
    assert api.workflow.stopped == [deployment_id]
    status, body = api.call("POST", f"/v1/deployments/{deployment_id}/cancel")
    assert status == 409 and body["Code"] == "InvalidTransition"


def test_variables_before_a_release_are_stored_without_a_deployment(api: Api) -> None:
    service = api.service()
    path = f"/v1/services/{service['id']}/variables"
    status, body = api.call("PATCH", path, {"set": {"A": "1", "B": "2"}})
    assert status == 200 and body == {"variables": {"A": "1", "B": "2"}, "sealed": [], "deployment": None}
    status, body = api.call("PATCH", path, {"unset": ["A"]})
    assert body["variables"] == {"B": "2"}
    assert api.call("GET", path)[1] == {"variables": {"B": "2"}, "sealed": []}
    status, body = api.call("PATCH", path, {"set": {"bad-name": "x"}})
    assert status == 400 and "bad-name" in body["Message"]


def test_logs_query_is_validated(api: Api) -> None:
    deployment_id = api.queued_deployment()
    writer = api.container.logs.open(deployment_id, "build")
    for n in range(5):
        writer.write(f"line {n}")
    writer.close()
    status, page = api.call("GET", f"/v1/deployments/{deployment_id}/logs?stream=build")
    seqs = [x["seq"] for x in page["lines"]]
    assert status == 200 and seqs == sorted(set(seqs)) and len(seqs) == 5  # increasing, maybe skipping
    status, page = api.call("GET", f"/v1/deployments/{deployment_id}/logs?stream=build&after={seqs[1]}")
    assert status == 200 and [x["message"] for x in page["lines"]] == ["line 2", "line 3", "line 4"]
    assert page["next"] == seqs[-1] and page["done"] is False
    status, body = api.call("GET", f"/v1/deployments/{deployment_id}/logs?stream=nope")
    assert status == 400 and "stream" in body["Message"]
    status, body = api.call("GET", f"/v1/deployments/{deployment_id}/logs?after=x")
    assert status == 400 and "after" in body["Message"]


def test_openapi_lists_every_route(api: Api) -> None:
    status, doc = api.call("GET", "/v1/openapi.json", token=None)
    assert status == 200 and doc["openapi"].startswith("3.")
    assert "post" in doc["paths"]["/v1/services/{service_id}/deployments"]
    assert "DeploymentCreate" in doc["components"]["schemas"]
