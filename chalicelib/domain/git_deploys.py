"""What a `git.push` event deploys (the git-events queue's worker, functions/git_events.py).

Branch → environment: a link ties one service (so one environment) to one branch; a push to that
branch deploys that service, a push to any other branch, a tag or a deleted branch deploys nothing.
The commit's source comes from the `CommitSources` port (the Git host's tarball of the commit, or
`git archive` of a local repository), cut to the link's root directory, stored like an upload and
deployed through DeploymentService.deploy_source: the pipeline is the same as `railyard up`'s, so
watch patterns skip a push that changes no watched file (docs/decisions/0007).

Idempotent: the deployment's id is derived from the delivery (`delivery_deployment_id`), so an event
handled twice finds its deployment instead of making another.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Protocol

from chalicelib.domain.errors import Conflict, DomainError, NotFound
from chalicelib.domain.events import GitPushed
from chalicelib.domain.git import GitCommit, GitLink, GitLinkStore
from chalicelib.domain.ids import derived_id
from chalicelib.domain.models import Deployment, Service
from chalicelib.domain.policy import Access, Action, Grant, Principal
from chalicelib.domain.ports import BlobStore, Repository
from chalicelib.domain.services import DeploymentService

_log = logging.getLogger(__name__)


class SourceUnavailable(DomainError):
    """The commit's source cannot be had and waiting will not change that (no such commit or
    repository, nothing under the root directory, over the source limits)."""


class CommitSources(Protocol):
    def fetch(self, repo: str, sha: str, root_directory: str) -> bytes:
        """The commit's tree under `root_directory` as a .tar.gz with its files at the root (the shape
        `railyard up` uploads). SourceUnavailable for good; TransientError to be retried."""
        ...


def delivery_deployment_id(delivery_id: str, received_at: str) -> str:
    """A deployment id that is the same every time one delivery is handled, and sorts by time as
    every id does (domain/ids.py: a millisecond time, then 8 characters, here of the delivery's digest)."""
    millis = int(datetime.fromisoformat(received_at).timestamp() * 1000)
    return derived_id("dep", millis, delivery_id)


def git_access(link: GitLink, service: Service | None = None) -> Access:
    """Who a push deploys as: the link itself, allowed to deploy one service and nothing else: the
    linked one, or `service`, its copy in a pull request's environment (same project)."""
    if service is not None and service.project_id != link.project_id:
        raise NotFound(f"service {service.id} not found")
    grant = Grant(
        link.workspace_id,
        frozenset({Action.READ, Action.DEPLOY}),
        project_id=link.project_id,
        environment_id=service.environment_id if service else link.environment_id,
        service_id=service.id if service else link.service_id,
    )
    principal = Principal(kind="git", subject=f"git-link:{link.service_id}", grants=(grant,), name=link.repo)
    return Access(principal, Action.DEPLOY)


class GitDeploys:
    def __init__(
        self,
        store: GitLinkStore,
        sources: CommitSources,
        blobs: BlobStore,
        sources_bucket: str,
        deployments: DeploymentService,
        repo: Repository,
    ) -> None:
        self._store = store
        self._sources = sources
        self._blobs = blobs
        self._bucket = sources_bucket
        self._deployments = deployments
        self._repo = repo

    def pushed(self, push: GitPushed) -> Deployment | None:
        """The deployment of a push to the linked branch; None when the push deploys nothing."""
        link = self._store.find_link(push.service_id)
        if link is None:
            _log.info("push %s: service %s is no longer linked", push.delivery_id, push.service_id)
            return None
        if push.deleted or not push.branch or push.branch != link.branch:
            _log.info(
                "push %s to %r: not %s's branch %r, nothing to deploy",
                push.delivery_id,
                push.branch,
                link.service_id,
                link.branch,
            )
            return None
        commit = GitCommit(push.commit_sha, push.commit_message, push.commit_author, push.branch)
        deployment_id = delivery_deployment_id(push.delivery_id, push.received_at)
        return self.deploy_commit(link, link.service_id, commit, deployment_id)

    def deploy_commit(
        self, link: GitLink, service_id: str, commit: GitCommit, deployment_id: str
    ) -> Deployment:
        """Deploys `commit` of the link's repository to `service_id` (the linked service, or its
        copy in a pull request's environment) once per `deployment_id`."""
        try:
            return self._repo.get_deployment(deployment_id)  # handled before
        except NotFound:
            pass
        copy = None if service_id == link.service_id else self._repo.get_service(service_id)
        who = git_access(link, copy)
        try:
            data = self._sources.fetch(link.repo, commit.sha, link.root_directory)
        except SourceUnavailable as error:
            reason = str(error)
            return self._once(
                lambda: self._deployments.fail_source(who, service_id, reason, commit, deployment_id),
                deployment_id,
            )
        key = f"sources/{service_id}/src_git_{deployment_id.removeprefix('dep_')}.tar.gz"
        self._blobs.put_bytes(self._bucket, key, data)
        return self._once(
            lambda: self._deployments.deploy_source(
                who, service_id, key, commit=commit, deployment_id=deployment_id
            ),
            deployment_id,
        )

    def _once(self, create: _Create, deployment_id: str) -> Deployment:
        try:
            return create()
        except Conflict:
            return self._repo.get_deployment(deployment_id)  # a concurrent handling made it first


class _Create(Protocol):
    def __call__(self) -> Deployment: ...
