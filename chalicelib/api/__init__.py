"""The HTTP API: blueprints, schemas, and the one domain-error → HTTP map."""

from __future__ import annotations

from chalice import Chalice


def register(app: Chalice) -> None:
    from chalicelib.api import authorizer, deployments, device, github, meta, projects, whoami

    # The authorizer first: routes name it, and registering it is what makes it a Lambda.
    for module in (authorizer, meta, projects, deployments, device, github, whoami):
        app.register_blueprint(module.bp)
