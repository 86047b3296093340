"""Workspaces, members, roles and invitations through the HTTP API (moto), two workspaces apart.

Users are signed in through tests/support/teams.Sessions (each request sees the user's current
roles, as a refreshed session would); the local admin token (TOKEN) is an API token of org_default.
"""

from __future__ import annotations

from tests.api.conftest import TOKEN
from tests.support.teams import Acme, Teams


def test_a_signed_in_user_creates_a_workspace_and_is_its_admin_but_an_api_token_cannot(teams: Teams) -> None:
    alice = teams.user("alice@example.com")

    made = teams.ok("POST", "/v1/workspaces", {"name": "acme"}, alice)
    refused = teams.send("POST", "/v1/workspaces", {"name": "tokenco"}, TOKEN)

    assert made["workspace"]["role"] == "admin" and made["workspace"]["ownerUserId"] == alice.id
    assert teams.ok("GET", "/v1/workspaces", who=alice)["workspaces"] == [made["workspace"]]
    assert refused.status == 403 and "signed-in person" in refused.body["Message"]
    mine = teams.ok("GET", "/v1/workspaces", who=TOKEN)["workspaces"]
    assert [(w["id"], w["role"]) for w in mine] == [("org_default", None)]


def test_invited_people_join_with_their_role_and_see_the_members(acme: Acme) -> None:
    t = acme.teams
    members = t.ok("GET", f"/v1/workspaces/{acme.acme}/members", who=acme.dave)["members"]

    assert {(m["email"], m["role"]) for m in members} == {
        ("alice@example.com", "admin"),
        ("bob@example.com", "member"),
        ("carol@example.com", "deployer"),
        ("dave@example.com", "viewer"),
        ("zed@example.com", "viewer"),
    }
    roles = {w["name"]: w["role"] for w in t.ok("GET", "/v1/workspaces", who=acme.bob)["workspaces"]}
    assert roles == {"acme": "member"}


def test_an_invitation_is_for_its_email_only_once_and_for_seven_days(acme: Acme) -> None:
    t = acme.teams
    frank, mallory = t.user("frank@example.com"), t.user("mallory@example.com")
    invite = t.ok(
        "POST",
        f"/v1/workspaces/{acme.acme}/invitations",
        {"email": "Frank@Example.com", "role": "viewer"},
        acme.alice,
    )
    assert invite["token"].startswith("ry_") and invite["invitation"]["email"] == "frank@example.com"

    wrong = t.send("POST", "/v1/invitations/accept", {"token": invite["token"]}, mallory)
    by_token = t.send("POST", "/v1/invitations/accept", {"token": invite["token"]}, TOKEN)
    joined = t.ok("POST", "/v1/invitations/accept", {"token": invite["token"]}, frank)
    again = t.send("POST", "/v1/invitations/accept", {"token": invite["token"]}, frank)

    assert wrong.status == 403 and by_token.status == 403
    assert joined["member"]["role"] == "viewer" and joined["workspaceId"] == acme.acme
    assert again.status == 404
    late = t.ok(
        "POST", f"/v1/workspaces/{acme.acme}/invitations", {"email": "mallory@example.com"}, acme.alice
    )
    t.clock.advance(7 * 86400 + 1)
    expired = t.send("POST", "/v1/invitations/accept", {"token": late["token"]}, mallory)
    assert expired.status == 404 and "expired" in expired.body["Message"]


# Each role's answer on its own workspace's people routes; anyone from another workspace gets 404.
MATRIX = [
    # (route label, admin, member, deployer, viewer)
    ("members", 200, 200, 200, 200),
    ("invite", 201, 403, 403, 403),
    ("change role", 200, 403, 403, 403),
    ("transfer", 200, 403, 403, 403),
    ("audit", 200, 403, 403, 403),
    ("tokens", 200, 200, 403, 403),
    ("remove", 200, 403, 403, 403),
]
ROLES = ("admin", "member", "deployer", "viewer")


def _request(acme: Acme, label: str) -> tuple[str, str, object]:
    ws, target = acme.acme, acme.zed.id
    return {
        "members": ("GET", f"/v1/workspaces/{ws}/members", None),
        "invite": (
            "POST",
            f"/v1/workspaces/{ws}/invitations",
            {"email": "new@example.com", "role": "viewer"},
        ),
        "change role": ("PATCH", f"/v1/workspaces/{ws}/members/{target}", {"role": "viewer"}),
        "remove": ("DELETE", f"/v1/workspaces/{ws}/members/{target}", None),
        "transfer": ("POST", f"/v1/workspaces/{ws}/transfer", {"userId": acme.alice.id}),
        "audit": ("GET", f"/v1/workspaces/{ws}/audit", None),
        "tokens": ("GET", f"/v1/workspaces/{ws}/tokens", None),
    }[label]


