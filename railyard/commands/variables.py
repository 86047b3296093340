"""`railyard variables [set|unset]`: list the service's variables, or change them in one change
that starts one deployment, then follow it; with `--shared`, the environment's shared variables
(a change starts no deployment: each service applies them at its next deploy; docs/variables.md).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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


SharedOption = Annotated[
    bool, typer.Option("--shared", help="The environment's shared variables, which every service sees.")
]


@app.callback()
def variables(ctx: typer.Context, directory: DirOption = Path("."), shared: SharedOption = False) -> None:
    """List the service's (or with --shared the environment's shared) variables as KEY=VALUE lines
    (sealed ones as KEY=<sealed>); say when the live release runs other values."""
    if ctx.invoked_subcommand is not None:
        return
    link = require_link(directory)
    client = api_client()
    if shared:
        values, sealed = client.shared_variables(link.environmentId)
    else:
        values, sealed = client.variables(link.serviceId)
    shown = {**values, **dict.fromkeys(sealed, "<sealed>")}
    if not shown:
        flag = " --shared" if shared else ""
        typer.echo(f"No variables (set some with `railyard variables set{flag} KEY=VALUE`)", err=True)
    for key in sorted(shown):
        typer.echo(f"{key}={shown[key]}")
    if not shared:
        _note_live_differences(client, link)


def _note_live_differences(client: RailyardClient, link: Link) -> None:
    """On stderr: which values the live release runs older ones of, or a reference that would fail
    the next deployment. A platform without the route says nothing."""
    from railyard.client_transport import ApiError

    try:
        resolved = client.resolved_variables(link.serviceId)
    except ApiError as error:
        if error.code == "UnresolvedReference":
            typer.echo(f"warning: {error.message}: the next deployment would fail", err=True)
        return
    live = resolved.get("liveDifferences")
    if live:
        names = ", ".join(live["names"])
        typer.echo(
            f"live release #{live['releaseNumber']} runs older values of: {names} — deploy to apply "
            "(`railyard redeploy`)",
            err=True,
        )


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
    shared: SharedOption = False,
) -> None:
    """Set variables in one change (one deployment), then follow that deployment."""
    assignments = _parse_assignments(pairs)  # before anything else: a typo must cost no request
    link = require_link(directory)
    if shared:
        _apply_shared(link, {"sealed" if sealed else "set": assignments})
        return
    _apply_variables(link, api_client(), set_=assignments, unset=None, detach=detach, sealed=sealed)


@app.command("unset")
def variables_unset(
    keys: Annotated[list[str], typer.Argument(metavar="KEY...", help="Variable names to remove.")],
    detach: DetachOption = False,
    directory: DirOption = Path("."),
    shared: SharedOption = False,
) -> None:
    """Remove variables in one change (one deployment), then follow that deployment."""
    for key in keys:
        if not VARIABLE_NAME.fullmatch(key):
            raise typer.BadParameter(f"{key!r} is not a variable name", param_hint="KEY")
    link = require_link(directory)
    if shared:
        _apply_shared(link, {"unset": list(dict.fromkeys(keys))})
        return
    _apply_variables(link, api_client(), set_=None, unset=list(dict.fromkeys(keys)), detach=detach)


def _apply_shared(link: Link, change: dict[str, Any]) -> None:
    """One PATCH of the environment's shared variables; no deployment follows."""
    api_client().update_shared_variables(link.environmentId, change)
    names = sorted(name for part in change.values() for name in part)
    typer.echo(f"Updated shared {', '.join(names)} in {link.environment}")
    typer.echo("No deployment started: each service applies them at its next deploy (`railyard redeploy`)")
