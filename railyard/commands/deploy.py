"""The linked service's deployments: `init` (link a directory), `up`, `status`, `logs`,
`deployments`, `rollback` and `redeploy`.

Every command talks only to the HTTP API (docs/api.md) through ``railyard.client``, imported when a
command runs; following a deployment is railyard/commands/following.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from railyard.commands import following
from railyard.commands.common import CliError, DetachOption, DirOption, api_client, require_link, tick
from railyard.commands.following import (
    EXIT_INTERRUPTED,
    LogCursor,
    echo_status,
    end_statuses,
    follow_and_finish,
    latest_deployment,
    pump,
    status_colour,
)

if TYPE_CHECKING:
    from railyard.client import RailyardClient


def register(app: typer.Typer) -> None:
    """In the order `railyard --help` lists them."""
    for command in (init, up, status, logs, deployments, rollback, redeploy):
        app.command()(command)


def _sanitize_name(raw: str) -> str:
    """A DNS-label-safe name ([a-z0-9-]): service (and default project) names end up in hostnames."""
    name = re.sub(r"[^a-z0-9]+", "-", raw.lower()).strip("-")
    return name[:32].strip("-") or "app"  # the API allows 32


def _human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


def init(
    name: Annotated[str | None, typer.Option(help="Service name [default: the directory name].")] = None,
    project: Annotated[str | None, typer.Option(help="Project name [default: the directory name].")] = None,
    directory: DirOption = Path("."),
) -> None:
    """Create (or reuse) a project and a service, and link this directory to it."""
    from railyard.settings import Link, link_path, load_link, save_link

    root = directory.resolve()
    if not root.is_dir():
        raise CliError(f"{root} is not a directory")
    existing = load_link(root)
    if existing is not None:
        typer.echo(f"Already linked to {existing.describe()} ({link_path(root)})")
        return
    client = api_client()
    project_name = project or _sanitize_name(root.name)
    service_name = _sanitize_name(name) if name else _sanitize_name(root.name)

    # Reuse a project/service of the same name: re-running init after deleting .railyard.json,
    # or on a second machine, links to the same service instead of failing or duplicating it.
    same_name = [p for p in client.list_projects() if p["name"] == project_name]
    if same_name:
        found, environments = client.get_project(same_name[0]["id"])
        typer.echo(f"Using existing project {found['name']}")
    else:
        found, environments = client.create_project(project_name)
        typer.echo(f"Created project {found['name']}")
    production = [e for e in environments if e["name"] == "production"] or environments
    if not production:
        raise CliError(f"project {found['name']} has no environment")
    environment = production[0]
    services = [s for s in client.list_services(environment["id"]) if s["name"] == service_name]
    if services:
        service = services[0]
        typer.echo(f"Using existing service {service['name']}")
    else:
        service = client.create_service(environment["id"], service_name)
        typer.echo(f"Created service {service['name']}")
    link = Link(
        projectId=found["id"],
        environmentId=environment["id"],
        serviceId=service["id"],
        project=found["name"],
        environment=environment["name"],
        service=service["name"],
    )
    path = save_link(root, link)
    typer.secho(f"{tick(True)} Linked {root} to {link.describe()} ({path.name})", fg="green")
    typer.echo("Next: railyard up")


def up(
    detach: DetachOption = False,
    directory: DirOption = Path("."),
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Build cold: reuse no cached artifact or dependencies.")
    ] = False,
) -> None:
    """Upload this directory and deploy it; follow the build and the rollout."""
    from railyard.tarball import pack_directory

    link = require_link(directory)
    client = api_client()
    tarball = pack_directory(directory)
    typer.echo(
        f"Packed {len(tarball.files)} files "
        f"({_human_size(tarball.source_bytes)}, {_human_size(len(tarball.data))} compressed)"
    )
    upload = client.create_upload(link.serviceId)
    client.upload_source(upload, tarball.data)
    deployment = client.create_deployment(link.serviceId, source_key=upload["sourceKey"], no_cache=no_cache)
    typer.echo(f"Deployment {deployment['id']} created for {link.describe()}")
    follow_and_finish(client, link, deployment, detach)


def status(directory: DirOption = Path(".")) -> None:
    """Show the service, its URL (a cron service: its schedule), its active and latest deployment."""
    link = require_link(directory)
    client = api_client()
    service = client.get_service(link.serviceId)
    active_id = service.get("activeDeploymentId")
    active = client.get_deployment(active_id) if active_id else None
    latest = latest_deployment(client, link.serviceId)
    typer.echo(f"Service:  {service['name']} ({link.project}/{link.environment})")
    typer.echo(f"Hostname: {service.get('hostname') or '-'}")  # reserved platform-wide; may carry a suffix
    # The live release decides what the service is; before one is live, the latest deployment says
    # what it is about to be. A cron service has no route, so a URL would only answer 404.
    current = active or latest
    schedule = current.get("cronSchedule") if current is not None else None
    if schedule:
        typer.echo(f"Schedule: `{schedule}` (UTC; a cron service, no URL; `railyard cron run` runs it now)")
    elif service.get("workload") in ("worker", "job"):
        typer.echo(f"URL:      - (a {service['workload']}: it serves no HTTP)")
    else:
        typer.echo(f"URL:      {service.get('url') or '-'}")
    if active is not None:
        echo_status("Active:   ", active)
    else:
        typer.echo("Active:   - (nothing deployed yet)")
    if latest is None:
        typer.echo("Latest:   - (run `railyard up`)")
    else:
        echo_status("Latest:   ", latest)
        if latest.get("commitSha"):
            typer.echo(f"Commit:   {following.describe_commit(latest)}")
        if latest["status"] in end_statuses() - {"SUCCESS"} and latest.get("reason"):
            typer.echo(f"          {latest['reason']}")


def logs(
    build: Annotated[bool, typer.Option("--build", help="Build logs instead of deploy logs.")] = False,
    deployment_id: Annotated[
        str | None, typer.Option("--deployment", help="A deployment id [default: the latest].")
    ] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines.")] = False,
    directory: DirOption = Path("."),
) -> None:
    """Print a deployment's deploy logs (or build logs with --build)."""
    link = require_link(directory)
    client = api_client()
    if deployment_id is None:
        latest = latest_deployment(client, link.serviceId)
        if latest is None:
            raise CliError("no deployments yet: run `railyard up`")
        deployment_id = latest["id"]
        if latest["status"] == "SKIPPED" and not build:
            # A skipped deployment never ran anything: the app's output is the live deployment's.
            deployment_id = client.get_service(link.serviceId).get("activeDeploymentId") or deployment_id
    else:
        # pump reads a 404 on logs as "nothing logged yet"; a mistyped id must be an error instead.
        client.get_deployment(deployment_id)
    cursor = LogCursor("build" if build else "deploy")
    if not follow:
        # Page through everything there is now; stop when a page brings nothing new.
        while pump(client, deployment_id, cursor, header=False) > 0:
            pass
        return
    try:
        if _follow_logs_live(client, deployment_id, cursor):
            return
        while True:
            printed = pump(client, deployment_id, cursor, header=False)
            if printed:
                continue
            if _logs_over(client, deployment_id, cursor):
                return
            following.sleep(following.POLL_INTERVAL_SECONDS)
    except KeyboardInterrupt:
        raise typer.Exit(EXIT_INTERRUPTED) from None


