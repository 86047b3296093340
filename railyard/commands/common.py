"""What every command shares: the one place errors become `error: <message>` and exit 1
(`RailyardGroup`), the API client built from the saved config, the linked directory, the options
every service command takes, the output glyphs; and, for the workspace, token and audit commands,
the teams client and which workspace they act on.

Module import stays light (typer only): the client and the settings are imported when used.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:
    from railyard.client import RailyardClient
    from railyard.commands.teams_client import TeamsClient
    from railyard.settings import Link

DEFAULT_API_URL = "http://127.0.0.1:8000"

DirOption = Annotated[
    Path,
    typer.Option("--dir", "-d", help="The app directory (holds .railyard.json).", file_okay=False),
]
DetachOption = Annotated[bool, typer.Option("--detach", help="Start it and return; do not follow.")]


class CliError(Exception):
    """A problem the user can fix, printed as ``error: <message>`` (exit 1)."""


class RailyardGroup(TyperGroup):
    """Turns the errors every command may hit into one line on stderr and exit status 1."""

    def invoke(self, ctx: Any) -> Any:
        from railyard.client_transport import ApiConnectionError, ApiError
        from railyard.settings import SettingsError
        from railyard.tarball import TarballError

        try:
            return super().invoke(ctx)
        except ApiError as exc:
            fail(f"{exc.code}: {exc.message}")
        except ApiConnectionError as exc:
            fail(f"cannot reach the Railyard API at {exc.url} ({exc.detail}); is `railyard dev` running?")
        except (CliError, SettingsError, TarballError) as exc:
            fail(str(exc))


def glyph(fancy: str, plain: str) -> str:
    """``fancy`` unless stdout cannot encode it (a non-UTF-8 locale), then ``plain``."""
    try:
        fancy.encode(sys.stdout.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return plain
    return fancy


def tick(ok: bool) -> str:
    return glyph("✔", "OK") if ok else glyph("✘", "FAILED")


def api_client() -> RailyardClient:
    from railyard.client import RailyardClient
    from railyard.settings import config_path, load_config

    config = load_config()
    if config is None:
        raise CliError(
            f"not logged in (no API URL and token in {config_path()} or RAILYARD_API_URL/RAILYARD_TOKEN): "
            "start the local platform with `railyard dev`, or run `railyard login` (or `--token <token>`)"
        )
    return RailyardClient.for_config(config)


def require_link(directory: Path) -> Link:
    from railyard.settings import load_link

    link = load_link(directory.resolve())
    if link is None:
        raise CliError(f"{directory.resolve()} is not linked to a Railyard service: run `railyard init`")
    return link


def fail(message: str) -> NoReturn:
    """`error: <message>` on stderr, exit 1 (as RailyardGroup prints every error)."""
    typer.secho(f"error: {message}", fg="red", err=True)
    raise typer.Exit(1)


def teams_client() -> TeamsClient:
    from railyard.commands.teams_client import TeamsClient
    from railyard.settings import load_config

    config = load_config()
    if config is None:
        api_client()  # raises the CLI's own "not logged in" error, naming the ways to log in
    assert config is not None
    return TeamsClient(config.api_url, config.token)


def current_workspace(client: TeamsClient, named: str | None = None) -> str:
    """The workspace named (by name or id), else the one `railyard workspace use` chose, else the
    caller's only one."""
    from railyard.settings import selected_workspace

    if named is None:
        chosen = selected_workspace()
        if chosen:
            return chosen
    workspaces = client.list_workspaces()
    if named is not None:
        matches = [w for w in workspaces if named in (w["id"], w["name"])]
        if len(matches) == 1:
            return str(matches[0]["id"])
        if not matches:
            fail(f"no workspace {named!r} among yours: {', '.join(w['name'] for w in workspaces) or 'none'}")
        ids = ", ".join(w["id"] for w in matches)
        fail(f"several of your workspaces are named {named!r}: use its id ({ids})")
    if len(workspaces) == 1:
        return str(workspaces[0]["id"])
    fail(
        "you belong to no workspace: create one with `railyard workspace create <name>`"
        if not workspaces
        else "you belong to several workspaces: choose one with `railyard workspace use <name>`"
    )
