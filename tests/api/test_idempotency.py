"""Idempotency-Key on the creating routes: a repeat answers the first response and creates nothing.

Real DynamoDB on moto holds the records (the main table, IDEMPOTENCY#... items); the workflow is
the gated fake of tests/api/conftest.py, so "one deployment" means one start and one listed item.
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from tests.api.conftest import OTHER_ORG_TOKEN, Api, Reply


def deployments_path(api: Api) -> tuple[str, str]:
    service = api.service()
    return f"/v1/services/{service['id']}/deployments", api.uploaded_source(service["id"])


def listed(api: Api, path: str) -> list[str]:
    status, body = api.call("GET", path)
    assert status == 200
    return [d["id"] for d in body["deployments"]]


def test_the_same_key_and_body_twice_makes_one_deployment_and_answers_the_first_response(api: Api) -> None:
    path, source_key = deployments_path(api)
    key = str(uuid.uuid4())

    first = api.send("POST", path, {"sourceKey": source_key}, key=key)
    again = api.send("POST", path, {"sourceKey": source_key}, key=key)

    assert first.status == again.status == 201
    assert again.text == first.text  # byte for byte, ids and timestamps included
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert listed(api, path) == [first.body["deployment"]["id"]]
    assert [d.id for d in api.workflow.started] == [first.body["deployment"]["id"]]


def test_a_project_retried_with_its_key_is_the_same_project_not_a_conflict(api: Api) -> None:
    key = str(uuid.uuid4())

    first = api.send("POST", "/v1/projects", {"name": "shop"}, key=key)
    again = api.send("POST", "/v1/projects", {"name": "shop"}, key=key)
    unkeyed = api.send("POST", "/v1/projects", {"name": "shop"})

    assert (first.status, again.status) == (201, 201) and again.body == first.body
    assert unkeyed.status == 409 and unkeyed.body["Code"] == "Conflict"  # without the key: a new request
    _, projects = api.call("GET", "/v1/projects")
    assert [p["id"] for p in projects["projects"]] == [first.body["project"]["id"]]


def test_the_same_key_with_another_body_is_409_naming_the_key_and_creates_nothing(api: Api) -> None:
    path, source_key = deployments_path(api)
    key = "deploy-1"
    first = api.send("POST", path, {"sourceKey": source_key}, key=key)

    other = api.send("POST", path, {"sourceKey": source_key, "noCache": True}, key=key)

    assert first.status == 201
    assert other.status == 409
    assert other.body["Code"] == "IdempotencyKeyReused"
    assert "'deploy-1'" in other.body["Message"] and path in other.body["Message"]
    assert listed(api, path) == [first.body["deployment"]["id"]]


def test_without_a_key_the_same_request_twice_makes_two_deployments(api: Api) -> None:
    path, source_key = deployments_path(api)

    first = api.send("POST", path, {"sourceKey": source_key})
    second = api.send("POST", path, {"sourceKey": source_key})

    assert first.status == second.status == 201
    assert first.body["deployment"]["id"] != second.body["deployment"]["id"]
    assert len(listed(api, path)) == 2


def test_keys_of_two_organizations_never_collide(api: Api) -> None:
    key = "same-key-in-two-workspaces"

    mine = api.send("POST", "/v1/projects", {"name": "demo"}, key=key)
    theirs = api.send("POST", "/v1/projects", {"name": "demo"}, key=key, token=OTHER_ORG_TOKEN)

    assert (mine.status, theirs.status) == (201, 201)
    assert "Idempotent-Replayed" not in theirs.headers
    assert mine.body["project"]["id"] != theirs.body["project"]["id"]
    _, listed_mine = api.call("GET", "/v1/projects")
    _, listed_theirs = api.call("GET", "/v1/projects", token=OTHER_ORG_TOKEN)
    assert [p["id"] for p in listed_mine["projects"]] == [mine.body["project"]["id"]]
    assert [p["id"] for p in listed_theirs["projects"]] == [theirs.body["project"]["id"]]


def test_one_key_on_two_services_is_two_requests(api: Api) -> None:
    web = api.service()
    _, worker = api.call("POST", f"/v1/environments/{web['environmentId']}/services", {"name": "worker"})
    services = (web, worker["service"])
    sources = [api.uploaded_source(s["id"]) for s in services]

    a, b = (
        api.send("POST", f"/v1/services/{s['id']}/deployments", {"sourceKey": src}, key="k")
        for s, src in zip(services, sources, strict=True)
    )

    assert (a.status, b.status) == (201, 201)
    assert (a.body["deployment"]["serviceId"], b.body["deployment"]["serviceId"]) == (
        web["id"],
        worker["service"]["id"],
    )


def test_a_failed_request_keeps_nothing_so_its_retry_with_the_key_runs(api: Api) -> None:
    path, source_key = deployments_path(api)
    body = {"sourceKey": source_key}

    api.workflow.error = ConnectionError("states endpoint unreachable")  # the workflow cannot start
    early = api.send("POST", path, body, key="k1")
    api.workflow.error = None
    retried = api.send("POST", path, body, key="k1")

    assert early.status == 503 and early.body["Code"] == "TransientError"
    assert retried.status == 201 and "Idempotent-Replayed" not in retried.headers
    assert listed(api, path)[0] == retried.body["deployment"]["id"]  # newest first; the first FAILED
    assert [d.id for d in api.workflow.started] == [retried.body["deployment"]["id"]]


def test_a_repeat_while_the_first_request_still_runs_is_409_request_in_progress(api: Api) -> None:
    path, source_key = deployments_path(api)
    api.workflow.hold = True
    answers: list[Reply] = []
    first = threading.Thread(
        target=lambda: answers.append(api.send("POST", path, {"sourceKey": source_key}, key="slow"))
    )
    first.start()
    try:
        assert api.workflow.entered.wait(10), "the first request never reached the workflow"

        repeat = api.send("POST", path, {"sourceKey": source_key}, key="slow")
    finally:
        api.workflow.release.set()
        first.join(10)

    assert repeat.status == 409 and repeat.body["Code"] == "RequestInProgress"
    assert "'slow'" in repeat.body["Message"]
    assert [a.status for a in answers] == [201]
    api.workflow.hold = False
    after = api.send("POST", path, {"sourceKey": source_key}, key="slow")
    assert after.status == 201 and after.text == answers[0].text
    assert len(listed(api, path)) == 1


@pytest.mark.parametrize("idempotency_ttl", [1])
def test_after_the_record_expires_the_same_key_creates_again(api: Api) -> None:
    path, source_key = deployments_path(api)
    first = api.send("POST", path, {"sourceKey": source_key}, key="k")
    replay = api.send("POST", path, {"sourceKey": source_key}, key="k")

    time.sleep(2.1)  # records expire on whole seconds: past the next full second after ttl
    later = api.send("POST", path, {"sourceKey": source_key}, key="k")

    assert replay.text == first.text
    assert later.status == 201 and "Idempotent-Replayed" not in later.headers
    assert later.body["deployment"]["id"] != first.body["deployment"]["id"]
    assert len(listed(api, path)) == 2


def test_a_record_is_its_own_item_in_the_main_table_and_expires_through_its_ttl_a_day_later(
    api: Api,
) -> None:
    from chalicelib.adapters.aws import client

    api.send("POST", "/v1/projects", {"name": "demo"}, key="k")
    table = api.container.settings.table_name

    items = client("dynamodb").scan(  # a test may scan: it looks for every record there is
        TableName=table,
        FilterExpression="begins_with(pk, :p)",
        ExpressionAttributeValues={":p": {"S": "IDEMPOTENCY#"}},
    )["Items"]
    ttl = client("dynamodb").describe_time_to_live(TableName=table)["TimeToLiveDescription"]

    assert len(items) == 1 and items[0]["sk"] == {"S": "IDEMPOTENCY"}
    assert items[0]["status"] == {"S": "COMPLETED"}
    assert ttl["AttributeName"] == "expires_at"
    assert abs(int(items[0]["expires_at"]["N"]) - (time.time() + 24 * 3600)) < 60


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "naïve"])
def test_a_malformed_key_is_400_and_runs_nothing(api: Api, key: str) -> None:
    path, source_key = deployments_path(api)

    reply = api.send("POST", path, {"sourceKey": source_key}, key=key)

    assert reply.status == 400 and "Idempotency-Key" in reply.body["Message"]
    assert listed(api, path) == []


def test_openapi_documents_the_header_on_every_creating_route_and_only_there(api: Api) -> None:
    _, doc = api.call("GET", "/v1/openapi.json", token=None)

    keyed = {
        (method.upper(), path)
        for path, operations in doc["paths"].items()
        for method, operation in operations.items()
        if {"$ref": "#/components/parameters/IdempotencyKey"} in operation["parameters"]
    }

    assert keyed == {
        ("POST", "/v1/projects"),
        ("POST", "/v1/projects/{project_id}/environments"),
        ("POST", "/v1/environments/{environment_id}/services"),
        ("POST", "/v1/services/{service_id}/deployments"),
        ("POST", "/v1/services/{service_id}/rollback"),
        ("PATCH", "/v1/services/{service_id}/variables"),
        ("PATCH", "/v1/environments/{environment_id}/variables"),
        ("POST", "/v1/services/{service_id}/cron/run"),
        ("POST", "/v1/services/{service_id}/domains"),
        ("POST", "/v1/environments/{environment_id}/promote"),
    }
    assert doc["components"]["parameters"]["IdempotencyKey"]["in"] == "header"
