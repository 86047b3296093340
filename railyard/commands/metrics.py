"""`railyard metrics`: the linked project's deployment metrics over a window (GET
/v1/projects/{id}/metrics, docs/decisions/0039): how often it deploys, how often that works, how long
builds and rollouts take, how long a service stays broken; overall and per service."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from railyard.commands.common import DirOption, api_client, require_link

FIGURES = ("DEPLOYS", "PER DAY", "SUCCESS", "BUILD p50/p90", "DEPLOY p50/p90", "RESTORE p50/p90")


def metrics(
    days: Annotated[int, typer.Option(min=1, max=90, help="The window: the last N days.")] = 30,
    service: Annotated[bool, typer.Option("--service", help="Only the linked service.")] = False,
    environment: Annotated[bool, typer.Option("--environment", help="Only the linked environment.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's answer as JSON.")] = False,
    directory: DirOption = Path("."),
) -> None:
    """Show the project's deployment metrics: frequency, success rate, durations, time to restore."""
    from rich.console import Console
    from rich.table import Table

    link = require_link(directory)
    params: dict[str, Any] = {"days": days}
    if service:
        params["serviceId"] = link.serviceId
    elif environment:
        params["environmentId"] = link.environmentId
    answer = api_client().project_metrics(link.projectId, params)
    if as_json:
        typer.echo(json.dumps(answer, indent=2))
        return
    scope = link.project
    if service or environment:
        scope = link.describe() if service else f"{link.project}/{link.environment}"
    typer.echo(f"Deployments of {scope}, last {answer['days']} days (since {answer['since']})")
    if not answer["deployments"]:
        typer.echo("No deployments in this window: run `railyard up`")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("SERVICE", *FIGURES):
        table.add_column(column, no_wrap=True)
    table.add_row("all", *_row(answer), style="bold")
    for row in answer["services"]:
        table.add_row(row["name"] or row["serviceId"], *_row(row))
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=200)  # piped: no squeeze, every figure whole
    console.print(table)
    statuses = ", ".join(f"{status} {count}" for status, count in answer["byStatus"].items())
    typer.echo(f"By status: {statuses or 'none ended'}; in progress: {answer['inProgress']}")
    if answer["restoresPending"]:
        typer.secho(f"Still failing: {answer['restoresPending']} service(s)", fg="yellow")


def _row(figures: dict[str, Any]) -> tuple[str, ...]:
    return (
        str(figures["deployments"]),
        f"{figures['deploymentsPerDay']:g}",
        _rate(figures),
        _spread(figures["buildDuration"]),
        _spread(figures["deployDuration"]),
        _spread(figures["timeToRestore"]),
    )


def _rate(figures: dict[str, Any]) -> str:
    rate = figures["successRate"]
    return "-" if rate is None else f"{rate:.0%}"


def _spread(spread: dict[str, Any]) -> str:
    if not spread["count"]:
        return "-"
    return f"{_duration(spread['p50Seconds'])} / {_duration(spread['p90Seconds'])}"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def register(app: typer.Typer) -> None:
    app.command("metrics")(metrics)
