"""Deploying a source decides from the service's id alone (docs/decisions/0034): who may deploy
where is the policy's answer on the place the id carries, before any AWS call, and whether the
service exists is a condition of the one transaction. These are the tenant-isolation suite's cases
for that path: another workspace, a forged id, each role, scoped tokens."""

from __future__ import annotations

from chalicelib.domain.authentication import hash_token
from chalicelib.domain.models import ApiToken
from tests.api.conftest import OTHER_ORG_TOKEN, Api
from tests.support.aws_calls import count_aws_calls

# The entry the route's audit hook writes for any refused change (chalicelib/api/routing.py): the
# use case itself makes no call before the policy's answer.
REFUSAL_RECORDED = "dynamodb.PutItem"


def _token(api: Api, secret: str, actions: tuple[str, ...], **scope: str) -> str:
    workspace = api.container.settings.org_id
    name = secret.removeprefix("ry_")  # not the secret itself: deployments now name their token (ADR 0042)
    token = ApiToken(hash_token(secret), workspace, name, actions, "2026-01-01T00:00:00Z", **scope)
    api.container.repository.save(token)  # type: ignore[arg-type]
    return secret


def _deploy(
    api: Api, service_id: str, source_key: str, token: str
) -> tuple[int, dict[str, object], list[str]]:
    """The request, with the AWS calls it made once the caller's token is cached."""
    assert api.call("GET", "/v1/projects", token=token)[0] == 200  # the token is now cached
    with count_aws_calls() as calls:
        status, body = api.call(
            "POST", f"/v1/services/{service_id}/deployments", {"sourceKey": source_key}, token
        )
    return status, body, [c for c in calls if c.startswith(("dynamodb.", "stepfunctions."))]


def test_another_workspaces_service_is_not_found_and_costs_no_aws_call(api: Api) -> None:
    service = api.service()
    source_key = api.uploaded_source(service["id"])

    status, body, calls = _deploy(api, service["id"], source_key, OTHER_ORG_TOKEN)

    assert status == 404 and body == {"Code": "NotFound", "Message": f"service {service['id']} not found"}
    assert calls == [REFUSAL_RECORDED]  # decided from the id: nothing read, nothing else written
    assert api.workflow.started == []


def test_a_forged_id_in_ones_own_workspace_is_not_found_and_writes_nothing(api: Api) -> None:
    # GIVEN a real service, and an id of the same place whose own part was never minted
    service = api.service()
    forged = service["id"][:-12] + "zzzzzzzzzzzz"
    source_key = f"sources/{forged}/src_x.tar.gz"

    status, body, calls = _deploy(api, forged, source_key, "ry_test_token")

    # THEN the same answer as a missing service always gave, and the transaction wrote nothing
    assert status == 404 and body == {"Code": "NotFound", "Message": f"service {forged} not found"}
    assert calls == ["dynamodb.TransactWriteItems", REFUSAL_RECORDED]  # cancelled by its ConditionCheck
    assert api.workflow.started == []
    assert api.container.repository.list_deployments(forged) == []


def test_roles_and_scoped_tokens_deploy_as_the_policy_says(api: Api) -> None:
    service = api.service()
    sibling = api.call("POST", f"/v1/environments/{service['environmentId']}/services", {"name": "other"})[1]
    env_token = _token(
        api,
        "ry_env_ci",
        ("deploy", "read"),
        project_id=service["projectId"],
        environment_id=service["environmentId"],
    )
    sibling_token = _token(
        api,
        "ry_sibling_ci",
        ("deploy", "read"),
        project_id=service["projectId"],
        environment_id=service["environmentId"],
        service_id=sibling["service"]["id"],
    )
    viewer = _token(api, "ry_viewer", ("read", "read-logs"))
    deployer = _token(api, "ry_deployer", ("read", "read-logs", "deploy"))

    def deploy(token: str) -> tuple[int, list[str]]:
        status, _, calls = _deploy(api, service["id"], api.uploaded_source(service["id"]), token)
        return status, calls

    assert deploy(viewer) == (403, [REFUSAL_RECORDED])  # sees the service, may not deploy it
    assert deploy(sibling_token) == (404, [REFUSAL_RECORDED])  # another service's token sees nothing
    for allowed in (deployer, env_token):
        assert deploy(allowed) == (201, ["dynamodb.TransactWriteItems"])  # then the (fake) start

    # an environment-scoped CI token polls what it created: one GetItem, its check included
    created = api.workflow.started[-1].id
    with count_aws_calls() as calls:
        status, _ = api.call("GET", f"/v1/deployments/{created}", token=env_token)
    assert status == 200 and calls == ["dynamodb.GetItem"]
