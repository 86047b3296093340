"""Tenant isolation, generated from the served OpenAPI document.

For every route and method the document lists, a second workspace's admin and each role of the
owning workspace call it on the owner's resources. MATRIX below is the one table of who may do
what: a role allowed the route's action gets past authorization (anything but 401/403/404); a role
of the same workspace that is not gets 403; another workspace gets 404 on anything with an id in
its path, and never any of the owner's ids in a body. A route added without a path parameter
mapping or a sample body fails here until it has one, so no route escapes the matrix.
"""

from __future__ import annotations

import itertools
from typing import Any

from chalicelib.domain.authentication import hash_token
from chalicelib.domain.models import ApiToken
from tests.api.conftest import OTHER_ORG_TOKEN, Api

# action -> roles allowed to perform it (Railway's roles; the policy's ROLE_ACTIONS must agree).
MATRIX: dict[str, frozenset[str]] = {
    "read": frozenset({"admin", "member", "deployer", "viewer"}),
    "read-logs": frozenset({"admin", "member", "deployer", "viewer"}),
    "deploy": frozenset({"admin", "member", "deployer"}),
    "read-variables": frozenset({"admin", "member"}),
    "write-variables": frozenset({"admin", "member"}),
    "manage": frozenset({"admin", "member"}),
    "manage-tokens": frozenset({"admin", "member"}),
    "manage-members": frozenset({"admin"}),
    "read-audit": frozenset({"admin"}),
}
ROLES = ("admin", "member", "deployer", "viewer")
# People-only routes whose sample body names a code that does not exist (an invitation, a device's
# user code): their 404 is that code's, not a resource hidden from the caller.
SAMPLE_NAMES_NOTHING = {"POST /v1/invitations/accept", "POST /v1/auth/device/approve"}

# A valid body per request model, so a refusal is the policy's and not the body's.
_names = (f"n{i}" for i in itertools.count())
SAMPLE_BODIES: dict[str, Any] = {
    "ProjectCreate": lambda world: {"name": next(_names), "workspaceId": world["workspace_id"]},
    "EnvironmentCreate": lambda world: {"name": next(_names)},
    "ServiceCreate": lambda world: {"name": next(_names)},
    "ServicePatch": lambda world: {"settings": {"numReplicas": 1}},
    "DeploymentCreate": lambda world: {"redeploy": True},
    "RollbackCreate": lambda world: {},
    "VariablesPatch": lambda world: {"set": {"ISOLATION_PROBE": "1"}},
    "DeviceApproval": lambda world: {"userCode": "BCDF-GHJK", "approve": True},
    "ProfilePatch": lambda world: {"name": "someone"},
    "MfaCode": lambda world: {"code": "123456"},
    "MfaDisable": lambda world: {"code": "123456"},
    "DomainCreate": lambda world: {"hostname": f"{next(_names)}.example.com"},
    "WebhookCreate": lambda world: {"url": "https://hooks.example.com/x", "events": ["deployment.failed"]},
    "WorkspaceCreate": lambda world: {"name": next(_names)},
    "InvitationCreate": lambda world: {"email": f"{next(_names)}@example.com", "role": "viewer"},
    "InvitationAccept": lambda world: {"token": "ry_inv_not_a_real_invitation"},
    "MemberPatch": lambda world: {"role": "viewer"},
    "OwnershipTransfer": lambda world: {"userId": world["user_id"]},
    "TokenCreate": lambda world: {"name": next(_names), "actions": ["read"]},
    "PromotionCreate": lambda world: {"from": "production"},
    "GitLinkPut": lambda world: {"repo": "github.com/acme/shop"},
}


def _role_token(api: Api, workspace_id: str, role: str) -> str:
    """An API token carrying exactly the actions MATRIX gives `role`."""
    secret = f"ry_role_{role}"
    actions = tuple(sorted(a for a, roles in MATRIX.items() if role in roles))
    api.container.repository.save(
        ApiToken(hash_token(secret), workspace_id, f"{role} token", actions, "2026-01-01T00:00:00Z")
    )
    return secret


def _owner_world(api: Api) -> dict[str, str]:
    """The owner's resources, by the path parameter names the API uses."""
    deployment_id = api.queued_deployment()
    deployment = api.container.repository.get_deployment(deployment_id)
    project = api.container.repository.get_project(deployment.project_id)
    domain = "owner.example.com"
    status, _ = api.call("POST", f"/v1/services/{deployment.service_id}/domains", {"hostname": domain})
    assert status == 201
    status, webhook = api.call(
        "POST",
        f"/v1/projects/{deployment.project_id}/webhooks",
        {"url": "https://hooks.example.com/owner", "events": ["deployment.completed"]},
    )
    assert status == 201, webhook
    member = _member(api, project.org_id)
    status, token = api.call(
        "POST", f"/v1/workspaces/{project.org_id}/tokens", {"name": "t", "actions": ["read"]}
    )
    assert status == 201, token
    return {
        "hostname": domain,
        "user_id": member,
        "token_id": token["token"]["id"],
        "project_id": deployment.project_id,
        "environment_id": deployment.environment_id,
        "service_id": deployment.service_id,
        "deployment_id": deployment_id,
        "workspace_id": project.org_id,
        "webhook_id": webhook["webhook"]["id"],
    }


def _member(api: Api, workspace_id: str) -> str:
    """A person who signed up and joined the owner's workspace (as a viewer) by invitation."""
    return _person(api, workspace_id, "member@example.com", "viewer")[0]


