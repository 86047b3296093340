"""The HTTP routes of workspaces, API tokens and the audit log (docs/api.md), for the CLI.

A RailyardClient with one method per route. Creating a token or an invitation is sent once, without
retries: their answers carry a secret shown once, so the server keeps no replay of them, and a
retried request would make a second one.
"""

from __future__ import annotations

from typing import Any, cast

from railyard.client import RailyardClient
from railyard.client_shapes import Environment, Project, Service


class TeamsClient(RailyardClient):
    # -- workspaces and people -------------------------------------------------------------------

    def list_workspaces(self) -> list[dict[str, Any]]:
        return cast(list[dict[str, Any]], self._request("GET", "/v1/workspaces")["workspaces"])

    def create_workspace(self, name: str) -> dict[str, Any]:
        return cast(dict[str, Any], self._request("POST", "/v1/workspaces", body={"name": name})["workspace"])

    def members(self, workspace_id: str) -> list[dict[str, Any]]:
        data = self._request("GET", f"/v1/workspaces/{workspace_id}/members")
        return cast(list[dict[str, Any]], data["members"])

    def invite(self, workspace_id: str, email: str, role: str) -> dict[str, Any]:
        body = {"email": email, "role": role}
        return self._request("POST", f"/v1/workspaces/{workspace_id}/invitations", body=body)

    def accept(self, token: str) -> dict[str, Any]:
        return self._request("POST", "/v1/invitations/accept", body={"token": token})

    def change_role(self, workspace_id: str, user_id: str, role: str) -> dict[str, Any]:
        path = f"/v1/workspaces/{workspace_id}/members/{user_id}"
        return cast(dict[str, Any], self._request("PATCH", path, body={"role": role})["member"])

    def remove_member(self, workspace_id: str, user_id: str) -> dict[str, Any]:
        return self._request("DELETE", f"/v1/workspaces/{workspace_id}/members/{user_id}")

    def transfer(self, workspace_id: str, user_id: str) -> dict[str, Any]:
        path = f"/v1/workspaces/{workspace_id}/transfer"
        return cast(dict[str, Any], self._request("POST", path, body={"userId": user_id})["owner"])

    # -- names to ids -----------------------------------------------------------------------------

    def projects_of(self, workspace_id: str) -> list[Project]:
        data = self._request("GET", "/v1/projects", params={"workspaceId": workspace_id})
        return cast(list[Project], data["projects"])

    def environments_of(self, project_id: str) -> list[Environment]:
        return self.get_project(project_id)[1]

    def services_of(self, environment_id: str) -> list[Service]:
        return self.list_services(environment_id)

    # -- tokens and the audit log ----------------------------------------------------------------

    def create_token(self, workspace_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._request("POST", f"/v1/workspaces/{workspace_id}/tokens", body=body)

    def list_tokens(self, workspace_id: str) -> list[dict[str, Any]]:
        data = self._request("GET", f"/v1/workspaces/{workspace_id}/tokens")
        return cast(list[dict[str, Any]], data["tokens"])

    def revoke_token(self, token_id: str) -> dict[str, Any]:
        return cast(dict[str, Any], self._request("DELETE", f"/v1/tokens/{token_id}")["revoked"])

    def audit(self, workspace_id: str, since: str | None, limit: int) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit}
        if since:
            params["since"] = since
        data = self._request("GET", f"/v1/workspaces/{workspace_id}/audit", params=params)
        return cast(list[dict[str, Any]], data["entries"])
