"""The HTTP API: blueprints, schemas, and the one domain-error → HTTP map."""

from __future__ import annotations

from chalice import Chalice


def register(app: Chalice) -> None:
    from chalicelib.api import (
        audit,
        auth,
        authorizer,
        deployments,
        device,
        domains,
        environments,
        git,
        github,
        meta,
        metrics,
        projects,
        tokens,
        variables,
        webhooks,
        whoami,
        workspaces,
    )

    # The authorizer first: routes name it, and registering it is what makes it a Lambda.
    for module in (
        authorizer,
        meta,
        projects,
        deployments,
        variables,
        domains,
        environments,
        auth,
        device,
        github,
        git,
        webhooks,
        whoami,
        workspaces,
        tokens,
        audit,
        metrics,
    ):
        app.register_blueprint(module.bp)
