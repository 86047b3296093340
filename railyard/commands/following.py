"""Following a deployment from the terminal: its status changes, then its build logs, then its
deploy logs until it ends; then whether its URL answers, which decides the exit status of `up`,
`redeploy`, `rollback` and `variables set|unset`. Also the status colours and the log cursor that
`status`, `logs` and `deployments` print with.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer

from railyard.commands.common import glyph, tick

if TYPE_CHECKING:
    from railyard.client import RailyardClient
    from railyard.client_shapes import Deployment
    from railyard.settings import Link

# Module-level so tests can make following fast; 0.3 s keeps a `railyard up` feeling live while
# costing the API ~3 small requests a second.
POLL_INTERVAL_SECONDS = 0.3
# How long `up` waits for the new release to answer through the router after SUCCESS.
ROUTER_CHECK_SECONDS = 10.0
# Consecutive failed polls (API restarting, a 5xx) tolerated while following before giving up.
MAX_POLL_FAILURES = 20

BEFORE_DEPLOY_STATUSES = frozenset({"QUEUED", "BUILDING"})
EXIT_INTERRUPTED = 130  # the shell's convention for "stopped by SIGINT"


def sleep(seconds: float) -> None:
    """time.sleep behind a seam, so tests can interrupt a follow without patching `time`."""
    time.sleep(seconds)


def end_statuses() -> frozenset[str]:
    """The domain's terminal statuses (its one list), imported only by the commands that need it."""
    from chalicelib.domain.models import TERMINAL

    return frozenset(str(status) for status in TERMINAL)


def status_colour(status: str) -> str:
    if status in ("SUCCESS", "COMPLETED"):  # COMPLETED: a job that ran to completion
        return "green"
    if status == "SKIPPED":
        return "yellow"
    if status in end_statuses():
        return "red"
    return "yellow"


def echo_status(label: str, deployment: Deployment) -> None:
    typer.echo(f"{label}", nl=False)
    typer.secho(deployment["status"], fg=status_colour(deployment["status"]), nl=False)
    typer.echo(f"  {deployment['id']}")


def describe_commit(deployment: Deployment, width: int = 72) -> str:
    """`<sha7> <first line of the message> (<author>, <branch>)` of a pushed commit; "" otherwise."""
    sha = deployment.get("commitSha")
    if not sha:
        return ""
    message = (deployment.get("commitMessage") or "").strip().splitlines()
    first = message[0] if message else ""
    if len(first) > width:
        first = first[: width - 1] + "…"
    who = ", ".join(x for x in (deployment.get("commitAuthor"), deployment.get("branch")) if x)
    return f"{sha[:7]} {first}" + (f" ({who})" if who else "")


@dataclass
class LogCursor:
    """Where we are in one log stream of one deployment."""

    stream: str
    after: int = 0
    done: bool = False
    started: bool = False  # printed a line already (so the stream header is out)
    last_seq: int | None = None


def pump(client: RailyardClient, deployment_id: str, cursor: LogCursor, *, header: bool) -> int:
    """Print the stream's lines after the cursor; returns how many were printed."""
    from railyard.client_transport import ApiError

    try:
        page = client.get_logs(deployment_id, stream=cursor.stream, after=cursor.after)
    except ApiError as exc:
        # The deployment itself exists (we just read it): a 404 here means "no log written yet".
        if exc.status == 404:
            return 0
        raise
    lines = emit(cursor, page.get("lines") or [], header=header)
    # Never move backwards, for the same reason.
    cursor.after = max(cursor.after, int(page.get("next", cursor.after)))
    cursor.done = bool(page.get("done"))
    return len(lines)


def emit(
    cursor: LogCursor, lines: Sequence[Mapping[str, Any]], *, header: bool
) -> Sequence[Mapping[str, Any]]:
    """Prints lines ({"seq", "message"}) not printed yet, the stream's header before the first."""
    if cursor.last_seq is not None:
        # Skip what we printed already: a server that ignored `after` must not make us print twice.
        lines = [line for line in lines if int(line.get("seq", cursor.last_seq + 1)) > cursor.last_seq]
    if lines and header and not cursor.started:
        rule = glyph("──", "--")
        typer.secho(f"{rule} {cursor.stream} logs {rule}", dim=True)
    cursor.started = cursor.started or bool(lines)
    for line in lines:
        typer.echo(str(line.get("message", "")).rstrip("\n"))
        if "seq" in line:
            cursor.last_seq = max(cursor.last_seq or 0, int(line["seq"]))
    return lines


def _follow(client: RailyardClient, deployment_id: str) -> Deployment:
    """Print status changes, build logs then deploy logs until the deployment ends; return it.
    Over the API's WebSocket when it can (railyard/commands/live.py), else by polling."""
    from railyard.commands import live

    build = LogCursor("build")
    deploy = LogCursor("deploy")
    status: list[str | None] = [None]  # the last printed, shared with the polling that may follow
    stream = live.LiveDeployment(client, deployment_id, [build, deploy])
    try:
        stream.open()
        return _follow_live(client, deployment_id, stream, build, deploy, status)
    except live.LiveLost as lost:
        live.notice(lost)
    finally:
        stream.close()
    return _poll(client, deployment_id, build, deploy, status[0])


