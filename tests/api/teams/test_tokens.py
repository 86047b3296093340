"""API tokens through the HTTP API (moto): scope, the creator's ceiling, expiry, revocation within
the cache bound, last-used time and the creation rate limit."""

from __future__ import annotations

from chalicelib.domain.authentication import TOKEN_CACHE_SECONDS, AuthService
from tests.api.conftest import TOKEN
from tests.support.teams import Acme, Teams


def _mint(acme: Acme, who: object, **body: object) -> tuple[int, dict]:  # type: ignore[type-arg]
    reply = acme.teams.send("POST", f"/v1/workspaces/{body.pop('workspace', acme.acme)}/tokens", body, who)  # type: ignore[arg-type]
    return reply.status, reply.body


def test_a_service_scoped_deploy_token_deploys_that_service_only(acme: Acme) -> None:
    t = acme.teams
    shop = t.service_in(acme.alice, acme.acme, "shop", "web", "worker")
    web, worker = shop["services"]["web"], shop["services"]["worker"]
    status, made = _mint(
        acme, acme.alice, name="ci", actions=["deploy", "read-logs"], serviceId=web, expiresIn="30d"
    )
    assert status == 201 and made["secret"].startswith("ry_")
    assert made["token"]["serviceId"] == web and made["token"]["projectId"] == shop["project"]
    assert made["token"]["actions"] == ["deploy", "read", "read-logs"]
    ci = made["secret"]

    assert t.send("POST", f"/v1/services/{web}/uploads", who=ci).status == 201
    assert t.send("GET", f"/v1/services/{worker}", who=ci).status == 404
    assert t.send("POST", f"/v1/services/{worker}/uploads", who=ci).status == 404
    assert t.send("PATCH", f"/v1/services/{web}/variables", {"set": {"A": "1"}}, ci).status == 403
    assert t.send("GET", f"/v1/workspaces/{acme.globex}/members", who=ci).status == 404


def test_nobody_mints_a_token_broader_than_themselves(acme: Acme) -> None:
    t = acme.teams
    shop = t.service_in(acme.alice, acme.acme, "shop", "web")
    web = shop["services"]["web"]

    deployer = _mint(acme, acme.carol, name="x", actions=["deploy"])
    member_people = _mint(acme, acme.bob, name="x", actions=["manage-members"])
    member_deploy = _mint(acme, acme.bob, name="x", actions=["deploy", "read"], projectId=shop["project"])
    assert deployer[0] == 403 and member_people[0] == 403 and "manage-members" in member_people[1]["Message"]
    assert member_deploy[0] == 201

    # A project-scoped token that may manage tokens and deploy mints a narrower deploy token only.
    _, lead = _mint(
        acme, acme.alice, name="lead", actions=["manage-tokens", "deploy", "read"], projectId=shop["project"]
    )
    narrower = _mint(acme, lead["secret"], name="web", actions=["deploy"], serviceId=web)
    broader = _mint(acme, lead["secret"], name="all", actions=["deploy"])
    more = _mint(acme, lead["secret"], name="vars", actions=["write-variables"], serviceId=web)
    assert narrower[0] == 201 and narrower[1]["token"]["createdBy"] == acme.alice.id
    assert broader[0] == 404  # its workspace is above its scope: not even visible
    assert more[0] == 403


def test_scope_ids_must_exist_in_the_workspace(acme: Acme) -> None:
    t = acme.teams
    theirs = t.service_in(acme.erin, acme.globex, "their", "web")

    foreign = _mint(acme, acme.alice, name="x", actions=["deploy"], serviceId=theirs["services"]["web"])
    missing = _mint(acme, acme.alice, name="x", actions=["deploy"], projectId="prj_nope")
    elsewhere = _mint(acme, acme.erin, name="x", actions=["deploy"])
    bad_action = _mint(acme, acme.alice, name="x", actions=["fly"])

    assert foreign[0] == 404 and missing[0] == 404 and elsewhere[0] == 404
    assert bad_action[0] == 400 and "unknown action 'fly'" in bad_action[1]["Message"]


