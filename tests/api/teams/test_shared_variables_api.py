"""An environment's shared variables and a service's resolved variables through the HTTP API (moto):
the same shape and sealing rules as a service's own, behind the same policy (roles, scoped tokens,
other workspaces); the resolved view `railyard run` uses (ADR 0037)."""

from __future__ import annotations

from typing import Any

from tests.support.teams import Acme

SECRET = "pg-pass-7f1c9e2a"


def _mint(acme: Acme, **body: Any) -> str:
    reply = acme.teams.send("POST", f"/v1/workspaces/{acme.acme}/tokens", {"name": "t", **body}, acme.alice)
    assert reply.status == 201, reply.body
    return str(reply.body["secret"])


def test_shared_variables_are_set_listed_and_sealed_like_a_services(acme: Acme) -> None:
    t = acme.teams
    shop = t.service_in(acme.alice, acme.acme, "shop", "web")
    path = f"/v1/environments/{shop['environment']}/variables"
    assert t.ok("GET", path, who=acme.alice) == {"variables": {}, "sealed": []}
    body = {"set": {"REGION": "eu", "OLD": "x"}, "sealed": {"DB_PASSWORD": SECRET}}
    patched = t.send("PATCH", path, body, acme.alice)
    assert patched.status == 200 and patched.body == {
        "variables": {"REGION": "eu", "OLD": "x"},
        "sealed": ["DB_PASSWORD"],
    }
    assert t.ok("PATCH", path, {"unset": ["OLD"]}, acme.alice)["variables"] == {"REGION": "eu"}
    listed = t.send("GET", path, who=acme.bob)  # a member reads them
    assert listed.body == {"variables": {"REGION": "eu"}, "sealed": ["DB_PASSWORD"]}
    assert SECRET not in patched.text + listed.text
    bad = t.send("PATCH", path, {"set": {"1BAD": "x"}}, acme.alice)
    assert bad.status == 400 and "1BAD" in bad.body["Message"]


def test_who_may_read_and_change_shared_variables(acme: Acme) -> None:
    t = acme.teams
    shop = t.service_in(acme.alice, acme.acme, "shop", "web")
    path = f"/v1/environments/{shop['environment']}/variables"
    change = {"set": {"A": "1"}}
    assert t.send("GET", path, who=acme.erin).status == 404  # another workspace: not even visible
    assert t.send("PATCH", path, change, acme.erin).status == 404
    assert t.send("PATCH", path, change, acme.dave).status == 403  # a viewer
    env_token = _mint(acme, actions=["read-variables", "write-variables"], environmentId=shop["environment"])
    assert t.send("PATCH", path, change, env_token).status == 200
    deploy_token = _mint(acme, actions=["deploy"], environmentId=shop["environment"])
    assert t.send("PATCH", path, change, deploy_token).status == 403
    # A service's token is scoped below the environment: its shared variables are out of sight.
    service_token = _mint(acme, actions=["read-variables"], serviceId=shop["services"]["web"])
    assert t.send("GET", path, who=service_token).status == 404


