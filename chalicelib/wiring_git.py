"""The composition root's push-to-deploy parts (docs/decisions/0035): Git links, the webhook
intake and the git-events worker, built on first use like the rest of chalicelib/wiring.py's
Container, which inherits them."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from chalicelib.wiring_core import CoreParts

if TYPE_CHECKING:
    from chalicelib.adapters.git_store import DynamoGitLinkStore
    from chalicelib.domain.git import GitLinks, GitWebhooks
    from chalicelib.domain.git_deploys import GitDeploys
    from chalicelib.domain.git_previews import PullRequestEnvironments


class GitParts(CoreParts):
    """Push to deploy; the Container provides what is declared here."""

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
