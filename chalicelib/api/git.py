"""Push to deploy (docs/decisions/0035): link a service to a repository and branch, and the public
route the Git host's webhook calls.

`PUT /v1/services/{id}/git` answers the webhook's URL and secret once (they go into the repository's
webhook settings); `POST /v1/webhooks/github?service=<id>` is public: the signature over the raw
body, checked by the use case, is its only credential.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from chalice import Blueprint
from pydantic import Field

from chalicelib.api.routing import Context, route
from chalicelib.api.schemas import _Body, parse
from chalicelib.domain.git import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, WEBHOOK_PATH, GitLink
from chalicelib.domain.policy import Action

bp = Blueprint(__name__)


class GitLinkPut(_Body):
    repo: str = Field(min_length=1, max_length=512)  # github.com/OWNER/NAME, or a local path (dev)
    branch: str = Field(default="main", min_length=1, max_length=255)
    rootDirectory: str = Field(default="", max_length=512)


def link_view(link: GitLink) -> dict[str, Any]:
    return {
        "serviceId": link.service_id,
        "repo": link.repo,
        "branch": link.branch,
        "rootDirectory": link.root_directory,
        "createdAt": link.created_at,
    }


def _webhook_url(service_id: str) -> str:
    request = bp.current_request
    host = request.headers.get("host", "localhost")
    local = host.split(":")[0] in ("localhost", "127.0.0.1")
    scheme = request.headers.get("x-forwarded-proto") or ("http" if local else "https")
    # An API Gateway stage prefix appears in the context's path, before this route's own path.
    full = str((request.context or {}).get("path") or "")
    own = f"/v1/services/{service_id}/git"
    prefix = full[: -len(own)] if full.endswith(own) else ""
    return f"{scheme}://{host}{prefix}{WEBHOOK_PATH}?service={quote(service_id, safe='')}"


# Not idempotent on purpose (as token creation): a kept first answer would store the secret in
# plaintext for a day. A repeated PUT replaces the link and its secret: the last answer is the one.
@route(bp, "/v1/services/{service_id}/git", "PUT", request_model=GitLinkPut, action=Action.MANAGE)
def put_git_link(ctx: Context, service_id: str) -> tuple[int, Any]:
    """Link the service to a repository and branch; answers the webhook URL and secret once."""
    body = parse(GitLinkPut, ctx.body)
    link, secret = ctx.c.git_links.link(ctx.who, service_id, body.repo, body.branch, body.rootDirectory)
    webhook = {"url": _webhook_url(link.service_id), "secret": secret, "contentType": "application/json"}
    return 200, {"link": link_view(link), "webhook": {**webhook, "events": ["push", "pull_request"]}}


@route(bp, "/v1/services/{service_id}/git", action=Action.READ)
def get_git_link(ctx: Context, service_id: str) -> tuple[int, Any]:
    """The service's repository link (never its secret)."""
    return 200, {"link": link_view(ctx.c.git_links.get(ctx.who, service_id))}


@route(bp, WEBHOOK_PATH, "POST", status=202, public=True)
def github_webhook(ctx: Context) -> tuple[int, Any]:
    """GitHub's webhook: X-Hub-Signature-256 checked (401 otherwise), once per X-GitHub-Delivery."""
    request, headers = bp.current_request, bp.current_request.headers
    raw = request.raw_body or b""
    answer = ctx.c.git_webhooks.receive(
        ctx.query.get("service", ""),
        headers.get(EVENT_HEADER.lower(), ""),
        headers.get(DELIVERY_HEADER.lower(), ""),
        headers.get(SIGNATURE_HEADER.lower()),
        raw.encode() if isinstance(raw, str) else raw,  # the bytes GitHub signed
    )
    return answer.status, answer.body
