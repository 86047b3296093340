"""The ``railyard`` command line: link a directory to a service, deploy it, watch it, change it.

Every command talks only to the HTTP API (docs/api.md) through ``railyard.client``; ``railyard dev``
hands over to the local platform in ``railyard.localdev``. Module import stays light (typer only):
requests, rich and the client are imported by the commands that use them, so ``railyard --help``
and shell completion start fast.

Errors are handled in one place (``_RailyardGroup.invoke``): an API error prints
``error: <Code>: <Message>`` on stderr and exits 1, and so do the CLI's own errors (no config, no
link, nothing to pack, API unreachable).
"""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from railyard.admin import admin_app
from railyard.commands import audit, local, token, workspace
from railyard.commands import auth as auth_commands
from railyard.commands.common import fail as _fail
from railyard.commands.domain import domain_app

if TYPE_CHECKING:
    from railyard.client import Deployment, RailyardClient
    from railyard.settings import Link

# Module-level so tests can make following fast; 0.3 s keeps a `railyard up` feeling live while
# costing the API ~3 small requests a second.
POLL_INTERVAL_SECONDS = 0.3
# How long `up` waits for the new release to answer through the router after SUCCESS.
ROUTER_CHECK_SECONDS = 10.0
# Consecutive failed polls (API restarting, a 5xx) tolerated while following before giving up.
MAX_POLL_FAILURES = 20
DEFAULT_API_URL = "http://127.0.0.1:8000"

BEFORE_DEPLOY_STATUSES = frozenset({"QUEUED", "BUILDING"})
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
EXIT_INTERRUPTED = 130  # the shell's convention for "stopped by SIGINT"


class CliError(Exception):
    """A problem the user can fix, printed as ``error: <message>`` (exit 1)."""


class _RailyardGroup(TyperGroup):
    """Turns the errors every command may hit into one line on stderr and exit status 1."""

    def invoke(self, ctx: Any) -> Any:
        from railyard.client import ApiConnectionError, ApiError
        from railyard.settings import SettingsError
        from railyard.tarball import TarballError

        try:
            return super().invoke(ctx)
        except ApiError as exc:
            _fail(f"{exc.code}: {exc.message}")
        except ApiConnectionError as exc:
            _fail(f"cannot reach the Railyard API at {exc.url} ({exc.detail}); is `railyard dev` running?")
        except (CliError, SettingsError, TarballError) as exc:
            _fail(str(exc))