def _person(api: Api, workspace_id: str, email: str, role: str) -> tuple[str, str]:
    """(user id, access token) of a person who signed up, joined `workspace_id` as `role` by
    invitation, and refreshed their session so that its token carries the role."""
    status, invited = api.call(
        "POST", f"/v1/workspaces/{workspace_id}/invitations", {"email": email, "role": role}
    )
    assert status == 201, invited
    status, signed_up = api.call(
        "POST", "/v1/auth/register", {"email": email, "password": "correct horse battery"}, token=None
    )
    assert status == 201, signed_up
    status, joined = api.call(
        "POST", "/v1/invitations/accept", {"token": invited["token"]}, token=signed_up["accessToken"]
    )
    assert status == 200, joined
    status, refreshed = api.call(
        "POST", "/v1/auth/refresh", {"refreshToken": signed_up["refreshToken"]}, token=None
    )
    assert status == 200, refreshed
    return str(signed_up["userId"]), str(refreshed["accessToken"])


def _operations(api: Api) -> list[tuple[str, str, dict[str, Any]]]:
    status, document = api.call("GET", "/v1/openapi.json", token=None)
    assert status == 200
    found = [
        (path, method.upper(), operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
        if operation.get("security")
    ]
    # Deletions last, so what one removes is still there for the routes that read or change it.
    return sorted(found, key=lambda item: item[1] == "DELETE")


def _body(operation: dict[str, Any], world: dict[str, str]) -> Any:
    content = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    ref = content.get("schema", {}).get("$ref")
    if ref is None:
        return None
    model = ref.rsplit("/", 1)[-1]
    assert model in SAMPLE_BODIES, f"add a sample body for {model} to SAMPLE_BODIES"
    return SAMPLE_BODIES[model](world)


def test_every_route_answers_other_workspaces_and_lower_roles_as_the_matrix_says(api: Api) -> None:
    world = _owner_world(api)
    # Every role twice: an API token carrying the role's actions, and a person holding the role
    # (a signed-up user who joined by invitation; their session's access token).
    callers = [(f"{role} token", role, _role_token(api, world["workspace_id"], role)) for role in ROLES]
    callers += [
        (f"{role} person", role, _person(api, world["workspace_id"], f"{role}.person@example.com", role)[1])
        for role in ROLES
    ]
    owner_ids = {v for k, v in world.items() if k not in ("workspace_id", "hostname")}
    wrong: list[str] = []
    operations = _operations(api)
    assert len(operations) >= 15, "the OpenAPI document lists fewer routes than the API has"
    for path, method, operation in operations:
        action = operation["x-railyard-action"]
        assert action in MATRIX, f"{method} {path}: action {action!r} is not in MATRIX"
        params = [p["name"] for p in operation.get("parameters", []) if p.get("in") == "path"]
        missing = [p for p in params if p not in world]
        assert not missing, f"{method} {path}: map path parameter(s) {missing} in _owner_world"
        url = path.format(**world)

        status, body = api.call(method, url, _body(operation, world), token=OTHER_ORG_TOKEN)
        if params and status != 404:
            wrong.append(f"{method} {path} by another workspace: {status}, expected 404")
        # Echoing the id the caller sent ("service svc_x not found") tells it nothing new.
        leaked = [i for i in owner_ids if i in repr(body) and i not in url]
        if leaked:
            wrong.append(f"{method} {path} by another workspace: the answer names {leaked}")

        deleted = False
        for caller, role, token in callers:
            status, body = api.call(method, url, _body(operation, world), token=token)
            if deleted and status == 404:
                continue  # an earlier caller deleted it: gone is the right answer now
            person = caller.endswith("person")
            # A people-only route (a session's profile, MFA, approving a device) refuses every token.
            allowed = role in MATRIX[action] and (person or not operation.get("x-railyard-people-only"))
            # ... and for a person, a 404 there names the sample's made-up code, not a hidden resource.
            unknown_code = person and f"{method} {path}" in SAMPLE_NAMES_NOTHING and status == 404
            if allowed and status in (401, 403, 404) and not unknown_code:
                wrong.append(f"{method} {path} as {caller}: {status} {body}, expected to be allowed")
            if not allowed and status != 403:
                wrong.append(f"{method} {path} as {caller}: {status}, expected 403")
            deleted = deleted or (method == "DELETE" and status < 300)
            if status in (403, 404) and set(body or {}) != {"Code", "Message"}:
                wrong.append(f"{method} {path} as {caller}: a refusal must be only Code and Message")
    assert not wrong, "\n".join(wrong)


def test_the_matrix_is_the_policy() -> None:
    from chalicelib.domain.policy import ROLE_ACTIONS

    for action, roles in MATRIX.items():
        assert {r for r, actions in ROLE_ACTIONS.items() if action in actions} == roles, action


def test_a_foreign_deployment_id_in_a_rollback_answers_as_a_missing_one(api: Api) -> None:
    theirs = api.queued_deployment()  # the owner's
    _, created = api.call("POST", "/v1/projects", {"name": "mine"}, token=OTHER_ORG_TOKEN)
    env_id = created["environments"][0]["id"]
    _, service = api.call(
        "POST", f"/v1/environments/{env_id}/services", {"name": "web"}, token=OTHER_ORG_TOKEN
    )
    rollback = f"/v1/services/{service['service']['id']}/rollback"
    foreign = api.call("POST", rollback, {"deploymentId": theirs}, token=OTHER_ORG_TOKEN)
    missing = api.call("POST", rollback, {"deploymentId": "dep_missing"}, token=OTHER_ORG_TOKEN)
    assert foreign[0] == missing[0] == 404
    assert foreign[1]["Message"].replace(theirs, "X") == missing[1]["Message"].replace("dep_missing", "X")
