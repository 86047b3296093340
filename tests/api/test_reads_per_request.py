"""What each request costs in AWS calls, authorization included (issue 10 part 11): getting one item
is one DynamoDB read, a list is one Query, creating a deployment is one transaction and one
StartExecution (its service's id says where it lives: docs/decisions/0034; an id of the old format
adds the one read of docs/decisions/0027), and the caller's API token is read once per container
cache window, not per request."""

from __future__ import annotations

from tests.api.conftest import Api
from tests.support.aws_calls import count_aws_calls
from tests.support.old_ids import old_format_service


def _calls(api: Api, method: str, path: str, body: object = None) -> list[str]:
    with count_aws_calls() as calls:
        status, answer = api.call(method, path, body)
    assert status < 300, (method, path, status, answer)
    return calls


def test_one_item_is_one_read_and_a_list_is_one_query(api: Api) -> None:
    deployment_id = api.queued_deployment()
    deployment = api.container.repository.get_deployment(deployment_id)
    service, env = deployment.service_id, deployment.environment_id
    _calls(api, "GET", "/v1/projects")  # the token is now cached for this container

    assert _calls(api, "GET", f"/v1/services/{service}") == ["dynamodb.GetItem"]
    assert _calls(api, "GET", f"/v1/deployments/{deployment_id}") == ["dynamodb.GetItem"]
    assert _calls(api, "GET", f"/v1/projects/{deployment.project_id}") == [
        "dynamodb.GetItem",  # the project, its check included
        "dynamodb.Query",  # its environments
    ]
    assert _calls(api, "GET", "/v1/projects") == ["dynamodb.Query"]
    assert _calls(api, "GET", f"/v1/environments/{env}/services") == ["dynamodb.Query"]
    assert _calls(api, "GET", f"/v1/services/{service}/deployments") == ["dynamodb.Query"]
    # a service's variables share its partition: one Query reads both, the check included
    assert _calls(api, "GET", f"/v1/services/{service}/variables") == ["dynamodb.Query"]
    logs = _calls(api, "GET", f"/v1/deployments/{deployment_id}/logs")
    # the deployment (the check, and whether its logs are done), then the log blocks (ADR 0004)
    assert [c for c in logs if c.startswith("dynamodb.")] == ["dynamodb.GetItem"], logs


def _with_real_workflow(api: Api) -> None:
    """The container starts real executions on moto (the fixture's workflow is a fake, which makes
    no AWS call to count). Nothing works on them here: no worker polls the queues."""
    from chalicelib.adapters.workflows import StepFunctionsWorkflow

    api.container.workflow = StepFunctionsWorkflow(api.container.settings.state_machine_arn)
    api.container.__dict__.pop("deployments", None)  # built with the fake: build it again


def test_creating_a_deployment_is_one_transaction_and_one_start_execution(api: Api) -> None:
    # GIVEN a service (its id carries its place) with an uploaded source, and a warm token cache
    service = api.service()
    source_key = api.uploaded_source(service["id"])
    path = f"/v1/services/{service['id']}/deployments"
    _with_real_workflow(api)
    _calls(api, "GET", "/v1/projects")

    # WHEN `railyard up` creates the deployment
    with count_aws_calls() as calls:
        status, answer = api.call("POST", path, {"sourceKey": source_key})

    # THEN one transaction (the deployment, its audit entry, a check that the service exists) and
    # one StartExecution, the authorization included: nothing is read
    assert status == 201, answer
    assert calls == ["dynamodb.TransactWriteItems", "stepfunctions.StartExecution"]
    created = answer["deployment"]
    assert created["status"] == "QUEUED" and created["url"] is None  # Prepare fills the hostname
    stored = api.container.repository.get_deployment(created["id"])
    assert (stored.workspace_id, stored.project_id, stored.environment_id) == (
        api.container.settings.org_id,
        service["projectId"],
        service["environmentId"],
    )
    assert stored.config is None and stored.source_etag is None  # both are the Prepare step's
    status, log = api.call("GET", f"/v1/workspaces/{api.container.settings.org_id}/audit")
    assert status == 200, log
    assert [e["result"]["status"] for e in log["entries"] if e["path"] == path] == [201]


def test_the_audit_entry_is_written_with_the_deployment_and_its_event_left_to_the_workflow(
    api: Api,
) -> None:
    service = api.service()
    source_key = api.uploaded_source(service["id"])
    path = f"/v1/services/{service['id']}/deployments"
    _calls(api, "GET", "/v1/projects")

    calls = _calls(api, "POST", path, {"sourceKey": source_key})

    assert calls == ["dynamodb.TransactWriteItems"]  # then StartExecution: here the fake workflow's
    (started,) = api.workflow.started
    (audited,) = api.workflow.audits  # the workflow emits the entry's event, not the request
    assert (audited.path, audited.status, audited.resource_id) == (path, 201, service["id"])
    # the upload's ETag and an earlier build are the workflow's Prepare step's to find
    assert started.source_key == source_key and started.source_etag is None
    status, log = api.call("GET", f"/v1/workspaces/{api.container.settings.org_id}/audit")
    assert status == 200, log
    assert [e["id"] for e in log["entries"] if e["path"] == path] == [audited.id]  # written once


def test_a_service_of_the_old_id_format_is_read_once_as_before(api: Api) -> None:
    # GIVEN a service stored before ids carried their place (an 18-character body)
    service = old_format_service(api.container)
    source_key = api.uploaded_source(service.id)
    _calls(api, "GET", "/v1/projects")

    # WHEN it is deployed
    calls = _calls(api, "POST", f"/v1/services/{service.id}/deployments", {"sourceKey": source_key})

    # THEN its one read comes first (ADR 0027) and the deployment carries the service's config and URL
    assert calls == ["dynamodb.Query", "dynamodb.TransactWriteItems"]
    (started,) = api.workflow.started
    assert started.config is not None and started.hostname == service.hostname
    assert started.workspace_id == api.container.settings.org_id


def test_a_signed_in_persons_request_reads_no_token_item(api: Api) -> None:
    """An access JWT is verified from its signature and claims alone (the keys are cached per
    container), so a list costs its one Query and nothing for who is asking."""
    _, session = api.call(
        "POST",
        "/v1/auth/register",
        {"email": "reader@example.com", "password": "a long pass phrase"},
        token=None,
    )
    access = session["accessToken"]
    assert api.call("GET", "/v1/projects", token=access)[0] == 200  # the signing keys are now cached
    with count_aws_calls() as calls:
        status, _ = api.call("GET", "/v1/projects", token=access)
    assert status == 200
    assert calls == ["dynamodb.Query"]
