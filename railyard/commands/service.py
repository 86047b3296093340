"""`railyard service settings [--start-command ...] [--healthcheck-path /healthz] [--replicas 2] ...`:
show the linked service's settings, or change them with `PATCH /v1/services/{id}` (applied by its
next deployment).

Its flags are the rows of the settings table (chalicelib/domain/service_settings.py SETTINGS): a
setting added there is a flag here, with its type and, for a setting that can be unset, "" to unset
it. Nothing here names a setting.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Any

import typer

from chalicelib.domain.service_settings import SETTINGS, Setting
from railyard.commands.common import DirOption, RailyardGroup, api_client, require_link, tick

app = typer.Typer(cls=RailyardGroup, help="The linked service: its settings.", no_args_is_help=True)


def _help(row: Setting) -> str:
    parts = [row.config_file.description] if row.config_file else []
    if row.choices:
        parts.append(f"One of {', '.join(row.choices)}.")
    if row.maximum is not None:
        low = row.minimum if row.minimum is not None else row.above
        parts.append(f"{low:g}..{row.maximum:g}{row.unit}.")
    if row.clearable:
        parts.append('"" unsets it.')
    return " ".join(parts) or f"settings.{row.api_name}"


def _option(row: Setting) -> inspect.Parameter:
    # A clearable setting takes text so that "" can mean "unset"; it is converted on the way out.
    kind = str if row.clearable else row.kind
    annotation = Annotated[kind | None, typer.Option(f"--{row.flag}", help=_help(row))]  # type: ignore[valid-type]
    return inspect.Parameter(row.name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation)


def _value(row: Setting, raw: Any) -> Any:
    if not row.clearable or not isinstance(raw, str):
        return raw
    if raw == "":
        return None
    try:
        return row.kind(raw)
    except ValueError:
        hint = f"--{row.flag}"
        raise typer.BadParameter(f"{raw!r} is not a {row.kind.__name__}", param_hint=hint) from None


def settings(directory: Path = Path("."), **given: Any) -> None:
    """Show the service's settings, or set the ones given (applied by its next deployment)."""
    link = require_link(directory)
    client = api_client()
    sent = [row for row in SETTINGS if given.get(row.name) is not None]
    changes = {row.api_name: _value(row, given[row.name]) for row in sent}
    if changes:
        service = client.update_service_settings(link.serviceId, changes)
        changed = ", ".join(f"{k}={v!r}" for k, v in changes.items())
        typer.secho(f"{tick(True)} {link.describe()}: {changed}", fg="green")
        typer.echo("Applied by the next deployment: `railyard up` or `railyard redeploy`.")
    else:
        service = client.get_service(link.serviceId)
    current = service["settings"]
    typer.echo(f"Settings of {link.describe()}:")
    width = max(len(row.flag) for row in SETTINGS)
    for row in SETTINGS:
        value = current.get(row.api_name)
        typer.echo(f"  {row.flag.ljust(width)}  {'-' if value is None else value}")


settings.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [
        inspect.Parameter(
            "directory", inspect.Parameter.KEYWORD_ONLY, default=Path("."), annotation=DirOption
        ),
        *(_option(row) for row in SETTINGS),
    ]
)
app.command()(settings)
