"""`railyard admin`: operator commands against a deployed Railyard (issue 9: `admin bootstrap`)."""

from __future__ import annotations

import typer

admin_app = typer.Typer(
    help="Operate a deployed Railyard (needs the operator's AWS credentials).", no_args_is_help=True
)
