"""What the workspace, token and audit commands share: the client, and which workspace they act on."""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

import typer

if TYPE_CHECKING:
    from railyard.commands.teams_client import TeamsClient


def fail(message: str) -> NoReturn:
    """`error: <message>` on stderr, exit 1 (as railyard/cli.py prints every error)."""
    typer.secho(f"error: {message}", fg="red", err=True)
    raise typer.Exit(1)


def teams_client() -> TeamsClient:
    from railyard.cli import _client
    from railyard.commands.teams_client import TeamsClient
    from railyard.settings import load_config

    config = load_config()
    if config is None:
        _client()  # raises the CLI's own "not logged in" error, naming the ways to log in
    assert config is not None
    return TeamsClient(config.api_url, config.token)


def current_workspace(client: TeamsClient, named: str | None = None) -> str:
    """The workspace named (by name or id), else the one `railyard workspace use` chose, else the
    caller's only one."""
    from railyard.settings import selected_workspace

    if named is None:
        chosen = selected_workspace()
        if chosen:
            return chosen
    workspaces = client.list_workspaces()
    if named is not None:
        matches = [w for w in workspaces if named in (w["id"], w["name"])]
        if len(matches) == 1:
            return str(matches[0]["id"])
        if not matches:
            fail(f"no workspace {named!r} among yours: {', '.join(w['name'] for w in workspaces) or 'none'}")
        ids = ", ".join(w["id"] for w in matches)
        fail(f"several of your workspaces are named {named!r}: use its id ({ids})")
    if len(workspaces) == 1:
        return str(workspaces[0]["id"])
    fail(
        "you belong to no workspace: create one with `railyard workspace create <name>`"
        if not workspaces
        else "you belong to several workspaces: choose one with `railyard workspace use <name>`"
    )
