"""GET /v1/projects/{id}/metrics: what the metrics consumer recorded (functions/metrics.py, fed the
events the metrics queue delivers, on the table in moto) read back as a project's figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.api.conftest import OTHER_ORG_TOKEN, Api
from tests.support.deployment_events import CONTEXT, batch, lifecycle

START = datetime.now(UTC).replace(microsecond=0)


def _deploy(api: Api, service_id: str) -> str:
    source_key = api.uploaded_source(service_id)
    status, body = api.call("POST", f"/v1/services/{service_id}/deployments", {"sourceKey": source_key})
    assert status == 201, body
    return str(body["deployment"]["id"])


def _consume(*events: dict[str, Any]) -> None:
    from functions.metrics import handler

    assert handler(batch(*events), CONTEXT) == {"batchItemFailures": []}


def test_a_success_a_failure_and_a_fix_read_back_as_the_projects_figures(api: Api) -> None:
    # GIVEN three deployments of one service: a success, a failed rollout, and a fix
    service = api.service()
    ids = [_deploy(api, service["id"]) for _ in range(3)]
    first, failed, fixed = (
        lifecycle(ids[0], service["id"], START, "SUCCESS", build=30, deploy=10),
        lifecycle(ids[1], service["id"], START + timedelta(minutes=10), "FAILED", build=40, deploy=60),
        lifecycle(ids[2], service["id"], START + timedelta(minutes=20), "SUCCESS", build=50, deploy=10),
    )

    # WHEN the metrics queue delivers their events, some twice (SQS delivers at least once)
    _consume(*first, *failed)
    _consume(*fixed, failed[-1], first[0])
    _consume(*fixed)

    # THEN the project's metrics count each deployment once
    status, body = api.call("GET", f"/v1/projects/{service['projectId']}/metrics?days=7")
    assert status == 200, body
    assert body["days"] == 7 and body["deployments"] == 3 and body["inProgress"] == 0
    assert body["byStatus"] == {"FAILED": 1, "SUCCESS": 2}
    assert body["successRate"] == 0.6667
    assert body["deploymentsPerDay"] == round(3 / 7, 3)
    assert body["buildDuration"] == {"count": 3, "p50Seconds": 40.0, "p90Seconds": 50.0}
    assert body["deployDuration"] == {"count": 3, "p50Seconds": 10.0, "p90Seconds": 60.0}
    # The failure ended at 10 min + 101 s, the fix at 20 min + 61 s.
    assert body["timeToRestore"] == {"count": 1, "p50Seconds": 560.0, "p90Seconds": 560.0}
    (web,) = body["services"]
    assert (web["serviceId"], web["name"], web["deployments"]) == (service["id"], "web", 3)
    # ... and day by day, every day of the window (8 dates: the first and the last are partial)
    assert [d["date"] for d in body["daily"]][-1] == body["until"][:10] and len(body["daily"]) == 8
    assert sum(d["deployments"] for d in body["daily"]) == 3
    assert (sum(d["succeeded"] for d in body["daily"]), sum(d["failed"] for d in body["daily"])) == (2, 1)

    # ... a filter on its environment finds them all, and one on another service none of them
    status, same = api.call(
        "GET", f"/v1/projects/{service['projectId']}/metrics?environmentId={service['environmentId']}"
    )
    assert (status, same["deployments"], same["environmentId"]) == (200, 3, service["environmentId"])
    status, other = api.call("GET", f"/v1/projects/{service['projectId']}/metrics?serviceId=svc_elsewhere")
    assert (status, other["deployments"], other["successRate"], other["services"]) == (200, 0, None, [])


def test_an_unfinished_deployment_counts_as_in_progress_without_a_verdict(api: Api) -> None:
    service = api.service()
    deployment_id = _deploy(api, service["id"])
    _consume(*lifecycle(deployment_id, service["id"], START, "SUCCESS", build=5, deploy=5)[:2])

    status, body = api.call("GET", f"/v1/projects/{service['projectId']}/metrics")

    assert status == 200 and body["days"] == 30
    assert (body["deployments"], body["inProgress"], body["successRate"]) == (1, 1, None)
    assert body["buildDuration"]["count"] == 0  # started, not finished


def test_metrics_of_a_project_one_may_not_see_are_404_and_a_bad_window_is_400(api: Api) -> None:
    service = api.service()
    path = f"/v1/projects/{service['projectId']}/metrics"

    assert api.call("GET", path, token=OTHER_ORG_TOKEN)[0] == 404
    assert api.call("GET", "/v1/projects/prj_missing/metrics")[0] == 404
    for days, named in (("0", "between 1 and 90"), ("91", "between 1 and 90"), ("x", "'days'")):
        status, body = api.call("GET", f"{path}?days={days}")
        assert status == 400 and body["Code"] == "BadRequest" and named in body["Message"], body
