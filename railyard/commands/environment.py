"""`railyard environment new|list|use|delete|promote`: the linked project's environments (ADR 0036).

The environment in use is the one `.railyard.json` points at: `use` re-points the link to the
service of the same name in another environment, so every other command (up, status, logs,
variables, service settings...) then acts there.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from railyard.commands.common import CliError, DirOption, RailyardGroup, api_client, require_link, tick

if TYPE_CHECKING:
    from railyard.client import RailyardClient
    from railyard.settings import Link

app = typer.Typer(cls=RailyardGroup, help="Create, list, switch, delete and promote environments.")
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (scripts).")]


def _find(client: RailyardClient, link: Link, name: str) -> dict[str, Any]:
    environments = client.list_environments(link.projectId)
    for env in environments:
        if name in (env["id"], env["name"]):
            return dict(env)
    known = ", ".join(e["name"] for e in environments)
    raise CliError(f"project {link.project} has no environment {name!r} (it has: {known})")


def _switch(directory: Path, link: Link, client: RailyardClient, env: dict[str, Any]) -> Link:
    """Points the link at the same-named service of `env`."""
    from dataclasses import replace

    from railyard.settings import save_link

    services = [s for s in client.list_services(env["id"]) if s["name"] == link.service]
    if not services:
        raise CliError(
            f"environment {env['name']} has no service {link.service}: create the environment as a copy "
            f"(`railyard environment new <name> --copy {link.environment}`) or add the service there"
        )
    moved = replace(link, environmentId=env["id"], environment=env["name"], serviceId=services[0]["id"])
    save_link(directory.resolve(), moved)
    return moved


@app.command()
def new(
    name: Annotated[str, typer.Argument(help="The new environment's name.")],
    copy: Annotated[
        str | None,
        typer.Option("--copy", help="Copy this environment's services, settings and variables."),
    ] = None,
    directory: DirOption = Path("."),
) -> None:
    """Create an environment in the linked project, empty or as a copy of another."""
    link = require_link(directory)
    made = api_client().create_environment(link.projectId, name, copy)
    source = f" as a copy of {made['copiedFrom']['name']}" if made.get("copiedFrom") else ""
    typer.secho(f"{tick(True)} Created environment {made['environment']['name']}{source}", fg="green")
    for service in made["services"]:
        typer.echo(f"  {service['name']}: {service['url'] or service['hostname']} (not deployed yet)")
    typer.echo(f"Next: railyard environment use {name}")


@app.command("list")
def list_(directory: DirOption = Path(".")) -> None:
    """List the linked project's environments; `*` marks the one in use."""
    link = require_link(directory)
    for env in api_client().list_environments(link.projectId):
        mark = "*" if env["id"] == link.environmentId else " "
        typer.echo(f"{mark} {env['name']}  ({env['id']})")


@app.command()
def use(
    name: Annotated[str, typer.Argument(help="The environment to act on from now on.")],
    directory: DirOption = Path("."),
) -> None:
    """Point this directory at the same-named service in another environment."""
    link = require_link(directory)
    client = api_client()
    moved = _switch(directory, link, client, _find(client, link, name))
    typer.secho(f"{tick(True)} Now using {moved.describe()}", fg="green")


@app.command()
def delete(
    name: Annotated[str, typer.Argument(help="The environment to delete.")],
    yes: YesOption = False,
    directory: DirOption = Path("."),
) -> None:
    """Delete an environment: stop its services and remove them, their variables and releases."""
    link = require_link(directory)
    client = api_client()
    env = _find(client, link, name)
    if not yes:
        typer.echo(f"This stops and removes every service of {link.project}/{env['name']}.")
        typed = typer.prompt(f"Type the environment's name ({env['name']}) to confirm", default="")
        if typed != env["name"]:
            raise CliError(f"not deleted: {typed!r} is not {env['name']!r}")
    done = client.delete_environment(env["id"], env["name"])
    typer.secho(f"{tick(True)} Deleted environment {env['name']}", fg="green")
    for service in done["services"]:
        typer.echo(f"  {service}: stopped and removed")
    if env["id"] == link.environmentId:
        try:
            moved = _switch(directory, link, client, _find(client, link, "production"))
        except CliError:
            typer.echo("This directory was using it: choose another with `railyard environment use <name>`")
            return
        typer.echo(f"This directory was using it; now using {moved.describe()}")


@app.command()
def promote(
    source: Annotated[str, typer.Option("--from", help="The environment whose live releases to deploy.")],
    target: Annotated[str, typer.Option("--to", help="The environment to deploy them to.")],
    service: Annotated[str | None, typer.Option("--service", help="Only this service.")] = None,
    directory: DirOption = Path("."),
) -> None:
    """Deploy one environment's live releases (no rebuild) to the same-named services of another."""
    link = require_link(directory)
    client = api_client()
    answer = client.promote(_find(client, link, target)["id"], source, service)
    for promoted in answer["promotions"]:
        deployment = promoted["deployment"]
        if deployment is None:
            typer.echo(f"  {promoted['service']}: skipped ({promoted['skipped']})")
            continue
        typer.secho(
            f"{tick(True)} {promoted['service']}: release v{promoted['releaseNumber']} of "
            f"{answer['from']['name']} → {answer['to']['name']} as deployment {deployment['id']} "
            f"({deployment['status']})",
            fg="green",
        )
    typer.echo(f"Note: {answer['note']}.")
    if answer["to"]["id"] == link.environmentId:
        typer.echo("Follow it: `railyard status`, `railyard logs -f`")
    else:
        typer.echo(f"Follow it: `railyard environment use {answer['to']['name']}`, then `railyard status`")
