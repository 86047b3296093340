"""`railyard webhook add|list|remove|test|deliveries`: the linked project's outgoing webhooks
(docs/webhooks.md).

`add` prints the webhook's signing secret once: receivers verify `X-Railyard-Signature` with it.
`test` queues a test payload and waits (a few seconds at most) for its first attempt to show in the
delivery log; `deliveries` prints the log, one line per attempt: time, event, attempt, HTTP status
or error, duration. Errors print `error: <Code>: <Message>` and exit 1, as every command does.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

import typer

from chalicelib.domain.webhook_events import WEBHOOK_EVENTS

if TYPE_CHECKING:
    from railyard.client import RailyardClient

webhook_app = typer.Typer(
    help="The project's outgoing webhooks: add, list, remove, test, deliveries.", no_args_is_help=True
)

EVENT_NAMES = ", ".join(event.name for event in WEBHOOK_EVENTS)
IdArgument = Annotated[str, typer.Argument(help="The webhook's id (see `railyard webhook list`).")]
DirOption = Annotated[
    Path, typer.Option("--dir", "-d", help="The app directory (holds .railyard.json).", file_okay=False)
]
TEST_WAIT_SECONDS = 10.0


def _target(directory: Path) -> tuple[RailyardClient, str, str]:
    from railyard.commands.common import api_client, require_link

    link = require_link(directory)
    return api_client(), link.projectId, link.project


# The API calls live here, not in railyard/client.py, so this topic stays in one module.
def _path(project_id: str, webhook_id: str = "", verb: str = "") -> str:
    path = f"/v1/projects/{quote(project_id, safe='')}/webhooks"
    if webhook_id:
        path += "/" + quote(webhook_id, safe="")
    return path + (f"/{verb}" if verb else "")


@webhook_app.command("add")
def add(
    url: Annotated[str, typer.Argument(help="Where to POST: an http(s) URL.")],
    events: Annotated[str, typer.Option("--events", help=f"Comma-separated: {EVENT_NAMES}.")] = (
        "deployment.completed,deployment.failed"
    ),
    format: Annotated[
        str, typer.Option("--format", help="json (Railway's payload), slack or discord.")
    ] = "json",
    directory: DirOption = Path("."),
) -> None:
    """Add a webhook to the linked project; prints its signing secret once."""
    client, project_id, project = _target(directory)
    body = {"url": url, "events": [e.strip() for e in events.split(",") if e.strip()], "format": format}
    made = client._create("POST", _path(project_id), body=body)
    webhook = made["webhook"]
    events_text = ", ".join(webhook["events"])
    typer.echo(f"Added webhook {webhook['id']} to {project}: {events_text} → {webhook['url']}")
    typer.echo(f"Signing secret (shown once; verify X-Railyard-Signature with it): {made['secret']}")


@webhook_app.command("list")
def list_(directory: DirOption = Path(".")) -> None:
    """List the project's webhooks."""
    client, project_id, project = _target(directory)
    hooks = client._request("GET", _path(project_id))["webhooks"]
    if not hooks:
        typer.echo(f"No webhooks on {project} (add one with `railyard webhook add <url>`)", err=True)
    for hook in hooks:
        typer.echo(f"{hook['id']}  {hook['format']:<7}  {','.join(hook['events'])}  {hook['url']}")


@webhook_app.command("remove")
def remove(webhook_id: IdArgument, directory: DirOption = Path(".")) -> None:
    """Remove a webhook: nothing more is sent to it."""
    client, project_id, project = _target(directory)
    removed = client._request("DELETE", _path(project_id, webhook_id))["removed"]
    typer.echo(f"Removed webhook {removed} from {project}")


@webhook_app.command("test")
def test(webhook_id: IdArgument, directory: DirOption = Path(".")) -> None:
    """Send a test payload and show how its first attempt went."""
    client, project_id, _ = _target(directory)
    queued = client._request("POST", _path(project_id, webhook_id, "test"))
    deadline = time.monotonic() + TEST_WAIT_SECONDS
    while time.monotonic() < deadline:
        for delivery in _deliveries(client, project_id, webhook_id, 20):
            finished = [a for a in delivery["attempts"] if a["durationMs"] is not None]
            if delivery["id"] == queued["deliveryId"] and finished:
                _print_attempt(delivery, finished[0])
                if delivery["state"] == "DELIVERED":
                    return
                raise typer.Exit(1)
        time.sleep(0.5)
    typer.echo(f"Queued test delivery {queued['deliveryId']}; see `railyard webhook deliveries {webhook_id}`")


@webhook_app.command("deliveries")
def deliveries(
    webhook_id: IdArgument,
    limit: Annotated[int, typer.Option("--limit", help="The newest N deliveries.")] = 20,
    directory: DirOption = Path("."),
) -> None:
    """The webhook's delivery log, newest first: one line per attempt."""
    client, project_id, _ = _target(directory)
    found = _deliveries(client, project_id, webhook_id, limit)
    if not found:
        typer.echo("No deliveries yet", err=True)
    for delivery in found:
        for attempt in delivery["attempts"]:
            _print_attempt(delivery, attempt)


def _deliveries(client: RailyardClient, project_id: str, webhook_id: str, limit: int) -> list[Any]:
    path = _path(project_id, webhook_id, "deliveries") + f"?limit={limit}"
    return list(client._request("GET", path)["deliveries"])


def _print_attempt(delivery: dict[str, Any], attempt: dict[str, Any]) -> None:
    if attempt["durationMs"] is None:
        outcome, colour = "sending", "yellow"
    elif attempt["status"] is not None:
        outcome = f"HTTP {attempt['status']}" + (f" {attempt['error']}" if attempt["error"] else "")
        colour = "green" if 200 <= attempt["status"] < 300 else "red"
    else:
        outcome, colour = f"error: {attempt['error']}", "red"
    took = f"{attempt['durationMs']} ms" if attempt["durationMs"] is not None else "-"
    typer.echo(f"{attempt['at']}  {delivery['event']:<22} #{attempt['attempt']:<2} ", nl=False)
    typer.secho(outcome, fg=colour, nl=False)
    typer.echo(f"  {took}  {delivery['id']}")
