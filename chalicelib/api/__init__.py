"""The HTTP API: blueprints, schemas, and the one domain-error → HTTP map."""

from __future__ import annotations

from chalice import Chalice


def register(app: Chalice) -> None:
    from chalicelib.api import auth, deployments, meta, projects

    for module in (meta, projects, deployments, auth):
        app.register_blueprint(module.bp)
