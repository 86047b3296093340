"""`railyard link`: deploy the linked service on every push to a repository's branch (docs/decisions/0035).

The API stores the link and answers the webhook's URL and secret, printed once to paste into the
repository's webhook settings (GitHub: Settings → Webhooks; content type application/json; events
push and pull requests). `--repo` is `github.com/OWNER/NAME`, or, on the local platform, the path of a
git repository on this machine, whose commits the platform then reads with `git archive` (whatever
posts the signed push webhook names the sha). Without `--repo` it shows the current link.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import quote

import typer

from railyard.commands.common import DirOption, api_client, require_link, tick


def register(app: typer.Typer) -> None:
    app.command()(link)


def link(
    repo: Annotated[
        str | None,
        typer.Option(
            "--repo", help="github.com/OWNER/NAME, or a local git repository's path (local platform)."
        ),
    ] = None,
    branch: Annotated[
        str, typer.Option("--branch", help="Pushes to this branch deploy the service.")
    ] = "main",
    root_directory: Annotated[
        str, typer.Option("--root-directory", help="Deploy only this directory of the repository.")
    ] = "",
    directory: DirOption = Path("."),
) -> None:
    """Link the service to a Git repository's branch: each push to it deploys (no --repo: show the link)."""
    linked = require_link(directory)
    client = api_client()
    path = f"/v1/services/{quote(linked.serviceId, safe='')}/git"
    if repo is None:
        current = client._request("GET", path)["link"]
        root = f" (root directory {current['rootDirectory']})" if current["rootDirectory"] else ""
        typer.echo(f"{linked.describe()} deploys pushes to {current['repo']}@{current['branch']}{root}")
        return
    if not repo.startswith(("github.com", "http", "git@")) and Path(repo).expanduser().is_dir():
        repo = str(Path(repo).expanduser().resolve())  # a local repository: the platform reads it there
    body = {"repo": repo, "branch": branch, "rootDirectory": root_directory}
    answer = client._create("PUT", path, body=body)
    saved, webhook = answer["link"], answer["webhook"]
    typer.secho(
        f"{tick(True)} {linked.describe()} now deploys every push to {saved['repo']}@{saved['branch']}",
        fg="green",
    )
    typer.echo("Add this webhook to the repository (GitHub: Settings → Webhooks → Add webhook):")
    typer.echo(f"  Payload URL:   {webhook['url']}")
    typer.echo(f"  Content type:  {webhook['contentType']}")
    typer.echo(
        f"  Secret:        {webhook['secret']}   (shown once; `railyard link --repo ...` makes a new one)"
    )
    typer.echo(f"  Events:        {', '.join(webhook['events'])}")