def _follow_logs_live(client: RailyardClient, deployment_id: str, cursor: LogCursor) -> bool:
    """Follows over the WebSocket until the stream is over (True); False, after a notice on
    stderr, when it cannot: the caller polls on from the cursor."""
    from railyard.commands import live

    stream = live.LiveDeployment(client, deployment_id, [cursor])
    try:
        stream.open()
        for message in stream.events():
            if message is None or message["type"] == "status":
                pump(client, deployment_id, cursor, header=False)
                if _logs_over(client, deployment_id, cursor):
                    return True
            elif message["type"] == "log" and message.get("stream") == cursor.stream:
                live.apply(client, deployment_id, cursor, message, header=False)
    except live.LiveLost as lost:
        live.notice(lost)
    finally:
        stream.close()
    return False


def _logs_over(client: RailyardClient, deployment_id: str, cursor: LogCursor) -> bool:
    """Build logs end with the build. Deploy logs go on while the app runs, so only a deployment
    whose app is gone (failed, crashed, cancelled, replaced) ends them; then what is left is read."""
    status = client.get_deployment(deployment_id)["status"]
    ended = end_statuses()
    if (cursor.stream == "build" and (cursor.done or status in ended)) or (
        status in ended - {"SUCCESS"} and cursor.done
    ):
        return pump(client, deployment_id, cursor, header=False) == 0
    return False