def _show_status(deployment_status: str, last: list[str | None]) -> None:
    if deployment_status != last[0]:
        typer.secho(f"{glyph('●', '*')} {deployment_status}", fg=status_colour(deployment_status))
        last[0] = deployment_status


def _follow_live(
    client: RailyardClient,
    deployment_id: str,
    stream: Any,
    build: LogCursor,
    deploy: LogCursor,
    last: list[str | None],
) -> Deployment:
    from railyard.commands.live import apply

    cursors = {"build": build, "deploy": deploy}
    for message in stream.events():
        if message is None or message["type"] == "status":
            # Quiet for a while (a push may have been lost) or a new status: the API has the truth.
            deployment = client.get_deployment(deployment_id)
            _show_status(deployment["status"], last)
            if not build.done:
                pump(client, deployment_id, build, header=True)
            if deployment["status"] in end_statuses():
                return _drain(client, deployment_id, build, deploy, deployment)
        elif message["type"] == "log" and message.get("stream") in cursors:
            apply(client, deployment_id, cursors[message["stream"]], message, header=True)
    raise AssertionError("unreachable: events() ends only by raising")


def _drain(
    client: RailyardClient, deployment_id: str, build: LogCursor, deploy: LogCursor, deployment: Deployment
) -> Deployment:
    """Print what was logged before the end, bounded: a chatty app keeps the deploy stream growing
    after SUCCESS and we must still return."""
    for _ in range(20):
        drained = 0 if build.done else pump(client, deployment_id, build, header=True)
        drained += pump(client, deployment_id, deploy, header=True)
        if drained == 0:
            break
    return deployment


def _poll(
    client: RailyardClient, deployment_id: str, build: LogCursor, deploy: LogCursor, last_status: str | None
) -> Deployment:
    from railyard.client_transport import ApiConnectionError, ApiError

    failures = 0
    while True:
        try:
            deployment = client.get_deployment(deployment_id)
            status = deployment["status"]
            if status != last_status:
                typer.secho(f"{glyph('●', '*')} {status}", fg=status_colour(status))
                last_status = status
            printed = 0
            if not build.done:
                printed += pump(client, deployment_id, build, header=True)
            # Deploy logs only once the build is over, so the two streams do not interleave.
            if build.done or status not in BEFORE_DEPLOY_STATUSES:
                printed += pump(client, deployment_id, deploy, header=True)
            failures = 0
        except (ApiConnectionError, ApiError) as exc:
            # Ride out a restarting API or a transient 5xx; a 4xx is a real answer.
            if isinstance(exc, ApiError) and exc.status < 500:
                raise
            failures += 1
            if failures > MAX_POLL_FAILURES:
                raise
            sleep(POLL_INTERVAL_SECONDS)
            continue
        if status in end_statuses():
            return _drain(client, deployment_id, build, deploy, deployment)
        if printed == 0:
            sleep(POLL_INTERVAL_SECONDS)


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
        sleep(0.3)


def _finish(client: RailyardClient, link: Link, deployment: Deployment) -> int:
    """The exit status of a followed deployment: 0 only if it succeeded and its URL answers."""
    status = deployment["status"]
    if status == "SKIPPED":  # watch patterns: the live release is still the right one
        reason = deployment.get("reason") or "nothing to deploy"
        typer.secho(f"{tick(True)} Deployment {deployment['id']} SKIPPED: {reason}", fg="yellow")
        return 0
    if status == "COMPLETED":  # a job (docs: "Web services, workers and jobs")
        typer.secho(
            f"{tick(True)} Completed: the job ran to completion (exit code 0); "
            "`railyard logs` shows its output",
            fg="green",
        )
        return 0
    if status != "SUCCESS":
        reason = deployment.get("reason") or "no reason given"
        typer.secho(f"{tick(False)} Deployment {deployment['id']} {status}: {reason}", fg="red")
        return 1
    if deployment.get("workload") == "worker":
        typer.secho(
            f"{tick(True)} Running as a worker: it opened no port, so it has no URL; "
            "`railyard logs` shows its output",
            fg="green",
        )
        return 0
    service = client.get_service(link.serviceId)
    schedule = deployment.get("cronSchedule")
    if schedule:  # a cron job has no route to answer: being scheduled is success
        typer.secho(
            f"{tick(True)} Scheduled: `{schedule}` (UTC); `railyard cron run` runs it now", fg="green"
        )
        return 0
    url = service.get("url") or deployment.get("url")
    if not url:
        typer.secho(f"{tick(False)} Deployment {deployment['id']} succeeded but the service has no URL")
        return 1
    answered, seen = _probe_url(url, timeout=ROUTER_CHECK_SECONDS)
    if not answered:
        typer.secho(
            f"{tick(False)} Deployment {deployment['id']} is SUCCESS but {url} did not answer "
            f"within {ROUTER_CHECK_SECONDS:g} s ({seen})",
            fg="red",
        )
        return 1
    typer.secho(f"{tick(True)} Deployed: {url}", fg="green", bold=True)
    return 0


def follow_and_finish(client: RailyardClient, link: Link, deployment: Deployment, detach: bool) -> None:
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


def latest_deployment(client: RailyardClient, service_id: str) -> Deployment | None:
    deployments = client.list_deployments(service_id, limit=1)
    return deployments[0] if deployments else None
