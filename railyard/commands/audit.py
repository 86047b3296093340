"""`railyard audit`: the workspace's audit log, newest first (workspace admins)."""

from __future__ import annotations

from typing import Annotated

import typer

from railyard.commands.common import current_workspace, teams_client


def audit(
    since: Annotated[
        str | None, typer.Option(help="Only entries this recent: 1h, 7d, or an ISO time.")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many entries (1-500).")] = 50,
    workspace: Annotated[
        str | None, typer.Option("--workspace", "-w", help="A workspace name or id.")
    ] = None,
) -> None:
    """Show who changed what in the workspace, newest first."""
    client = teams_client()
    for e in client.audit(current_workspace(client, workspace), since, limit):
        actor = e["actor"]
        who = actor["email"] or actor["tokenId"] or actor["userId"] or actor["kind"]
        if actor["kind"] == "token" and actor["tokenId"]:
            who = f"token {actor['tokenId']}"
        result = e["result"]["code"] or e["result"]["status"]
        typer.echo(f"{e['at']}  {who:<28} {e['method']:<6} {e['path']:<48} {result}  {e['sourceIp']}")


def register(app: typer.Typer) -> None:
    app.command("audit")(audit)
