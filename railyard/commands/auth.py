"""`railyard login`, `railyard whoami`, `railyard logout`: who the CLI speaks for.

`railyard login` (no arguments) keeps a credential that already works and otherwise signs a person
in with the device flow (RFC 8628, like `railway login`): it prints a URL and a code, opens the URL
in a browser (not with `--no-browser`, nor without a terminal or a display: then only the printed
URL is there, as with `railway login --browserless`), polls at the interval the API gives until
someone signed in on that page approves, and saves the session (access + refresh token) in
config.json (mode 0600). The rule for keeping what is there: when the config (or RAILYARD_TOKEN)
already holds a credential for the same API URL, typically the admin token `railyard dev` wrote,
and GET /v1/whoami accepts it, login says who that is and keeps it; `--device` skips that check and
always starts a new sign-in.

`railyard login --token T` is for CI: T must be an API token (whoami says kind "token"); a person's
access token is refused, since it would expire within minutes and cannot be refreshed.

Commands import requests and the client inside their bodies so `railyard --help` stays fast.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from railyard.client import RailyardClient
    from railyard.client_shapes import Whoami

# Consecutive polls without an answer (the API restarting, a 5xx) tolerated during a sign-in.
MAX_POLL_FAILURES = 10
SLOW_DOWN_SECONDS = 5  # RFC 8628: each SlowDown adds 5 seconds to the interval


def _sleep(seconds: float) -> None:
    """time.sleep behind a seam: tests make polling instant."""
    time.sleep(seconds)


def _can_open_browser() -> bool:
    """A person at this terminal who could see a browser: stdin and stdout are a terminal, and on
    Linux and the BSDs there is a display (over SSH or in a container there is none, and a text
    browser taking over the terminal would hide the code)."""
    import sys

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return False
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _open_browser(url: str) -> bool:
    """webbrowser.open behind a seam (tests see what would open); False when nothing opened."""
    import webbrowser

    try:
        return webbrowser.open(url)
    except webbrowser.Error:
        return False


def register(app: typer.Typer) -> None:
    app.command()(login)
    app.command()(whoami)
    app.command()(logout)


def _api_url(explicit: str | None, stored: dict[str, object]) -> str:
    from railyard.commands.common import DEFAULT_API_URL
    from railyard.settings import API_URL_ENV

    chosen = explicit or os.environ.get(API_URL_ENV) or stored.get("api_url") or DEFAULT_API_URL
    return str(chosen).rstrip("/")


def describe(me: Whoami) -> str:
    """`alice@example.com (person)` or `ci-deploy (API token)`."""
    what = {"user": "person", "token": "API token"}.get(me["kind"], me["kind"])
    return f"{me['name']} ({what})"


def login(
    token: Annotated[str | None, typer.Option(help="An API token (CI); verified, then saved.")] = None,
    api_url: Annotated[
        str | None, typer.Option(help="The API base URL [default: http://127.0.0.1:8000].")
    ] = None,
    device: Annotated[
        bool, typer.Option("--device", help="Sign in as a person even if a saved token works.")
    ] = False,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Only print the approval URL; open no browser.")
    ] = False,
) -> None:
    """Sign in: a working saved token is kept; otherwise a URL and a code to approve in a browser."""
    from railyard.client import RailyardClient
    from railyard.client_transport import ApiError
    from railyard.commands.common import CliError
    from railyard.settings import TOKEN_ENV, config_path, load_config, read_config_file, save_api_token

    url = _api_url(api_url, read_config_file())
    if token is not None:
        me = RailyardClient(url, token).whoami()
        if me["kind"] != "token":
            raise CliError("--token takes an API token (`railyard token create`), not a sign-in session")
        where = save_api_token(url, token)
        typer.secho(f"Logged in to {url} as {describe(me)}; saved to {where}", fg="green")
        return
    current = load_config()
    if not device and current is not None and current.api_url == url:
        try:
            me = RailyardClient.for_config(current).whoami()
        except ApiError as error:
            if error.status != 401:
                raise
            typer.echo(f"The saved credentials no longer work ({error.message}); signing in again.")
        else:
            source = TOKEN_ENV if os.environ.get(TOKEN_ENV) else str(config_path())
            typer.secho(f"Already logged in to {url} as {describe(me)} (from {source})", fg="green")
            typer.echo("(`railyard login --device` signs in as a person instead)")
            return
    _device_sign_in(RailyardClient(url, ""), browser=not no_browser and _can_open_browser())


def _device_sign_in(anonymous: RailyardClient, browser: bool) -> None:
    from railyard.client import RailyardClient
    from railyard.client_transport import ApiConnectionError, ApiError
    from railyard.commands.common import CliError
    from railyard.settings import save_session

    started = anonymous.start_device_sign_in()
    typer.echo("To sign in, open this page in a browser and approve the code:")
    typer.secho(f"  {started['verificationUriComplete']}", bold=True)
    typer.echo("  code: ", nl=False)
    typer.secho(started["userCode"], bold=True)
    if browser and _open_browser(started["verificationUriComplete"]):
        typer.echo("(opened in your browser)")
    minutes = max(1, started["expiresIn"] // 60)
    typer.echo(f"Waiting for approval (the code expires in {minutes} minutes; Ctrl-C to stop)...")
    interval = float(started["interval"])
    deadline = time.monotonic() + started["expiresIn"]
    failures = 0
    while time.monotonic() < deadline:
        _sleep(interval)
        try:
            tokens = anonymous.poll_device_sign_in(started["deviceCode"])
        except ApiConnectionError:
            failures += 1
            if failures > MAX_POLL_FAILURES:
                raise
            continue
        except ApiError as error:
            failures = 0
            if error.code == "AuthorizationPending":
                continue
            if error.code == "SlowDown":
                interval += SLOW_DOWN_SECONDS
                continue
            if error.status == 429 or error.status >= 500:
                continue
            if error.code == "AccessDenied":
                raise CliError("the sign-in was denied in the browser") from None
            raise
        where = save_session(
            anonymous.api_url, tokens["accessToken"], tokens["refreshToken"], tokens["sessionId"]
        )
        me = RailyardClient(anonymous.api_url, tokens["accessToken"]).whoami()
        typer.secho(f"Logged in to {anonymous.api_url} as {describe(me)}; saved to {where}", fg="green")
        return
    raise CliError("the code expired before it was approved: run `railyard login` again")


def whoami() -> None:
    """Who the CLI speaks for: a person and their roles, or an API token and its scope and actions."""
    from railyard.commands.common import api_client

    client = api_client()
    me = client.whoami()
    typer.echo(f"{describe(me)} on {client.api_url}")
    for grant in me["grants"]:
        scope = " / ".join(
            f"{label} {grant[key]}"  # type: ignore[literal-required]
            for label, key in (
                ("workspace", "workspaceId"),
                ("project", "projectId"),
                ("environment", "environmentId"),
                ("service", "serviceId"),
            )
            if key in grant
        )
        allowed = grant["role"] or ", ".join(grant["actions"]) or "nothing"
        typer.echo(f"  {scope}: {allowed}")
    if not me["grants"]:
        typer.echo("  no workspace yet")


def logout() -> None:
    """Sign out: ends the session on the server and forgets the saved credentials."""
    from railyard.client import RailyardClient
    from railyard.client_transport import ApiConnectionError, ApiError
    from railyard.settings import TOKEN_ENV, clear_credentials, load_config

    saved = load_config(environment=False)  # what this machine keeps, whatever the environment says
    if saved is None:
        typer.echo("Not logged in.")
    else:
        if saved.is_session:
            try:
                RailyardClient.for_config(saved).logout()
                typer.echo("Session ended.")
            except (ApiError, ApiConnectionError) as error:
                typer.secho(
                    f"warning: the server did not end the session ({error}); forgetting it here", fg="yellow"
                )
        where = clear_credentials()
        typer.secho(f"Logged out of {saved.api_url} (cleared {where})", fg="green")
        if not saved.is_session:
            typer.echo("An API token stays valid until it is revoked (`railyard token revoke <id>`).")
    if os.environ.get(TOKEN_ENV):
        typer.echo(f"note: {TOKEN_ENV} is set: commands still use it")
