"""Routes for uploads, deployments, logs, rollbacks (and their preview), releases and variables."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.api.routing import Context, route
from chalicelib.api.schemas import (
    DeploymentCreate,
    RollbackCreate,
    VariablesPatch,
    deployment_view,
    parse,
    release_view,
    variables_view,
)
from chalicelib.domain.errors import BadRequest
from chalicelib.domain.models import Deployment
from chalicelib.domain.policy import Action

bp = Blueprint(__name__)
UPLOAD_EXPIRES = 900


def _view(ctx: Context, deployment: Deployment) -> dict[str, Any]:
    """A deployment made from its service's id alone has no hostname until its workflow's Prepare
    step filled it (ADR 0034): its url is null until then, with no read of the service. Items
    written before deployments carried their hostname read it from the service."""
    if deployment.config is None:
        return deployment_view(deployment, None)
    hostname = deployment.hostname or ctx.c.repository.get_service(deployment.service_id).hostname
    return deployment_view(deployment, ctx.c.settings.public_url(hostname))


# Not idempotent on purpose: a replayed URL would outlive its 15 minutes, and nothing durable is made
# until the upload; the deployment that uses the upload is the request that must not repeat.
@route(bp, "/v1/services/{service_id}/uploads", "POST", status=201, action=Action.DEPLOY)
def create_upload(ctx: Context, service_id: str) -> tuple[int, Any]:
    """Get a presigned POST (URL and form fields) to upload a source tarball of at most maxBytes."""
    max_bytes = ctx.c.settings.max_upload_bytes
    upload, key = ctx.c.deployments.presign_upload(ctx.who, service_id, UPLOAD_EXPIRES, max_bytes)
    return 201, {
        "uploadUrl": upload.url,
        "uploadFields": upload.fields,
        "sourceKey": key,
        "expiresIn": UPLOAD_EXPIRES,
        "maxBytes": upload.max_bytes,
    }


@route(
    bp,
    "/v1/services/{service_id}/deployments",
    "POST",
    request_model=DeploymentCreate,
    status=201,
    idempotent=True,
    action=Action.DEPLOY,
)
def create_deployment(ctx: Context, service_id: str) -> tuple[int, Any]:
    """Deploy an uploaded source, or redeploy the live release with the current variables."""
    # One transaction (the deployment, this request's audit entry, the service's existence) and one
    # StartExecution; the workflow's Prepare step finds the upload and fixes the service's config
    # (docs/decisions/0027, 0034).
    body = parse(DeploymentCreate, ctx.body)
    if (body.sourceKey is None) == (not body.redeploy):
        raise BadRequest("give exactly one of 'sourceKey' or 'redeploy': true")
    if body.sourceKey is not None:
        deployments = ctx.c.deployments
        deployment = deployments.deploy_source(ctx.who, service_id, body.sourceKey, body.noCache, ctx.audit)
    else:
        deployment = ctx.c.deployments.redeploy(ctx.who, service_id, ctx.audit)
    return 201, {"deployment": _view(ctx, deployment)}


@route(bp, "/v1/services/{service_id}/deployments", action=Action.READ)
def list_deployments(ctx: Context, service_id: str) -> tuple[int, Any]:
    """List a service's deployments, newest first."""
    items = ctx.c.deployments.list_deployments(ctx.who, service_id, ctx.query_int("limit", 20))
    return 200, {"deployments": [_view(ctx, d) for d in items]}


@route(bp, "/v1/deployments/{deployment_id}", action=Action.READ)
def get_deployment(ctx: Context, deployment_id: str) -> tuple[int, Any]:
    """Get a deployment."""
    return 200, {"deployment": _view(ctx, ctx.c.deployments.get(ctx.who, deployment_id))}


@route(bp, "/v1/deployments/{deployment_id}/cancel", "POST", action=Action.DEPLOY)
def cancel_deployment(ctx: Context, deployment_id: str) -> tuple[int, Any]:
    """Cancel a deployment that has not finished."""
    return 200, {"deployment": _view(ctx, ctx.c.deployments.cancel(ctx.who, deployment_id))}


@route(bp, "/v1/deployments/{deployment_id}/logs", action=Action.READ_LOGS)
def get_logs(ctx: Context, deployment_id: str) -> tuple[int, Any]:
    """Read build or deploy log lines after a cursor."""
    page = ctx.c.deployments.read_logs(
        ctx.who,
        deployment_id,
        ctx.query.get("stream", "deploy"),
        ctx.query_int("after", 0),
        ctx.query_int("limit", 500),
    )
    return 200, {
        "lines": [{"seq": x.seq, "ts": x.ts, "message": x.message} for x in page.lines],
        "next": page.next,
        "done": page.done,
    }


@route(
    bp,
    "/v1/services/{service_id}/rollback",
    "POST",
    request_model=RollbackCreate,
    status=201,
    idempotent=True,
    action=Action.DEPLOY,
)
def rollback(ctx: Context, service_id: str) -> tuple[int, Any]:
    """Re-activate an earlier release (the previous one by default) as a new deployment."""
    body = parse(RollbackCreate, ctx.body)
    deployment = ctx.c.deployments.rollback(ctx.who, service_id, body.deploymentId, ctx.audit)
    # The release's own variables come back (ADR 0037): which differ from the current ones, by name.
    changes = ctx.c.variables.rollback_differences(ctx.who, service_id, deployment.requested)
    return 201, {"deployment": _view(ctx, deployment), "variablesChanged": changes}


# Seeing it needs `read` (as the releases list does, and the person who may roll back reads it before
# confirming); the names in it need `read-variables`, as the rollback's own answer does.
@route(bp, "/v1/services/{service_id}/rollback", action=Action.READ)
def preview_rollback(ctx: Context, service_id: str) -> tuple[int, Any]:
    """What a rollback would run (the release, the variables it brings back); it changes nothing."""
    deployment_id = ctx.query.get("deploymentId") or None
    _, release = ctx.c.deployments.rollback_target(ctx.who, service_id, deployment_id)
    changes = ctx.c.variables.rollback_differences(ctx.who, service_id, release.config)
    return 200, {"release": release_view(release), "variablesChanged": changes}


@route(bp, "/v1/services/{service_id}/releases", action=Action.READ)
def list_releases(ctx: Context, service_id: str) -> tuple[int, Any]:
    """List a service's releases, newest first."""
    releases = ctx.c.deployments.list_releases(ctx.who, service_id, ctx.query_int("limit", 20))
    return 200, {"releases": [release_view(r) for r in releases]}


@route(bp, "/v1/services/{service_id}/variables", action=Action.READ_VARIABLES)
def get_variables(ctx: Context, service_id: str) -> tuple[int, Any]:
    """Get a service's variables (sealed ones by name only)."""
    return 200, variables_view(ctx.c.deployments.get_variables(ctx.who, service_id))


@route(
    bp,
    "/v1/services/{service_id}/variables",
    "PATCH",
    request_model=VariablesPatch,
    idempotent=True,
    action=Action.WRITE_VARIABLES,
)
def patch_variables(ctx: Context, service_id: str) -> tuple[int, Any]:
    """Set, seal and unset variables; a live service gets exactly one new deployment."""
    body = parse(VariablesPatch, ctx.body)
    listing, deployment = ctx.c.deployments.set_variables(
        ctx.who, service_id, body.set, body.unset, body.sealed, ctx.audit
    )
    return 200, {**variables_view(listing), "deployment": _view(ctx, deployment) if deployment else None}
