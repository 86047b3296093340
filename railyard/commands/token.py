"""`railyard token create | list | revoke`: API tokens for CI and scripts."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from railyard.commands.common import current_workspace, fail, teams_client

app = typer.Typer(
    help="API tokens of the workspace in use (for CI: `railyard login --token`).", no_args_is_help=True
)


def _one(kind: str, name: str, found: list[Any]) -> str:
    """The id of the item named `name` (or with that id) among `found`."""
    matches = [item for item in found if name in (item["id"], item["name"])]
    if not matches:
        fail(f"no {kind} {name!r} (there are: {', '.join(i['name'] for i in found) or 'none'})")
    return str(matches[0]["id"])


@app.command()
def create(
    actions: Annotated[
        str,
        typer.Option(
            help="Comma-separated actions (deploy, read-logs, read, read-variables, write-variables, "
            "manage, manage-tokens, manage-members, read-audit) or *."
        ),
    ],
    name: Annotated[str | None, typer.Option(help="A name to recognise it by (default: its scope).")] = None,
    project: Annotated[str | None, typer.Option(help="Narrow it to this project (name or id).")] = None,
    environment: Annotated[
        str | None, typer.Option(help="... and this environment (needs --project).")
    ] = None,
    service: Annotated[str | None, typer.Option(help="... and this service (needs --environment).")] = None,
    expires: Annotated[str, typer.Option(help="How long it lasts: 30d, 12h, 15m.")] = "90d",
    workspace: Annotated[
        str | None, typer.Option("--workspace", "-w", help="A workspace name or id.")
    ] = None,
) -> None:
    """Create a token and print it (once: Railyard keeps only its hash)."""
    if (environment and not project) or (service and not environment):
        fail("--service needs --environment, and --environment needs --project")
    client = teams_client()
    workspace_id = current_workspace(client, workspace)
    body: dict[str, Any] = {
        "actions": [a.strip() for a in actions.split(",") if a.strip()],
        "expiresIn": expires,
    }
    scope = [workspace_id]
    if project:
        body["projectId"] = _one("project", project, list(client.projects_of(workspace_id)))
        scope.append(project)
    if environment:
        body["environmentId"] = _one(
            "environment", environment, list(client.environments_of(body["projectId"]))
        )
        scope.append(environment)
    if service:
        body["serviceId"] = _one("service", service, list(client.services_of(body["environmentId"])))
        scope.append(service)
    body["name"] = name or "/".join(scope[1:] or scope)
    made = client.create_token(workspace_id, body)
    token = made["token"]
    typer.secho(
        f"Created token {token['id']} ({', '.join(token['actions'])}; expires {token['expiresAt']})",
        fg="green",
    )
    typer.echo("It is shown only now:")
    typer.echo(made["secret"])


@app.command("list")
def list_tokens(
    workspace: Annotated[
        str | None, typer.Option("--workspace", "-w", help="A workspace name or id.")
    ] = None,
) -> None:
    """List the workspace's tokens (never their secrets)."""
    client = teams_client()
    for t in client.list_tokens(current_workspace(client, workspace)):
        scope = t["serviceId"] or t["environmentId"] or t["projectId"] or t["workspaceId"]
        used = t["lastUsedAt"] or "never used"
        what = ",".join(t["actions"])
        typer.echo(f"{t['id']:<26} {t['name'][:24]:<24} {scope:<26} {what:<28} {t['expiresAt']}  {used}")


@app.command()
def revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (tok_...), from `railyard token list`.")],
) -> None:
    """Revoke a token: it stops working within 30 seconds."""
    revoked = teams_client().revoke_token(token_id)
    typer.secho(f"Revoked {revoked['id']} ({revoked['name']})", fg="green")