app = typer.Typer(
    cls=_RailyardGroup,
    name="railyard",
    help="Deploy apps to Railyard, the open-source AWS-native PaaS.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
variables_app = typer.Typer(
    cls=_RailyardGroup,
    help="List, set and unset the service's variables (no subcommand: list them).",
    invoke_without_command=True,
)
app.add_typer(variables_app, name="variables")
cron_app = typer.Typer(cls=_RailyardGroup, help="Cron services (deploy.cronSchedule).", no_args_is_help=True)
app.add_typer(cron_app, name="cron")
app.add_typer(admin_app, name="admin")
auth_commands.register(app)  # login, whoami, logout
app.add_typer(domain_app, name="domain")
import railyard.commands.keys  # noqa: E402, F401  (registers `admin rotate-keys`)

app.add_typer(workspace.app, name="workspace")
app.add_typer(token.app, name="token")
audit.register(app)
local.register(app)  # plan, dev: no API involved

DirOption = Annotated[
    Path,
    typer.Option("--dir", "-d", help="The app directory (holds .railyard.json).", file_okay=False),
]
DetachOption = Annotated[bool, typer.Option("--detach", help="Start it and return; do not follow.")]


# -- shared helpers ------------------------------------------------------------------------------


def _sleep(seconds: float) -> None:
    """time.sleep behind a seam, so tests can interrupt a follow without patching `time`."""
    time.sleep(seconds)


def _glyph(fancy: str, plain: str) -> str:
    """``fancy`` unless stdout cannot encode it (a non-UTF-8 locale), then ``plain``."""
    try:
        fancy.encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return plain
    return fancy


def _tick(ok: bool) -> str:
    return _glyph("✔", "OK") if ok else _glyph("✘", "FAILED")


def _client() -> RailyardClient:
    from railyard.client import RailyardClient
    from railyard.settings import config_path, load_config

    config = load_config()
    if config is None:
        raise CliError(
            f"not logged in (no API URL and token in {config_path()} or RAILYARD_API_URL/RAILYARD_TOKEN): "
            "start the local platform with `railyard dev`, or run `railyard login` (or `--token <token>`)"
        )
    return RailyardClient.for_config(config)


def _link(directory: Path) -> Link:
    from railyard.settings import load_link

    link = load_link(directory.resolve())
    if link is None:
        raise CliError(f"{directory.resolve()} is not linked to a Railyard service: run `railyard init`")
    return link


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


def _end_statuses() -> frozenset[str]:
    """The domain's terminal statuses (its one list), imported only by the commands that need it."""
    from chalicelib.domain.models import TERMINAL

    return frozenset(str(status) for status in TERMINAL)


def _status_colour(status: str) -> str:
    if status in ("SUCCESS", "COMPLETED"):  # COMPLETED: a job that ran to completion
        return "green"
    if status == "SKIPPED":
        return "yellow"
    if status in _end_statuses():
        return "red"
    return "yellow"


def _echo_status(label: str, deployment: Deployment) -> None:
    typer.echo(f"{label}", nl=False)
    typer.secho(deployment["status"], fg=_status_colour(deployment["status"]), nl=False)
    typer.echo(f"  {deployment['id']}")


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


# -- following a deployment -------------------------------------------------------------------------


@dataclass
class _LogCursor:
    """Where we are in one log stream of one deployment."""

    stream: str
    after: int = 0
    done: bool = False
    started: bool = False  # printed a line already (so the stream header is out)
    last_seq: int | None = None


def _pump(client: RailyardClient, deployment_id: str, cursor: _LogCursor, *, header: bool) -> int:
    """Print the stream's lines after the cursor; returns how many were printed."""
    from railyard.client import ApiError

    try:
        page = client.get_logs(deployment_id, stream=cursor.stream, after=cursor.after)
    except ApiError as exc:
        # The deployment itself exists (we just read it): a 404 here means "no log written yet".
        if exc.status == 404:
            return 0
        raise
    lines = page.get("lines") or []
    if cursor.last_seq is not None:
        # Skip what we printed already: a server that ignored `after` must not make us print twice.
        lines = [line for line in lines if int(line.get("seq", cursor.last_seq + 1)) > cursor.last_seq]
    if lines and header and not cursor.started:
        rule = _glyph("──", "--")
        typer.secho(f"{rule} {cursor.stream} logs {rule}", dim=True)
    cursor.started = cursor.started or bool(lines)
    for line in lines:
        typer.echo(str(line.get("message", "")).rstrip("\n"))
        if "seq" in line:
            cursor.last_seq = max(cursor.last_seq or 0, int(line["seq"]))
    # Never move backwards, for the same reason.
    cursor.after = max(cursor.after, int(page.get("next", cursor.after)))
    cursor.done = bool(page.get("done"))
    return len(lines)


def _follow(client: RailyardClient, deployment_id: str) -> Deployment:
    """Print status changes, build logs then deploy logs until the deployment ends; return it."""
    from railyard.client import ApiConnectionError, ApiError

    build = _LogCursor("build")
    deploy = _LogCursor("deploy")
    last_status = None
    failures = 0
    while True:
        try:
            deployment = client.get_deployment(deployment_id)
            status = deployment["status"]
            if status != last_status:
                typer.secho(f"{_glyph('●', '*')} {status}", fg=_status_colour(status))
                last_status = status
            printed = 0
            if not build.done:
                printed += _pump(client, deployment_id, build, header=True)
            # Deploy logs only once the build is over, so the two streams do not interleave.
            if build.done or status not in BEFORE_DEPLOY_STATUSES:
                printed += _pump(client, deployment_id, deploy, header=True)
            failures = 0
        except (ApiConnectionError, ApiError) as exc:
            # Ride out a restarting API or a transient 5xx; a 4xx is a real answer.
            if isinstance(exc, ApiError) and exc.status < 500:
                raise
            failures += 1
            if failures > MAX_POLL_FAILURES:
                raise
            _sleep(POLL_INTERVAL_SECONDS)
            continue
        if status in _end_statuses():
            # Drain what was logged before the end, bounded: a chatty app keeps the deploy
            # stream growing after SUCCESS and we must still return.
            for _ in range(20):
                drained = 0 if build.done else _pump(client, deployment_id, build, header=True)
                drained += _pump(client, deployment_id, deploy, header=True)
                if drained == 0:
                    break
            return deployment
        if printed == 0:
            _sleep(POLL_INTERVAL_SECONDS)


def _probe_url(url: str, *, timeout: float) -> tuple[bool, str]:
    """Whether ``url`` answers with a status < 500 within ``timeout`` seconds; and what we saw.

    ``*.localhost`` is sent to 127.0.0.1 with the Host header set, because not every resolver
    maps *.localhost to loopback (RFC 6761 says it should; glibc without nss-myhostname does not).
    """
    from urllib.parse import urlsplit, urlunsplit

    import requests

    parts = urlsplit(url)
    host = parts.hostname or ""
    target = url
    headers: dict[str, str] = {}
    if host == "localhost" or host.endswith(".localhost"):
        port = f":{parts.port}" if parts.port else ""
        target = urlunsplit((parts.scheme, f"127.0.0.1{port}", parts.path or "/", parts.query, ""))
        headers["Host"] = parts.netloc
    session = requests.Session()
    session.trust_env = False  # a proxy from the environment must not intercept a loopback check
    last = "no answer"
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = session.get(target, headers=headers, timeout=2.0, allow_redirects=False)
            if response.status_code < 500:
                return True, f"HTTP {response.status_code}"
            last = f"HTTP {response.status_code}"
        except requests.RequestException as exc:
            last = type(exc).__name__
        if time.monotonic() >= deadline:
            return False, last
        _sleep(0.3)


def _finish(client: RailyardClient, link: Link, deployment: Deployment) -> int:
    """The exit status of a followed deployment: 0 only if it succeeded and its URL answers."""
    status = deployment["status"]
    if status == "SKIPPED":  # watch patterns: the live release is still the right one
        reason = deployment.get("reason") or "nothing to deploy"
        typer.secho(f"{_tick(True)} Deployment {deployment['id']} SKIPPED: {reason}", fg="yellow")
        return 0
    if status == "COMPLETED":  # a job (docs: "Web services, workers and jobs")
        typer.secho(
            f"{_tick(True)} Completed: the job ran to completion (exit code 0); "
            "`railyard logs` shows its output",
            fg="green",
        )
        return 0
    if status != "SUCCESS":
        reason = deployment.get("reason") or "no reason given"
        typer.secho(f"{_tick(False)} Deployment {deployment['id']} {status}: {reason}", fg="red")
        return 1
    if deployment.get("workload") == "worker":
        typer.secho(
            f"{_tick(True)} Running as a worker: it opened no port, so it has no URL; "
            "`railyard logs` shows its output",
            fg="green",
        )
        return 0
    service = client.get_service(link.serviceId)
    schedule = deployment.get("cronSchedule")
    if schedule:  # a cron job has no route to answer: being scheduled is success
        typer.secho(
            f"{_tick(True)} Scheduled: `{schedule}` (UTC); `railyard cron run` runs it now", fg="green"
        )
        return 0
    url = service.get("url") or deployment.get("url")
    if not url:
        typer.secho(f"{_tick(False)} Deployment {deployment['id']} succeeded but the service has no URL")
        return 1
    answered, seen = _probe_url(url, timeout=ROUTER_CHECK_SECONDS)
    if not answered:
        typer.secho(
            f"{_tick(False)} Deployment {deployment['id']} is SUCCESS but {url} did not answer "
            f"within {ROUTER_CHECK_SECONDS:g} s ({seen})",
            fg="red",
        )
        return 1
    typer.secho(f"{_tick(True)} Deployed: {url}", fg="green", bold=True)
    return 0


def _follow_and_finish(client: RailyardClient, link: Link, deployment: Deployment, detach: bool) -> None:
    """What `up`, `redeploy`, `rollback` and `variables` do after starting a deployment."""
    deployment_id = deployment["id"]
    if detach:
        typer.echo(f"Follow it with: railyard logs --build --follow --deployment {deployment_id}")
        raise typer.Exit(0)
    try:
        final = _follow(client, deployment_id)
        code = _finish(client, link, final)
    except KeyboardInterrupt:
        # Only the watching stops: the deployment is a server-side workflow and carries on.
        typer.echo(f"\nStopped following; deployment {deployment_id} continues (see `railyard status`).")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    raise typer.Exit(code)


def _latest_deployment(client: RailyardClient, service_id: str) -> Deployment | None:
    deployments = client.list_deployments(service_id, limit=1)
    return deployments[0] if deployments else None


# -- commands ----------------------------------------------------------------------------------------


@app.command()
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
    client = _client()
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
    typer.secho(f"{_tick(True)} Linked {root} to {link.describe()} ({path.name})", fg="green")
    typer.echo("Next: railyard up")


@app.command()
def up(
    detach: DetachOption = False,
    directory: DirOption = Path("."),
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Build cold: reuse no cached artifact or dependencies.")
    ] = False,
) -> None:
    """Upload this directory and deploy it; follow the build and the rollout."""
    from railyard.tarball import pack_directory

    link = _link(directory)
    client = _client()
    tarball = pack_directory(directory)
    typer.echo(
        f"Packed {len(tarball.files)} files "
        f"({_human_size(tarball.source_bytes)}, {_human_size(len(tarball.data))} compressed)"
    )
    upload = client.create_upload(link.serviceId)
    client.upload_source(upload, tarball.data)
    deployment = client.create_deployment(link.serviceId, source_key=upload["sourceKey"], no_cache=no_cache)
    typer.echo(f"Deployment {deployment['id']} created for {link.describe()}")
    _follow_and_finish(client, link, deployment, detach)


