"""The ``railyard`` command line: its entry point and the table of its commands.

Link a directory to a service, deploy it, watch it, change it. Each command group is a module of
``railyard.commands`` (deployments: ``deploy``; following one: ``following``; ``variables``,
``environment``, ``service``, ``run``, ``cron``, ``domain``, ``auth``, ``workspace``, ``token``,
``audit``, ``local``) and ``railyard.admin``.
Every command talks only to the HTTP API (docs/api.md) through ``railyard.client``; ``railyard dev``
hands over to the local platform in ``railyard.localdev``. Module import stays light (typer only):
requests, rich and the client are imported by the commands that use them, so ``railyard --help``
and shell completion start fast.

Errors are handled in one place (``railyard.commands.common.RailyardGroup``): an API error prints
``error: <Code>: <Message>`` on stderr and exits 1, and so do the CLI's own errors (no config, no
link, nothing to pack, API unreachable).
"""

from __future__ import annotations

import typer

from railyard.admin import admin_app
from railyard.commands import (
    audit,
    cron,
    deploy,
    environment,
    git,
    local,
    run,
    service,
    token,
    variables,
    workspace,
)
from railyard.commands import auth as auth_commands
from railyard.commands import metrics as metrics_command
from railyard.commands.common import RailyardGroup
from railyard.commands.domain import domain_app
from railyard.commands.webhook import webhook_app

app = typer.Typer(
    cls=RailyardGroup,
    name="railyard",
    help="Deploy apps to Railyard, the open-source AWS-native PaaS.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# The order here is the order `railyard --help` lists them: commands first, then the groups.
app.add_typer(variables.app, name="variables")
app.add_typer(cron.app, name="cron")
app.add_typer(environment.app, name="environment")  # new, list, use, delete, promote (ADR 0036)
app.add_typer(service.app, name="service")  # settings
app.add_typer(admin_app, name="admin")
auth_commands.register(app)  # login, whoami, logout
app.add_typer(domain_app, name="domain")
app.add_typer(webhook_app, name="webhook")
import railyard.commands.keys  # noqa: E402, F401  (registers `admin rotate-keys`)

app.add_typer(workspace.app, name="workspace")
app.add_typer(token.app, name="token")
audit.register(app)
local.register(app)  # plan, dev: no API involved
deploy.register(app)  # init, up, status, logs, deployments, rollback, redeploy
run.register(app)  # run -- CMD: a local command with the service's variables
git.register(app)  # link: push to deploy
metrics_command.register(app)  # metrics (ADR 0039)


def main() -> None:
    """Console-script entry point (pyproject: ``railyard = "railyard.cli:main"``)."""
    app()
