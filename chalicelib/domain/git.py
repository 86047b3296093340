"""Push to deploy, the link and the webhook (docs/decisions/0035-push-to-deploy.md).

A service is linked to one repository and branch (`GitLink`); the link keeps a webhook secret,
sealed like a sealed variable (domain/sealing.py) under a name no variable can have, and the user
pastes the webhook URL and secret into the Git host. `GitWebhooks.receive` is the public route's use
case: it checks GitHub's `X-Hub-Signature-256` in constant time, answers `ping`, claims the
delivery id once (a delivery sent ten times is put on the bus once) and puts a `git.push` or
`git.pull_request` event on Railyard's bus. What a push deploys is domain/git_deploys.py's.

Pure: the store, the bus and the sealer are ports.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from chalicelib.domain.errors import BadRequest, NotFound, TransientError, Unauthorized
from chalicelib.domain.events import GIT_PULL_REQUEST, GIT_PUSH, GitPullRequest, GitPushed
from chalicelib.domain.ids import Clock, iso
from chalicelib.domain.models import Versioned
from chalicelib.domain.policy import Access
from chalicelib.domain.projects import ProjectService
from chalicelib.domain.sealing import SealedValue, Sealer, sealing_context

# The sealing context's name of a link's secret: a variable name never contains "." or "-", so a
# sealed variable and a webhook secret can never open as each other (and an IAM condition on this
# name lets the API open webhook secrets without opening sealed variables: stacks/keys.py).
WEBHOOK_SECRET_NAME = "railyard.git-webhook-secret"
SIGNATURE_HEADER = "X-Hub-Signature-256"
EVENT_HEADER = "X-GitHub-Event"
DELIVERY_HEADER = "X-GitHub-Delivery"
WEBHOOK_PATH = "/v1/webhooks/github"
# GitHub lets a person redeliver a delivery of the last 3 days; a claimed id is kept longer.
DELIVERY_KEPT = timedelta(days=7)
EVENT_SOURCE_NAME = "railyard.github"  # the envelope's metadata.event_source: GitHub's webhook made it

_REPO = re.compile(r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$")
_REPO_URL = re.compile(r"^(?:https?://|git@|ssh://git@)?github\.com[/:]([^/\s]+/[^/\s]+?)(?:\.git)?/?$")
_BRANCH = re.compile(r"^[^\s~^:?*\[\\]{1,255}$")
_DELIVERY = re.compile(r"^[A-Za-z0-9-]{1,100}$")
BRANCH_REF = "refs/heads/"


@dataclass(frozen=True)
class GitLink(Versioned):
    """A service deployed from a repository's branch. `repo` is `owner/name` on the Git host, or an
    absolute path of a repository on the platform's own disk (the local platform only); `secret`
    is the webhook secret's SealedValue text."""

    service_id: str
    workspace_id: str
    project_id: str
    environment_id: str
    repo: str
    branch: str
    root_directory: str  # "" : the repository's root
    secret: str
    created_at: str
    version: int = 1

    @property
    def local(self) -> bool:
        return self.repo.startswith("/")


@dataclass(frozen=True)
class GitCommit:
    """The pushed commit a deployment carries (Deployment.commit_*, branch)."""

    sha: str
    message: str
    author: str
    branch: str

    def fields(self) -> dict[str, str]:
        return {
            "commit_sha": self.sha,
            "commit_message": self.message,
            "commit_author": self.author,
            "branch": self.branch,
        }


class GitLinkStore(Protocol):
    def save_link(self, link: GitLink) -> None: ...  # replaces the service's link
    def find_link(self, service_id: str) -> GitLink | None: ...
    def claim_delivery(self, service_id: str, delivery_id: str, expires_at: int) -> bool:
        """True the first time (service, delivery id) is claimed; False for every repeat."""
        ...

    def release_delivery(self, service_id: str, delivery_id: str) -> None: ...


class GitEventBus(Protocol):
    def put(self, detail_type: str, detail: dict[str, Any]) -> None: ...