@app.command()
def status(directory: DirOption = Path(".")) -> None:
    """Show the service, its URL (a cron service: its schedule), its active and latest deployment."""
    link = _link(directory)
    client = _client()
    service = client.get_service(link.serviceId)
    active_id = service.get("activeDeploymentId")
    active = client.get_deployment(active_id) if active_id else None
    latest = _latest_deployment(client, link.serviceId)
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
        _echo_status("Active:   ", active)
    else:
        typer.echo("Active:   - (nothing deployed yet)")
    if latest is None:
        typer.echo("Latest:   - (run `railyard up`)")
    else:
        _echo_status("Latest:   ", latest)
        if latest["status"] in _end_statuses() - {"SUCCESS"} and latest.get("reason"):
            typer.echo(f"          {latest['reason']}")


@app.command()
def logs(
    build: Annotated[bool, typer.Option("--build", help="Build logs instead of deploy logs.")] = False,
    deployment_id: Annotated[
        str | None, typer.Option("--deployment", help="A deployment id [default: the latest].")
    ] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines.")] = False,
    directory: DirOption = Path("."),
) -> None:
    """Print a deployment's deploy logs (or build logs with --build)."""
    link = _link(directory)
    client = _client()
    if deployment_id is None:
        latest = _latest_deployment(client, link.serviceId)
        if latest is None:
            raise CliError("no deployments yet: run `railyard up`")
        deployment_id = latest["id"]
        if latest["status"] == "SKIPPED" and not build:
            # A skipped deployment never ran anything: the app's output is the live deployment's.
            deployment_id = client.get_service(link.serviceId).get("activeDeploymentId") or deployment_id
    else:
        # _pump reads a 404 on logs as "nothing logged yet"; a mistyped id must be an error instead.
        client.get_deployment(deployment_id)
    cursor = _LogCursor("build" if build else "deploy")
    if not follow:
        # Page through everything there is now; stop when a page brings nothing new.
        while _pump(client, deployment_id, cursor, header=False) > 0:
            pass
        return
    try:
        while True:
            printed = _pump(client, deployment_id, cursor, header=False)
            if printed:
                continue
            status = client.get_deployment(deployment_id)["status"]
            # Build logs end with the build. Deploy logs go on while the app runs, so only a
            # deployment whose app is gone (failed, crashed, cancelled, replaced) ends them.
            ended = _end_statuses()
            if (build and (cursor.done or status in ended)) or (
                status in ended - {"SUCCESS"} and cursor.done
            ):
                if _pump(client, deployment_id, cursor, header=False) == 0:
                    return
                continue
            _sleep(POLL_INTERVAL_SECONDS)
    except KeyboardInterrupt:
        raise typer.Exit(EXIT_INTERRUPTED) from None


