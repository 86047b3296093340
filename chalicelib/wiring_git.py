"""The composition root's push-to-deploy parts (docs/decisions/0035): Git links, the webhook
intake and the git-events worker, built on first use like the rest of chalicelib/wiring.py's
Container, which inherits them."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chalicelib.adapters.git_store import DynamoGitLinkStore
    from chalicelib.config import Settings
    from chalicelib.domain.environments import Environments
    from chalicelib.domain.git import GitLinks, GitWebhooks
    from chalicelib.domain.git_deploys import GitDeploys
    from chalicelib.domain.git_previews import PullRequestEnvironments
    from chalicelib.domain.ids import Clock
    from chalicelib.domain.ports import BlobStore, Repository
    from chalicelib.domain.projects import ProjectService
    from chalicelib.domain.sealing import Sealer
    from chalicelib.domain.services import DeploymentService


class GitParts:
    """Push to deploy; the Container provides what is declared here."""

    settings: Settings
    clock: Clock

    if TYPE_CHECKING:  # the Container's own parts

        @property
        def repository(self) -> Repository: ...
        @property
        def projects(self) -> ProjectService: ...
        @property
        def sealer(self) -> Sealer: ...
        @property
        def blobs(self) -> BlobStore: ...
        @property
        def deployments(self) -> DeploymentService: ...
        @property
        def environments(self) -> Environments: ...

    @cached_property
    def git_store(self) -> DynamoGitLinkStore:
        from chalicelib.adapters.git_store import DynamoGitLinkStore

        return DynamoGitLinkStore(self.settings.table_name)

    @cached_property
    def git_links(self) -> GitLinks:
        from chalicelib.domain.git import GitLinks

        # A link to a path on the platform's own disk only where that disk is the developer's.
        allow_local = self.settings.runtime == "local" and self.settings.builder == "local"
        return GitLinks(self.git_store, self.projects, self.sealer, self.clock, allow_local)

    @cached_property
    def git_webhooks(self) -> GitWebhooks:
        from chalicelib.adapters.git_sources import EventBridgeGitEvents
        from chalicelib.domain.git import GitWebhooks

        bus = EventBridgeGitEvents(self.settings.catalogue.event_bus, self.settings.region)
        return GitWebhooks(self.git_store, bus, self.sealer, self.clock)

    @cached_property
    def git_deploys(self) -> GitDeploys:
        from chalicelib.adapters.git_sources import GitSources
        from chalicelib.domain.git_deploys import GitDeploys

        s = self.settings
        sources = GitSources(s.github_api_url, s.max_upload_bytes)
        return GitDeploys(
            self.git_store, sources, self.blobs, s.sources_bucket, self.deployments, self.repository
        )

    @cached_property
    def git_previews(self) -> PullRequestEnvironments:
        from chalicelib.domain.git_previews import PullRequestEnvironments

        return PullRequestEnvironments(self.git_store, self.environments, self.git_deploys, self.repository)