def test_the_list_shows_scope_and_last_use_never_a_secret(acme: Acme) -> None:
    t = acme.teams
    _, made = _mint(acme, acme.bob, name="ci", actions=["read"], expiresIn=3600)
    assert (
        t.send("GET", f"/v1/workspaces/{acme.acme}/tokens", who=acme.alice).body["tokens"][0]["lastUsedAt"]
        is None
    )
    t.ok("GET", "/v1/workspaces", who=made["secret"])

    listed = t.send("GET", f"/v1/workspaces/{acme.acme}/tokens", who=acme.alice)

    (token,) = listed.body["tokens"]
    assert token["id"] == made["token"]["id"] and token["name"] == "ci" and token["actions"] == ["read"]
    assert token["createdBy"] == acme.bob.id and token["lastUsedAt"] == "2026-12-01T12:00:00.000Z"
    assert token["expiresAt"] == "2026-12-01T13:00:00.000Z"
    assert made["secret"] not in listed.text and "hash" not in listed.text


def test_a_token_stops_at_its_expiry(acme: Acme) -> None:
    t = acme.teams
    _, made = _mint(acme, acme.alice, name="short", actions=["read"], expiresIn="2m")
    assert t.send("GET", "/v1/projects", who=made["secret"]).status == 200

    t.clock.advance(121)

    expired = t.send("GET", "/v1/projects", who=made["secret"])
    assert expired.status == 401 and "expired" in expired.body["Message"]


def test_a_revoked_token_stops_at_once_here_and_within_the_cache_bound_elsewhere(acme: Acme) -> None:
    t = acme.teams
    _, made = _mint(acme, acme.alice, name="ci", actions=["read"])
    secret, token_id = made["secret"], made["token"]["id"]
    # Another API container that has already believed the token.
    elsewhere = AuthService(t.api.container.repository, t.clock, t.clock.monotonic)
    assert elsewhere.authenticate(f"Bearer {secret}").token_id == token_id
    assert t.send("GET", "/v1/projects", who=secret).status == 200

    assert t.send("DELETE", f"/v1/tokens/{token_id}", who=acme.dave).status == 403
    assert t.send("DELETE", f"/v1/tokens/{token_id}", who=acme.erin).status == 404
    revoked = t.ok("DELETE", f"/v1/tokens/{token_id}", who=acme.alice)

    assert revoked["revoked"]["id"] == token_id
    assert t.send("GET", "/v1/projects", who=secret).status == 401
    assert elsewhere.authenticate(f"Bearer {secret}").token_id == token_id  # still cached there
    t.clock.advance(TOKEN_CACHE_SECONDS)
    assert t.send("DELETE", f"/v1/tokens/{token_id}", who=acme.alice).status == 404
    try:
        elsewhere.authenticate(f"Bearer {secret}")
        raise AssertionError("a revoked token outlived the cache window")
    except Exception as error:
        assert type(error).__name__ == "Unauthorized"


def test_removing_a_member_revokes_their_tokens_in_that_workspace(acme: Acme) -> None:
    t = acme.teams
    _, made = _mint(acme, acme.bob, name="bob-ci", actions=["read"])

    removed = t.ok("DELETE", f"/v1/workspaces/{acme.acme}/members/{acme.bob.id}", who=acme.alice)

    assert removed["revokedTokens"] == [made["token"]["id"]]
    assert t.send("GET", "/v1/projects", who=made["secret"]).status == 401


def test_token_creation_is_rate_limited_per_caller(acme: Acme) -> None:
    t = acme.teams
    answers = [_mint(acme, acme.alice, name=f"t{i}", actions=["read"])[0] for i in range(11)]
    limited = t.send(
        "POST", f"/v1/workspaces/{acme.acme}/tokens", {"name": "x", "actions": ["read"]}, acme.alice
    )

    assert answers == [201] * 10 + [429]
    assert limited.status == 429 and limited.body["Code"] == "RateLimited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert _mint(acme, acme.bob, name="bob", actions=["read"])[0] == 201  # another caller's own budget
    t.clock.advance(60)
    assert _mint(acme, acme.alice, name="later", actions=["read"])[0] == 201


def test_the_local_admin_token_manages_tokens_of_its_workspace(teams: Teams) -> None:
    made = teams.ok("POST", "/v1/workspaces/org_default/tokens", {"name": "ci", "actions": ["*"]}, TOKEN)

    assert made["token"]["actions"] == ["*"] and made["token"]["createdBy"] is None
    listed = teams.ok("GET", "/v1/workspaces/org_default/tokens", who=TOKEN)["tokens"]
    assert made["token"]["id"] in [x["id"] for x in listed]