def test_the_resolved_view_merges_shared_references_and_injected_values(acme: Acme) -> None:
    t = acme.teams
    shop = t.service_in(acme.alice, acme.acme, "shop", "web", "api")
    web, api = shop["services"]["web"], shop["services"]["api"]
    t.ok(
        "PATCH", f"/v1/environments/{shop['environment']}/variables", {"set": {"MODE": "shared"}}, acme.alice
    )
    t.ok("PATCH", f"/v1/services/{api}/variables", {"set": {"PATH_PREFIX": "/v1"}}, acme.alice)
    own = {"API": "${{api.RAILWAY_PRIVATE_DOMAIN}}${{api.PATH_PREFIX}}", "MODE": "own"}
    t.ok("PATCH", f"/v1/services/{web}/variables", {"set": own, "sealed": {"KEY": SECRET}}, acme.alice)
    api_host = t.ok("GET", f"/v1/services/{api}", who=acme.alice)["service"]["hostname"]
    resolved = t.ok("GET", f"/v1/services/{web}/variables/resolved", who=acme.alice)
    values = resolved["variables"]
    assert values["API"] == f"{api_host}.localhost/v1" and values["MODE"] == "own"
    assert values["RAILWAY_SERVICE_NAME"] == values["RAILYARD_SERVICE_NAME"] == "web"
    assert values["RAILWAY_ENVIRONMENT_NAME"] == "production" and values["RAILWAY_PROJECT_NAME"] == "shop"
    assert resolved["sealed"] == ["KEY"] and "KEY" not in values  # sealed values never leave
    assert resolved["liveDifferences"] is None  # nothing deployed
    t.ok("PATCH", f"/v1/services/{web}/variables", {"set": {"API": "${{api.NOPE}}"}}, acme.alice)
    broken = t.send("GET", f"/v1/services/{web}/variables/resolved", who=acme.alice)
    assert broken.status == 400 and broken.body["Code"] == "UnresolvedReference"
    assert broken.body["Message"] == "variable API references ${{api.NOPE}}: service api has no variable NOPE"
    assert t.send("GET", f"/v1/services/{web}/variables/resolved", who=acme.erin).status == 404


def test_a_copied_environment_gets_the_shared_variables_and_deleting_it_removes_them(acme: Acme) -> None:
    from chalicelib.domain.sealing import open_variables

    t = acme.teams
    shop = t.service_in(acme.alice, acme.acme, "shop", "web")
    shared = {"set": {"REGION": "eu"}, "sealed": {"DB_PASSWORD": SECRET}}
    t.ok("PATCH", f"/v1/environments/{shop['environment']}/variables", shared, acme.alice)
    made = t.send(
        "POST",
        f"/v1/projects/{shop['project']}/environments",
        {"name": "staging", "copyFrom": "production"},
        acme.alice,
    )
    assert made.status == 201, made.body
    staging = made.body["environment"]["id"]
    path = f"/v1/environments/{staging}/variables"
    assert t.ok("GET", path, who=acme.alice) == {"variables": {"REGION": "eu"}, "sealed": ["DB_PASSWORD"]}
    # The copied sealed value opens for a release of the copy (the Deploy step's call), as the original.
    repo = t.api.container.repository
    stored = repo.get_shared_variables(staging)
    assert open_variables(t.api.container.sealer, staging, stored.sealed) == {"DB_PASSWORD": SECRET}
    gone = t.send("DELETE", f"/v1/environments/{staging}?confirm=staging", who=acme.alice)
    assert gone.status == 200, gone.body
    assert repo.get_shared_variables(staging).version == 0


def test_a_reference_to_another_service_needs_read_access_to_its_variables(acme: Acme) -> None:
    t = acme.teams
    shop = t.service_in(acme.alice, acme.acme, "shop", "web", "api")
    web, api = shop["services"]["web"], shop["services"]["api"]
    t.ok(
        "PATCH", f"/v1/services/{api}/variables", {"set": {"DB_URL": "postgres://api:pw@db/api"}}, acme.alice
    )
    web_only = _mint(acme, actions=["read-variables", "write-variables"], serviceId=web)
    # A token of web alone cannot read api's values through a reference...
    peek = t.send("PATCH", f"/v1/services/{web}/variables", {"set": {"X": "${{api.DB_URL}}"}}, web_only)
    assert peek.status == 403 and "read-variables on service api" in peek.body["Message"]
    assert t.ok("GET", f"/v1/services/{web}/variables", who=web_only)["variables"] == {}
    # ...but may refer to its own and the shared ones; someone who may read api's may refer to it.
    own = {"A": "1", "B": "${{A}}", "C": "${{shared.NOTHING_YET}}", "D": "${{web.A}}"}
    assert t.send("PATCH", f"/v1/services/{web}/variables", {"set": own}, web_only).status == 200
    assert (
        t.send("PATCH", f"/v1/services/{web}/variables", {"set": {"X": "${{api.DB_URL}}"}}, acme.alice).status
        == 200
    )