@app.command()
def deployments(
    limit: Annotated[int, typer.Option(min=1, max=100, help="How many, newest first.")] = 10,
    directory: DirOption = Path("."),
) -> None:
    """List the service's deployments, newest first."""
    from rich.console import Console
    from rich.table import Table

    link = _link(directory)
    rows = _client().list_deployments(link.serviceId, limit=limit)
    if not rows:
        typer.echo("No deployments yet: run `railyard up`")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("ID", "STATUS", "KIND", "RELEASE", "CREATED"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        release = row.get("releaseNumber")
        table.add_row(
            row["id"],
            f"[{_status_colour(row['status'])}]{row['status']}[/]",
            row.get("kind", ""),
            f"v{release}" if release is not None else "-",
            str(row.get("createdAt", "")),
        )
    console = Console(highlight=False)
    if not console.is_terminal:
        # Piped: no 80-column squeeze, so every id stays whole and greppable.
        console = Console(highlight=False, width=200)
    console.print(table)


@app.command()
def rollback(
    deployment_id: Annotated[
        str | None, typer.Argument(help="The deployment to go back to [default: the previous one].")
    ] = None,
    detach: DetachOption = False,
    directory: DirOption = Path("."),
) -> None:
    """Re-activate an earlier release (as a new deployment), then follow it."""
    link = _link(directory)
    client = _client()
    deployment = client.rollback(link.serviceId, deployment_id=deployment_id)
    typer.echo(f"Rollback deployment {deployment['id']} created")
    _follow_and_finish(client, link, deployment, detach)


@app.command()
def redeploy(detach: DetachOption = False, directory: DirOption = Path(".")) -> None:
    """Deploy the current release again (picks up changed variables and settings), then follow it."""
    link = _link(directory)
    client = _client()
    deployment = client.create_deployment(link.serviceId)
    typer.echo(f"Deployment {deployment['id']} created")
    _follow_and_finish(client, link, deployment, detach)


@variables_app.callback()
def variables(ctx: typer.Context, directory: DirOption = Path(".")) -> None:
    """List the service's variables as KEY=VALUE lines (sealed ones as KEY=<sealed>)."""
    if ctx.invoked_subcommand is not None:
        return
    link = _link(directory)
    values, sealed = _client().variables(link.serviceId)
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
    _follow_and_finish(client, link, deployment, detach)


@cron_app.command("run")
def cron_run(directory: DirOption = Path(".")) -> None:
    """Run the cron service's command now; its output goes to `railyard logs`."""
    link = _link(directory)
    result = _client().run_cron(link.serviceId)
    if result.get("started"):
        typer.secho(f"{_tick(True)} Run started (release {result.get('releaseId')}); see `railyard logs`")
        return
    typer.secho(f"{_tick(False)} Skipped: the previous run is still going", fg="yellow")
    raise typer.Exit(1)


@variables_app.command("set")
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
    link = _link(directory)
    _apply_variables(link, _client(), set_=assignments, unset=None, detach=detach, sealed=sealed)


@variables_app.command("unset")
def variables_unset(
    keys: Annotated[list[str], typer.Argument(metavar="KEY...", help="Variable names to remove.")],
    detach: DetachOption = False,
    directory: DirOption = Path("."),
) -> None:
    """Remove variables in one change (one deployment), then follow that deployment."""
    for key in keys:
        if not VARIABLE_NAME.fullmatch(key):
            raise typer.BadParameter(f"{key!r} is not a variable name", param_hint="KEY")
    link = _link(directory)
    _apply_variables(link, _client(), set_=None, unset=list(dict.fromkeys(keys)), detach=detach)


def main() -> None:
    """Console-script entry point (pyproject: ``railyard = "railyard.cli:main"``)."""
    app()