def test_each_role_may_do_what_its_role_allows_and_other_workspaces_see_nothing(acme: Acme) -> None:
    answers: dict[str, dict[str, int]] = {}
    for label, *_ in MATRIX:  # in order: the removal comes after the reads of the removed member
        method, path, body = _request(acme, label)
        outsider = acme.teams.send(method, path, body, acme.erin)
        foreign_token = acme.teams.send(method, path, body, TOKEN)
        assert outsider.status == 404 and foreign_token.status == 404, f"{label}: {outsider.text}"
        # Lower roles first: an admin's success must not change what the others are asked.
        answers[label] = {
            role: acme.teams.send(method, path, body, acme.by_role(role)).status for role in reversed(ROLES)
        }

    assert answers == {label: dict(zip(ROLES, row, strict=True)) for label, *row in MATRIX}


def test_the_last_admin_cannot_leave_be_removed_or_be_demoted(acme: Acme) -> None:
    t, ws, alice = acme.teams, acme.acme, acme.alice

    for method, path, body in (
        ("PATCH", f"/v1/workspaces/{ws}/members/{alice.id}", {"role": "member"}),
        ("DELETE", f"/v1/workspaces/{ws}/members/{alice.id}", None),
    ):
        refused = t.send(method, path, body, alice)
        assert refused.status == 409 and refused.body["Code"] == "LastAdmin", refused.text
        assert "must keep an admin" in refused.body["Message"]

    t.ok("PATCH", f"/v1/workspaces/{ws}/members/{acme.bob.id}", {"role": "admin"}, alice)
    t.ok("DELETE", f"/v1/workspaces/{ws}/members/{alice.id}", who=alice)  # now she may leave
    members = t.ok("GET", f"/v1/workspaces/{ws}/members", who=acme.bob)["members"]
    assert [m["email"] for m in members if m["role"] == "admin"] == ["bob@example.com"]
    assert t.send("GET", f"/v1/workspaces/{ws}/members", who=alice).status == 404


def test_anyone_may_leave_but_only_admins_remove_others(acme: Acme) -> None:
    t, ws = acme.teams, acme.acme

    assert t.send("DELETE", f"/v1/workspaces/{ws}/members/{acme.bob.id}", who=acme.dave).status == 403
    t.ok("DELETE", f"/v1/workspaces/{ws}/members/{acme.dave.id}", who=acme.dave)

    assert t.ok("GET", "/v1/workspaces", who=acme.dave)["workspaces"] == []


def test_ownership_moves_to_a_member_who_becomes_admin(acme: Acme) -> None:
    t, ws = acme.teams, acme.acme

    moved = t.ok("POST", f"/v1/workspaces/{ws}/transfer", {"userId": acme.carol.id}, acme.alice)

    assert moved["owner"]["role"] == "admin"
    views = t.ok("GET", "/v1/workspaces", who=acme.carol)["workspaces"]
    assert views[0]["ownerUserId"] == acme.carol.id and views[0]["role"] == "admin"
    missing = t.send("POST", f"/v1/workspaces/{ws}/transfer", {"userId": acme.erin.id}, acme.alice)
    assert missing.status == 404


def test_a_role_change_reaches_the_user_at_the_next_session_refresh(acme: Acme) -> None:
    t, ws = acme.teams, acme.acme
    assert (
        t.send("POST", f"/v1/workspaces/{ws}/invitations", {"email": "x@example.com"}, acme.bob).status == 403
    )

    t.ok("PATCH", f"/v1/workspaces/{ws}/members/{acme.bob.id}", {"role": "admin"}, acme.alice)

    assert (
        t.send("POST", f"/v1/workspaces/{ws}/invitations", {"email": "x@example.com"}, acme.bob).status == 201
    )
    bad = t.send("PATCH", f"/v1/workspaces/{ws}/members/{acme.bob.id}", {"role": "owner"}, acme.alice)
    assert bad.status == 400 and "admin, member, deployer, viewer" in bad.body["Message"]
