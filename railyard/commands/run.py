"""`railyard run -- CMD ARGS...`: run a local command with the linked service's variables, as
Railway's `railway run` does: the values a deployment made now would run with (shared, the
service's own, references resolved, the injected RAILYARD_*/RAILWAY_* ones), from
GET /v1/services/{id}/variables/resolved, over this shell's environment. Its exit code is the
command's.

Sealed values are not given: they never leave the platform except into the running release
(docs/decisions/0023), so the command runs without them and stderr names them.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Annotated

import typer

from railyard.commands.common import CliError, DirOption, api_client, require_link

EXIT_NOT_FOUND = 127  # what a shell answers for a command it cannot find


def register(app: typer.Typer) -> None:
    app.command(context_settings={"ignore_unknown_options": True})(run)


def run(
    command: Annotated[list[str], typer.Argument(metavar="-- CMD [ARGS]...", help="The command to run.")],
    directory: DirOption = Path("."),
) -> None:
    """Run a local command with the service's variables in its environment; exits with its code."""
    link = require_link(directory)
    from railyard.client_transport import ApiError

    try:
        resolved = api_client().resolved_variables(link.serviceId)
    except ApiError as error:
        if error.code == "UnresolvedReference":
            raise CliError(f"cannot resolve the variables of {link.service}: {error.message}") from None
        raise
    if resolved.get("sealed"):
        names = ", ".join(resolved["sealed"])
        typer.echo(f"railyard run: sealed variables are not given to local commands: {names}", err=True)
    environment = {**os.environ, **resolved["variables"]}
    try:
        finished = subprocess.run(command, env=environment, check=False)
    except FileNotFoundError:
        typer.echo(f"railyard run: command not found: {command[0]}", err=True)
        raise typer.Exit(EXIT_NOT_FOUND) from None
    raise typer.Exit(finished.returncode if finished.returncode >= 0 else 128 - finished.returncode)
