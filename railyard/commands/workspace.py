"""`railyard workspace ...`: create and choose workspaces, invite people, change their roles."""

from __future__ import annotations

from typing import Annotated

import typer

from railyard.commands.common import current_workspace, fail, teams_client

app = typer.Typer(
    help="Workspaces and their members (no subcommand: list your workspaces).", invoke_without_command=True
)
WorkspaceOption = Annotated[
    str | None, typer.Option("--workspace", "-w", help="A workspace name or id [default: the one in use].")
]
ROLES = ("admin", "member", "deployer", "viewer")


def _member_id(client: object, workspace_id: str, who: str) -> str:
    """A member by user id or email."""
    from railyard.commands.teams_client import TeamsClient

    assert isinstance(client, TeamsClient)
    if who.startswith("usr_"):
        return who
    found = [m for m in client.members(workspace_id) if (m.get("email") or "").lower() == who.lower()]
    if not found:
        fail(f"{who} is not a member of this workspace (see `railyard workspace members`)")
    return str(found[0]["userId"])


@app.callback()
def workspaces(ctx: typer.Context) -> None:
    """List your workspaces; the one in use is marked with *."""
    if ctx.invoked_subcommand is not None:
        return
    from railyard.settings import selected_workspace

    chosen = selected_workspace()
    for w in teams_client().list_workspaces():
        mark = "*" if w["id"] == chosen else " "
        typer.echo(f"{mark} {w['name']:<24} {w['id']:<28} {w['role'] or 'token'}")


@app.command()
def create(name: Annotated[str, typer.Argument(help="The workspace's name.")]) -> None:
    """Create a workspace (you become its admin) and use it."""
    from railyard.settings import save_workspace

    made = teams_client().create_workspace(name)
    save_workspace(made["id"])
    typer.secho(
        f"Created workspace {made['name']} ({made['id']}); you are its admin. Using it now.", fg="green"
    )


@app.command()
def use(workspace: Annotated[str, typer.Argument(help="A workspace name or id.")]) -> None:
    """Choose the workspace the other commands act on (saved in the CLI's config)."""
    from railyard.settings import save_workspace

    workspace_id = current_workspace(teams_client(), workspace)
    where = save_workspace(workspace_id)
    typer.echo(f"Using workspace {workspace_id} (saved to {where})")


@app.command()
def members(workspace: WorkspaceOption = None) -> None:
    """List the members of the workspace and their roles."""
    client = teams_client()
    for m in client.members(current_workspace(client, workspace)):
        typer.echo(f"{m['email'] or '-':<32} {m['role']:<9} {m['userId']}")


@app.command()
def invite(
    email: Annotated[str, typer.Argument(help="Who to invite.")],
    role: Annotated[str, typer.Option(help=f"Their role: {', '.join(ROLES)}.")] = "member",
    workspace: WorkspaceOption = None,
) -> None:
    """Invite someone by email; prints the invitation token (shown once, valid 7 days)."""
    client = teams_client()
    made = client.invite(current_workspace(client, workspace), email, role)
    invitation = made["invitation"]
    typer.echo(f"Invited {invitation['email']} as {invitation['role']} (expires {invitation['expiresAt']}).")
    typer.echo("Send them this token; it is shown only now:")
    typer.echo(f"  {made['token']}")
    typer.echo(f"They join with: railyard workspace join {made['token']}")


@app.command()
def join(token: Annotated[str, typer.Argument(help="The invitation token you were sent.")]) -> None:
    """Accept an invitation (sign in as the invited email first)."""
    joined = teams_client().accept(token)
    typer.secho(f"Joined workspace {joined['workspaceId']} as {joined['member']['role']}", fg="green")


@app.command()
def role(
    who: Annotated[str, typer.Argument(help="A member's email or user id.")],
    new_role: Annotated[str, typer.Argument(metavar="ROLE", help=f"One of {', '.join(ROLES)}.")],
    workspace: WorkspaceOption = None,
) -> None:
    """Change a member's role (the workspace always keeps an admin)."""
    client = teams_client()
    workspace_id = current_workspace(client, workspace)
    member = client.change_role(workspace_id, _member_id(client, workspace_id, who), new_role)
    typer.echo(
        f"{member['email'] or member['userId']} is now {member['role']} (from their next sign-in refresh)"
    )


@app.command()
def remove(
    who: Annotated[str, typer.Argument(help="A member's email or user id (your own: leave).")],
    workspace: WorkspaceOption = None,
) -> None:
    """Remove a member (their API tokens in the workspace are revoked)."""
    client = teams_client()
    workspace_id = current_workspace(client, workspace)
    gone = client.remove_member(workspace_id, _member_id(client, workspace_id, who))
    typer.echo(f"Removed {who}; revoked {len(gone['revokedTokens'])} of their tokens")


@app.command()
def transfer(
    who: Annotated[str, typer.Argument(help="The member to own the workspace.")],
    workspace: WorkspaceOption = None,
) -> None:
    """Transfer the workspace's ownership to a member (who becomes an admin)."""
    client = teams_client()
    workspace_id = current_workspace(client, workspace)
    owner = client.transfer(workspace_id, _member_id(client, workspace_id, who))
    typer.echo(f"{owner['email'] or owner['userId']} now owns the workspace")
