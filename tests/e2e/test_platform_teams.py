"""`railyard token ...`, `railyard workspace ...` and `railyard audit` end to end: the CLI as a
subprocess against `railyard dev` (its local admin token is an API token of org_default, so the
commands that need a signed-in user, creating a workspace and joining one, answer 403 here; they are
covered with user sessions in tests/api/teams)."""

from __future__ import annotations

import json
from pathlib import Path

import requests

from tests.support.platform import Dev


def _status(dev: Dev, method: str, path: str, token: str) -> int:
    answer = requests.request(
        method, dev.api_url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    return answer.status_code


def test_a_scoped_token_is_created_listed_used_and_revoked_through_the_cli(dev: Dev, tmp_path: Path) -> None:
    made = dev.api("POST", "/v1/projects", json={"name": "shop"})
    env = made["environments"][0]["id"]
    web = dev.api("POST", f"/v1/environments/{env}/services", json={"name": "web"})["service"]["id"]
    worker = dev.api("POST", f"/v1/environments/{env}/services", json={"name": "worker"})["service"]["id"]

    created = dev.cli(
        "token",
        "create",
        "--project",
        "shop",
        "--environment",
        "production",
        "--service",
        "web",
        "--actions",
        "deploy,read-logs",
        "--expires",
        "30d",
        cwd=tmp_path,
    )

    secret = created.stdout.strip().splitlines()[-1]
    token_id = created.stdout.split("Created token ", 1)[1].split()[0]
    assert secret.startswith("ry_") and token_id.startswith("tok_")
    assert _status(dev, "POST", f"/v1/services/{web}/uploads", secret) == 201
    assert _status(dev, "POST", f"/v1/services/{worker}/uploads", secret) == 404
    assert _status(dev, "PATCH", f"/v1/services/{web}/variables", secret) == 403

    listed = dev.cli("token", "list", cwd=tmp_path).stdout
    line = next(x for x in listed.splitlines() if x.startswith(token_id))
    assert "shop/production/web" in line and "deploy,read,read-logs" in line and "never used" not in line
    assert secret not in listed

    revoked = dev.cli("token", "revoke", token_id, cwd=tmp_path)
    assert f"Revoked {token_id}" in revoked.stdout
    assert _status(dev, "GET", "/v1/projects", secret) == 401  # this API process forgot it at once
    assert token_id not in dev.cli("token", "list", cwd=tmp_path).stdout
    again = dev.cli("token", "revoke", token_id, cwd=tmp_path, check=False)
    assert again.returncode == 1 and "NotFound" in again.stderr


def test_workspace_commands_and_the_audit_log_on_the_local_platform(dev: Dev, tmp_path: Path) -> None:
    listed = dev.cli("workspace", cwd=tmp_path).stdout
    assert "org_default" in listed and "token" in listed

    used = dev.cli("workspace", "use", "org_default", cwd=tmp_path)
    assert "Using workspace org_default" in used.stdout
    assert json.loads((dev.home / "config.json").read_text())["workspace_id"] == "org_default"

    invited = dev.cli("workspace", "invite", "bob@example.com", "--role", "deployer", cwd=tmp_path).stdout
    assert "Invited bob@example.com as deployer" in invited
    invitation = next(x.strip() for x in invited.splitlines() if x.strip().startswith("ry_"))
    assert dev.cli("workspace", "members", cwd=tmp_path).stdout.strip() == ""  # nobody joined yet

    create = dev.cli("workspace", "create", "acme", cwd=tmp_path, check=False)
    assert create.returncode == 1 and "Forbidden" in create.stderr and "signed-in person" in create.stderr
    join = dev.cli("workspace", "join", invitation, cwd=tmp_path, check=False)
    assert join.returncode == 1 and "signed-in person" in join.stderr

    log = dev.cli("audit", "--since", "1h", cwd=tmp_path).stdout.splitlines()
    assert "/v1/invitations/accept" in log[0] and "Forbidden" in log[0]  # newest first, refusals too
    assert "POST   /v1/workspaces " in log[1] and "Forbidden" in log[1]
    assert any("/v1/workspaces/org_default/invitations" in x and "201" in x for x in log)
    assert all(invitation not in x for x in log)
    assert all("127.0.0.1" in x for x in log)
