"""`railyard cron run`: run a cron service's command now (Railway's "Run now")."""

from __future__ import annotations

from pathlib import Path

import typer

from railyard.commands.common import DirOption, RailyardGroup, api_client, require_link, tick

app = typer.Typer(cls=RailyardGroup, help="Cron services (deploy.cronSchedule).", no_args_is_help=True)


@app.command("run")
def cron_run(directory: DirOption = Path(".")) -> None:
    """Run the cron service's command now; its output goes to `railyard logs`."""
    link = require_link(directory)
    result = api_client().run_cron(link.serviceId)
    if result.get("started"):
        typer.secho(f"{tick(True)} Run started (release {result.get('releaseId')}); see `railyard logs`")
        return
    typer.secho(f"{tick(False)} Skipped: the previous run is still going", fg="yellow")
    raise typer.Exit(1)
