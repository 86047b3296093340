"""`railyard variables [set|unset]`: list the service's variables, or change them in one change
that starts one deployment, then follow it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from railyard.commands.common import DetachOption, DirOption, RailyardGroup, api_client, require_link
from railyard.commands.following import follow_and_finish

if TYPE_CHECKING:
    from railyard.client import RailyardClient
    from railyard.settings import Link

VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

app = typer.Typer(
    cls=RailyardGroup,
    help="List, set and unset the service's variables (no subcommand: list them).",
    invoke_without_command=True,
)


def _parse_assignments(pairs: list[str]) -> dict[str, str]:
    """KEY=VALUE arguments as a dict; a malformed one is a usage error before any request."""
    parsed: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not VARIABLE_NAME.fullmatch(key):
            raise typer.BadParameter(
                f"{pair!r} is not KEY=VALUE with KEY matching [A-Za-z_][A-Za-z0-9_]*",
                param_hint="KEY=VALUE",
            )
        parsed[key] = value  # a repeated key: the last one wins, as in a shell
    return parsed


@app.callback()
def variables(ctx: typer.Context, directory: DirOption = Path(".")) -> None:
    """List the service's variables as KEY=VALUE lines (sealed ones as KEY=<sealed>)."""
    if ctx.invoked_subcommand is not None:
        return
    link = require_link(directory)
    values, sealed = api_client().variables(link.serviceId)
    shown = {**values, **dict.fromkeys(sealed, "<sealed>")}
    if not shown:
        typer.echo("No variables (set some with `railyard variables set KEY=VALUE`)", err=True)
    for key in sorted(shown):
        typer.echo(f"{key}={shown[key]}")


def _apply_variables(
    link: Link,
    client: RailyardClient,
    *,
    set_: dict[str, str] | None,
    unset: list[str] | None,
    detach: bool,
    sealed: bool = False,
) -> None:
    if sealed:
        result = client.update_variables(link.serviceId, sealed=set_)
    else:
        result = client.update_variables(link.serviceId, set_=set_, unset=unset)
    changed = sorted([*(set_ or {}), *(unset or [])])
    typer.echo(f"Updated {', '.join(changed)}")
    deployment = result.get("deployment")
    if deployment is None:
        typer.echo("No deployment started (nothing deployed yet); they apply on the next `railyard up`")
        return
    typer.echo(f"Deployment {deployment['id']} created to apply them")
    follow_and_finish(client, link, deployment, detach)


@app.command("set")
def variables_set(
    pairs: Annotated[
        list[str], typer.Argument(metavar="KEY=VALUE...", help="Pairs, all applied in one change.")
    ],
    detach: DetachOption = False,
    directory: DirOption = Path("."),
    sealed: Annotated[
        bool,
        typer.Option("--sealed", help="Store the values encrypted: only the running app can read them."),
    ] = False,
) -> None:
    """Set variables in one change (one deployment), then follow that deployment."""
    assignments = _parse_assignments(pairs)  # before anything else: a typo must cost no request
    link = require_link(directory)
    _apply_variables(link, api_client(), set_=assignments, unset=None, detach=detach, sealed=sealed)


@app.command("unset")
def variables_unset(
    keys: Annotated[list[str], typer.Argument(metavar="KEY...", help="Variable names to remove.")],
    detach: DetachOption = False,
    directory: DirOption = Path("."),
) -> None:
    """Remove variables in one change (one deployment), then follow that deployment."""
    for key in keys:
        if not VARIABLE_NAME.fullmatch(key):
            raise typer.BadParameter(f"{key!r} is not a variable name", param_hint="KEY")
    link = require_link(directory)
    _apply_variables(link, api_client(), set_=None, unset=list(dict.fromkeys(keys)), detach=detach)