def deployments(
    limit: Annotated[int, typer.Option(min=1, max=100, help="How many, newest first.")] = 10,
    directory: DirOption = Path("."),
) -> None:
    """List the service's deployments, newest first."""
    from rich.console import Console
    from rich.table import Table

    link = require_link(directory)
    rows = api_client().list_deployments(link.serviceId, limit=limit)
    if not rows:
        typer.echo("No deployments yet: run `railyard up`")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("ID", "STATUS", "KIND", "RELEASE", "CREATED", "BY", "COMMIT"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        release = row.get("releaseNumber")
        actor = row.get("createdBy")  # None on deployments made before it was recorded (ADR 0042)
        table.add_row(
            row["id"],
            f"[{status_colour(row['status'])}]{row['status']}[/]",
            row.get("kind", ""),
            f"v{release}" if release is not None else "-",
            str(row.get("createdAt", "")),
            actor["label"] if actor else "-",
            following.describe_commit(row, width=50) or "-",
        )
    console = Console(highlight=False)
    if not console.is_terminal:
        # Piped: no 80-column squeeze, so every id stays whole and greppable.
        console = Console(highlight=False, width=200)
    console.print(table)


def rollback(
    deployment_id: Annotated[
        str | None, typer.Argument(help="The deployment to go back to [default: the previous one].")
    ] = None,
    preview: Annotated[
        bool,
        typer.Option("--preview", help="Say which release and variables it would bring back; make nothing."),
    ] = False,
    detach: DetachOption = False,
    directory: DirOption = Path("."),
) -> None:
    """Re-activate an earlier release (as a new deployment), then follow it."""
    link = require_link(directory)
    client = api_client()
    if preview:
        number, changed = client.rollback_preview(link.serviceId, deployment_id=deployment_id)
        typer.echo(f"A rollback would run release v{number}")
        _say_variables(changed)
        return
    deployment, changed = client.rollback_with_changes(link.serviceId, deployment_id=deployment_id)
    typer.echo(f"Rollback deployment {deployment['id']} created")
    _say_variables(changed)
    follow_and_finish(client, link, deployment, detach)


def _say_variables(changed: list[str] | None) -> None:
    """A rollback brings back the release's own variables (docs/variables.md): which differ."""
    if changed:
        typer.echo(
            f"It runs the release's own variables: values of {', '.join(changed)} differ from the "
            "current ones"
        )
    elif changed is not None:
        typer.echo("Its variables are the current ones")


def redeploy(detach: DetachOption = False, directory: DirOption = Path(".")) -> None:
    """Deploy the current release again (picks up changed variables and settings), then follow it."""
    link = require_link(directory)
    client = api_client()
    deployment = client.create_deployment(link.serviceId)
    typer.echo(f"Deployment {deployment['id']} created")
    follow_and_finish(client, link, deployment, detach)