def normalise_repo(text: str, allow_local: bool) -> str:
    """`owner/name` from `github.com/acme/shop`, a GitHub URL or `acme/shop`; an absolute path
    stays a path where local repositories are allowed."""
    text = text.strip()
    if text.startswith("/"):
        if not allow_local:
            raise BadRequest("repo: a local path is only for the local platform; give owner/name on GitHub")
        if ".." in text.split("/"):
            raise BadRequest("repo: a local path must be absolute, without '..'")
        return text.rstrip("/") or "/"
    found = _REPO_URL.match(text)
    name = found.group(1) if found else text
    if not _REPO.match(name) or name.split("/")[1] in (".", ".."):
        raise BadRequest(f"repo {text!r} is not a GitHub repository (github.com/OWNER/NAME or OWNER/NAME)")
    return name


def normalise_root(text: str) -> str:
    parts = [p for p in text.strip().strip("/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise BadRequest("rootDirectory must stay inside the repository (no '..')")
    return "/".join(parts)


def check_branch(branch: str) -> str:
    branch = branch.strip().removeprefix(BRANCH_REF)
    if not _BRANCH.match(branch) or ".." in branch or branch.startswith(("-", "/")):
        raise BadRequest(f"branch {branch!r} is not a valid Git branch name")
    return branch


def verify_signature(secret: bytes, body: bytes, header: str | None) -> None:
    """GitHub's HMAC-SHA256 of the raw body, compared in constant time; Unauthorized otherwise."""
    if not header:
        raise Unauthorized(f"the {SIGNATURE_HEADER} header is missing: set the webhook's secret")
    algorithm, _, digest = header.partition("=")
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    if algorithm != "sha256" or not hmac.compare_digest(expected, digest.strip().lower()):
        raise Unauthorized(f"the {SIGNATURE_HEADER} header does not match the body and the link's secret")


def sign(secret: bytes, body: bytes) -> str:
    """The header value GitHub sends (what a test or a relay signs with)."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class GitLinks:
    """Linking a service to a repository and branch (the MANAGE action on the service)."""

    def __init__(
        self,
        store: GitLinkStore,
        projects: ProjectService,
        sealer: Sealer | None,
        clock: Clock,
        allow_local: bool,
    ) -> None:
        self._store = store
        self._projects = projects
        self._sealer = sealer
        self._clock = clock
        self._allow_local = allow_local

    def link(
        self, who: Access, service_id: str, repo: str, branch: str, root_directory: str = ""
    ) -> tuple[GitLink, str]:
        """Stores the link with a new secret (a re-link replaces both); the secret is returned
        this once, to paste into the Git host."""
        service = self._projects.get_service(who, service_id)
        if self._sealer is None:
            raise BadRequest("Git links need a sealing key for their webhook secret; this platform has none")
        secret = secrets.token_hex(32)
        sealed = self._sealer.seal(secret.encode(), sealing_context(service.id, WEBHOOK_SECRET_NAME))
        resource = self._projects.resources.service(service)
        previous = self._store.find_link(service.id)
        link = GitLink(
            service_id=service.id,
            workspace_id=resource.workspace_id,
            project_id=service.project_id,
            environment_id=service.environment_id,
            repo=normalise_repo(repo, self._allow_local),
            branch=check_branch(branch),
            root_directory=normalise_root(root_directory),
            secret=sealed.to_text(),
            created_at=iso(self._clock()),
            version=previous.version + 1 if previous else 1,
        )
        self._store.save_link(link)
        return link, secret

    def get(self, who: Access, service_id: str) -> GitLink:
        service = self._projects.get_service(who, service_id)
        link = self._store.find_link(service.id)
        if link is None:
            raise NotFound(f"service {service.name} is not linked to a repository (`railyard link`)")
        return link


@dataclass(frozen=True)
class WebhookAnswer:
    status: int
    body: dict[str, Any]


class GitWebhooks:
    """The public webhook route's use case: nothing is trusted before the signature checks out."""

    def __init__(self, store: GitLinkStore, bus: GitEventBus, sealer: Sealer | None, clock: Clock) -> None:
        self._store = store
        self._bus = bus
        self._sealer = sealer
        self._clock = clock

    def receive(
        self, service_id: str, event: str, delivery_id: str, signature: str | None, body: bytes
    ) -> WebhookAnswer:
        link = self._store.find_link(service_id) if service_id else None
        if link is None or self._sealer is None:
            raise NotFound(f"no Git link for service {service_id!r}: the webhook URL names a linked service")
        secret = self._sealer.open(
            SealedValue.from_text(link.secret), sealing_context(link.service_id, WEBHOOK_SECRET_NAME)
        )
        verify_signature(secret, body, signature)
        if event == "ping":
            return WebhookAnswer(200, {"event": "ping", "repo": link.repo, "branch": link.branch})
        if event not in ("push", "pull_request"):
            return WebhookAnswer(202, {"event": event, "ignored": "Railyard acts on push and pull_request"})
        if not _DELIVERY.match(delivery_id):
            raise BadRequest(f"the {DELIVERY_HEADER} header is missing or malformed")
        now = self._clock()
        detail_type, data = _parse(event, _json(body), link, delivery_id, iso(now))
        expires_at = int((now + DELIVERY_KEPT).timestamp())
        if not self._store.claim_delivery(link.service_id, delivery_id, expires_at):
            return WebhookAnswer(200, {"event": detail_type, "delivery": delivery_id, "duplicate": True})
        try:
            self._bus.put(detail_type, _envelope(detail_type, data, delivery_id, iso(now)))
        except Exception as error:
            # Not on the bus: forget the claim so GitHub's redelivery is taken.
            self._store.release_delivery(link.service_id, delivery_id)
            raise TransientError(f"the {detail_type} event could not be put on the bus; redeliver") from error
        return WebhookAnswer(202, {"event": detail_type, "delivery": delivery_id, "duplicate": False})


def _json(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body or b"null")
    except ValueError:
        raise BadRequest(
            "the webhook body is not JSON: set the webhook's content type to application/json"
        ) from None
    if not isinstance(payload, dict):
        raise BadRequest("the webhook body must be a JSON object")
    return payload


def _text(value: Any, limit: int = 1000) -> str:
    return value[:limit] if isinstance(value, str) else ""


def _parse(
    event: str, payload: dict[str, Any], link: GitLink, delivery_id: str, now: str
) -> tuple[str, GitPushed | GitPullRequest]:
    try:
        if event == "push":
            head = payload.get("head_commit") or {}
            author = head.get("author") or {}
            ref = _text(payload.get("ref"))
            return GIT_PUSH, GitPushed(
                delivery_id=delivery_id,
                service_id=link.service_id,
                branch=ref.removeprefix(BRANCH_REF) if ref.startswith(BRANCH_REF) else "",
                commit_sha=_text(payload.get("after"), 64),
                commit_message=_text(head.get("message")),
                commit_author=_text(author.get("username") or author.get("name"), 200),
                deleted=bool(payload.get("deleted")),
                received_at=now,
            )
        pull = payload["pull_request"]
        return GIT_PULL_REQUEST, GitPullRequest(
            delivery_id=delivery_id,
            service_id=link.service_id,
            action=_text(payload.get("action"), 64),
            number=int(payload.get("number") or pull["number"]),
            base_branch=_text(pull["base"]["ref"], 255),
            head_branch=_text(pull["head"]["ref"], 255),
            commit_sha=_text(pull["head"]["sha"], 64),
            title=_text(pull.get("title")),
            author=_text((pull.get("user") or {}).get("login"), 200),
            merged=bool(pull.get("merged")),
            received_at=now,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise BadRequest(f"the {event} payload lacks what Railyard reads ({error})") from None


def _envelope(
    detail_type: str, data: GitPushed | GitPullRequest, delivery_id: str, now: str
) -> dict[str, Any]:
    return {
        "data": data.model_dump(),
        "metadata": {
            "event_name": detail_type,
            "event_source": EVENT_SOURCE_NAME,
            "event_version": "1",
            "correlation_id": delivery_id,  # no deployment yet: the delivery is what ties it together
            "created_at": now,
        },
    }
