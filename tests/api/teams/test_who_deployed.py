"""Who made a deployment (ADR 0042), as the API shows it: a person by their email, a token by its
name, both in the list and on the deployment itself, stored in DynamoDB (moto) and read back."""

from __future__ import annotations

from tests.api.conftest import Api
from tests.support.teams import Teams


def test_a_persons_deployment_and_a_tokens_each_say_who_made_them(api: Api, teams: Teams) -> None:
    ada = teams.user("ada@example.com")
    workspace = teams.workspace(ada, "ada-co")
    service_id = teams.service_in(ada, workspace, "shop", "web")["services"]["web"]
    path = f"/v1/services/{service_id}/deployments"
    upload = teams.ok("POST", f"/v1/services/{service_id}/uploads", who=ada)
    by_ada = teams.ok("POST", path, {"sourceKey": upload["sourceKey"]}, ada)["deployment"]
    assert by_ada["createdBy"] == {
        "kind": "user",
        "name": "ada@example.com",
        "userId": ada.id,
        "label": "ada@example.com",
    }

    made = teams.ok(
        "POST", f"/v1/workspaces/{workspace}/tokens", {"name": "ci-deploy", "actions": ["deploy"]}, ada
    )
    upload = teams.ok("POST", f"/v1/services/{service_id}/uploads", who=made["secret"])
    by_token = teams.ok("POST", path, {"sourceKey": upload["sourceKey"]}, made["secret"])["deployment"]

    listed = teams.ok("GET", path, who=ada)["deployments"]
    assert [(d["id"], d["createdBy"]["label"]) for d in listed] == [
        (by_token["id"], "token ci-deploy"),
        (by_ada["id"], "ada@example.com"),
    ]
    one = teams.ok("GET", f"/v1/deployments/{by_token['id']}", who=ada)["deployment"]
    assert one["createdBy"]["kind"] == "token" and one["createdBy"]["userId"] == ada.id
