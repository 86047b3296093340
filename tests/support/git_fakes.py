"""Fakes of the push-to-deploy ports (chalicelib/domain/git.py, git_deploys.py) for domain unit tests:
a link store with conditional delivery claims, a bus that keeps what was put, and commit sources
serving archives from a dict."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.git import GitLink
from chalicelib.domain.git_deploys import SourceUnavailable
from tests.support.tarballs import pack


@dataclass
class FakeGitLinkStore:
    links: dict[str, GitLink] = field(default_factory=dict)
    deliveries: dict[tuple[str, str], int] = field(default_factory=dict)

    def save_link(self, link: GitLink) -> None:
        self.links[link.service_id] = link

    def find_link(self, service_id: str) -> GitLink | None:
        return self.links.get(service_id)

    def claim_delivery(self, service_id: str, delivery_id: str, expires_at: int) -> bool:
        if (service_id, delivery_id) in self.deliveries:
            return False
        self.deliveries[(service_id, delivery_id)] = expires_at
        return True

    def release_delivery(self, service_id: str, delivery_id: str) -> None:
        self.deliveries.pop((service_id, delivery_id), None)


@dataclass
class FakeGitEventBus:
    put_events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    fail: bool = False

    def put(self, detail_type: str, detail: dict[str, Any]) -> None:
        if self.fail:
            raise RuntimeError("the bus is down")
        self.put_events.append((detail_type, detail))


@dataclass
class FakeCommitSources:
    """`commits`: sha -> {path: content}; an unknown sha is SourceUnavailable."""

    commits: dict[str, dict[str, str]] = field(default_factory=dict)
    fetched: list[tuple[str, str, str]] = field(default_factory=list)

    def fetch(self, repo: str, sha: str, root_directory: str) -> bytes:
        self.fetched.append((repo, sha, root_directory))
        if sha not in self.commits:
            raise SourceUnavailable(f"no commit {sha} in {repo}")
        return pack(self.commits[sha])


@dataclass
class FakeEnvironmentStore:
    """domain/environments.py's EnvironmentStore on tests.fakes.InMemoryRepository's items."""

    items: dict[tuple[str, str], Any]

    def delete_service(self, service: Any) -> None:
        self.items.pop(("Service", service.id), None)
        self.items.pop(("vars", service.id), None)

    def delete_environment(self, environment: Any) -> None:
        self.items.pop(("Environment", environment.id), None)
