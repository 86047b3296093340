"""The HTTP API: blueprints, schemas, and the one domain-error → HTTP map."""

from __future__ import annotations

from chalice import Chalice


def register(app: Chalice) -> None:
    from chalicelib.api import audit, deployments, meta, projects, tokens, workspaces

    for module in (meta, projects, deployments, workspaces, tokens, audit):
        app.register_blueprint(module.bp)
