"""Pull-request environments (issue 12 part 2; docs/decisions/0035): what a `git.pull_request` event
of a linked repository does.

A pull request against a linked branch gets an environment `pr-<number>` in the link's project,
copied from the linked service's environment (services, settings, variables: domain/environments.py
`create(copy_from=..., exist_ok=True)`, so a retried or repeated event completes it instead of
failing). `opened`, `reopened` and `synchronize` deploy the head commit to the copy of the linked
service (domain/git_deploys.py, once per delivery); `closed`, merged or not, deletes the environment
through `Environments.delete`: deployments in progress cancelled, releases stopped, artifacts
released. A pull request against any other branch does nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from chalicelib.domain.environments import Environments, Teardown, system_access
from chalicelib.domain.events import GitPullRequest
from chalicelib.domain.git import GitCommit, GitLinkStore
from chalicelib.domain.git_deploys import GitDeploys, delivery_deployment_id
from chalicelib.domain.models import Deployment
from chalicelib.domain.ports import Repository

_log = logging.getLogger(__name__)

DEPLOYING_ACTIONS = frozenset({"opened", "reopened", "synchronize"})
CLOSED = "closed"


def preview_name(number: int) -> str:
    return f"pr-{number}"


@dataclass(frozen=True)
class PreviewOutcome:
    deployment: Deployment | None = None
    teardown: Teardown | None = None

    def log(self) -> dict[str, object]:
        """What the worker's log line says of it."""
        if self.teardown is not None:
            return {"removed_environment": self.teardown.environment.name, "services": self.teardown.services}
        return {"deployment_id": self.deployment.id if self.deployment else None}


class PullRequestEnvironments:
    def __init__(
        self, store: GitLinkStore, environments: Environments, deploys: GitDeploys, repo: Repository
    ) -> None:
        self._store = store
        self._environments = environments
        self._deploys = deploys
        self._repo = repo

    def changed(self, event: GitPullRequest) -> PreviewOutcome:
        link = self._store.find_link(event.service_id)
        if link is None or event.base_branch != link.branch:
            _log.info("pull request #%s against %r: no link to that branch", event.number, event.base_branch)
            return PreviewOutcome()
        who = system_access(link.workspace_id)
        name = preview_name(event.number)
        if event.action == CLOSED:
            existing = [e for e in self._repo.list_environments(link.project_id) if e.name == name]
            if not existing:
                return PreviewOutcome()  # never opened here, or already torn down
            return PreviewOutcome(teardown=self._environments.delete(who, existing[0].id))
        if event.action not in DEPLOYING_ACTIONS:
            return PreviewOutcome()  # edited, labeled, review requested ...
        copy = self._environments.create(
            who, link.project_id, name, copy_from=link.environment_id, exist_ok=True
        )
        linked = self._repo.get_service(link.service_id)
        service = next(s for s in copy.services if s.name == linked.name)
        commit = GitCommit(
            event.commit_sha, f"#{event.number} {event.title}".strip(), event.author, event.head_branch
        )
        deployment_id = delivery_deployment_id(event.delivery_id, event.received_at)
        return PreviewOutcome(deployment=self._deploys.deploy_commit(link, service.id, commit, deployment_id))
