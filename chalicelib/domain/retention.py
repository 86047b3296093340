"""Retention: what a service keeps after each deployment, and removing the rest (docs/decisions/0008).

The cleanup worker (functions/cleanup.py) runs `Retention.after_deployment` for every completed
deployment. For that deployment's service it
- keeps the newest `keep_releases` releases for rollback, the active release and every release a
  deployment in progress uses;
- prunes every other release: marks it first (`Release.pruned_at`/`pruned_reason`, a conditional
  write, so a rollback is refused from then on), then deletes its artifact's objects, unless a kept
  release or a deployment in progress shares the artifact (a redeploy reuses its release's), and has
  the runtime forget it (the local runtime's unpacked directory);
- deletes the logs of deployments that ended more than `log_retention` ago, except those of
  deployments in progress, of the active deployment and of the kept releases.

Idempotent, because SQS delivers at least once: a pruned release is not marked again, deleting what
is already gone succeeds, and releases pruned less than RESWEEP ago are swept again, so a run that
died between marking and deleting is finished by the redelivered message. History is read newest
first and the read stops after STOP_AFTER releases pruned before that (and LOGS_STOP_AFTER old
deployments whose logs were already gone), so a run costs what recent history costs, not all of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from chalicelib.domain.errors import Conflict, ReleasePruned
from chalicelib.domain.ids import Clock, iso
from chalicelib.domain.models import Deployment, Release
from chalicelib.domain.ports import BlobStore, LogStore, Repository, Runtime

# A run that died after marking releases is finished by SQS's redelivery within minutes (visibility
# timeout x receives); an hour leaves room for a slow queue.
RESWEEP = timedelta(hours=1)
STOP_AFTER = 10  # releases pruned before RESWEEP, in a row, that end the read of the history
# Old deployments in a row whose logs were already gone that end the read: each costs a listing of
# the logs bucket, and runs delete at the boundary, so a short run of settled ones is enough.
LOGS_STOP_AFTER = 3
FIRST_PAGE = 50  # deployments read by the first query (for their logs); each further one reads 4x

T = TypeVar("T")


@dataclass(frozen=True)
class RetentionPolicy:
    keep_releases: int = 10
    log_retention: timedelta = timedelta(days=30)

    @property
    def reason(self) -> str:
        """What a pruned release says about itself (in `release v3 was <reason>`)."""
        return f"pruned by retention (keep {self.keep_releases})"


@dataclass(frozen=True)
class CleanupReport:
    """What one run did, for the worker's log line."""

    service_id: str
    kept: tuple[int, ...]  # release numbers kept, newest first
    pruned: tuple[int, ...]  # release numbers this run marked pruned
    swept: tuple[int, ...]  # release numbers whose artifact and directory were removed (again)
    artifacts_deleted: int  # distinct artifacts whose objects were deleted
    logs_deleted: tuple[str, ...]  # deployments whose log objects were deleted


def ensure_not_pruned(release: Release) -> None:
    """Raises ReleasePruned when retention removed the release's artifact: deploying it cannot work."""
    if release.pruned:
        raise ReleasePruned(f"release v{release.number} was {release.pruned_reason or 'pruned'}")


class Retention:
    def __init__(
        self,
        repo: Repository,
        blobs: BlobStore,
        logs: LogStore,
        runtime: Runtime,
        artifacts_bucket: str,
        policy: RetentionPolicy,
        clock: Clock,
        artifact_objects: Callable[[str], list[str]] | None = None,  # the build runner's, if it has it
    ) -> None:
        self._repo = repo
        self._blobs = blobs
        self._logs = logs
        self._runtime = runtime
        self._bucket = artifacts_bucket
        self._policy = policy
        self._clock = clock
        self._artifact_objects = artifact_objects or (lambda key: [key])

    def after_deployment(self, deployment_id: str) -> CleanupReport:
        """Applies retention to the service of a deployment that just ended."""
        return self.clean_service(self._repo.get_deployment(deployment_id).service_id)

    def clean_service(self, service_id: str) -> CleanupReport:
        now = self._clock()
        recently = iso(now - RESWEEP)
        releases = self._history(service_id, recently)
        keep = self._keep(service_id, releases)
        oldest_first = list(reversed(releases))
        swept = {r.id: r for r in oldest_first if r.pruned_at is not None and r.pruned_at >= recently}
        pruned: list[Release] = []  # by this run
        for release in oldest_first:
            if release.id not in keep.releases and not release.pruned:
                marked, by_us = self._mark(release, iso(now))
                swept[marked.id] = marked
                pruned += [marked] if by_us else []
        if pruned:
            # A rollback or a promotion may have come while we marked: what is live or in use now is
            # spared too (a later run sweeps it once it is neither; the pipeline refuses it).
            keep = keep.also(self._keep(service_id, releases))
        to_sweep = [r for r in swept.values() if r.id not in keep.releases]
        deleted = self._sweep(to_sweep, keep.artifacts)
        logs_deleted = self._expire_logs(service_id, keep, iso(now - self._policy.log_retention))
        return CleanupReport(
            service_id=service_id,
            kept=tuple(r.number for r in releases if r.id in keep.releases),
            pruned=tuple(r.number for r in pruned),
            swept=tuple(r.number for r in to_sweep),
            artifacts_deleted=deleted,
            logs_deleted=logs_deleted,
        )

    # --- releases --------------------------------------------------------------------------------

    def _history(self, service_id: str, settled_before: str) -> list[Release]:
        """The service's releases newest first, down to STOP_AFTER in a row that were pruned before
        `settled_before` (everything older was settled by earlier runs)."""
        found: list[Release] = []
        streak = 0
        keep = self._policy.keep_releases
        pages = _newest_first(lambda n: self._repo.list_releases(service_id, limit=n), keep + STOP_AFTER + 1)
        for release in _distinct(pages, lambda r: r.id):
            found.append(release)
            settled = release.pruned_at is not None and release.pruned_at < settled_before
            streak = streak + 1 if settled and len(found) > keep else 0
            if streak >= STOP_AFTER:
                break
        return found

    def _keep(self, service_id: str, releases: list[Release]) -> _Kept:
        """The newest releases, the live one, and what deployments in progress use."""
        service = self._repo.get_service(service_id)
        running = [d for d in self._repo.list_unfinished_deployments() if d.service_id == service_id]
        ids = {r.id for r in releases[: self._policy.keep_releases]}
        ids |= {i for i in (service.active_release_id, *(d.release_id for d in running)) if i}
        artifacts = {r.artifact_key for r in releases if r.id in ids}
        artifacts |= {d.artifact_key for d in running if d.artifact_key}
        deployments = {i for i in (service.active_deployment_id, *(d.id for d in running)) if i}
        return _Kept(frozenset(ids), frozenset(artifacts), frozenset(deployments))

    def _sweep(self, releases: list[Release], kept_artifacts: frozenset[str]) -> int:
        """Deletes the releases' artifacts that nothing kept shares and has the runtime forget them;
        returns how many artifacts went."""
        deleted: set[str] = set()
        for release in releases:
            if release.artifact_key not in kept_artifacts | deleted:
                self._blobs.delete_keys(self._bucket, self._artifact_objects(release.artifact_key))
                deleted.add(release.artifact_key)
            self._runtime.forget_release(release.id)
        return len(deleted)

    def _mark(self, release: Release, at: str) -> tuple[Release, bool]:
        """The release marked pruned, and whether this run marked it."""
        try:
            marked = release.bumped(pruned_at=at, pruned_reason=self._policy.reason)
            self._repo.save(marked)
            return marked, True
        except Conflict:
            # Only retention changes a release after it was made: a concurrent run marked it first.
            stored = self._repo.get_release(release.id)
            if not stored.pruned:
                raise
            return stored, False

    # --- logs ------------------------------------------------------------------------------------

    def _expire_logs(self, service_id: str, keep: _Kept, cutoff: str) -> tuple[str, ...]:
        """Deletes the logs of the service's deployments that ended before `cutoff`, except the
        live one's, those in progress and those of kept releases. Newest first, down to
        LOGS_STOP_AFTER old deployments in a row whose logs were already gone."""
        deleted: list[str] = []
        streak = 0
        pages = _newest_first(lambda n: self._repo.list_deployments(service_id, limit=n), FIRST_PAGE)
        for deployment in _distinct(pages, lambda d: d.id):
            if deployment.updated_at >= cutoff or deployment.in_progress or keep.has_logs_of(deployment):
                continue
            if self._logs.delete(deployment.id):
                deleted.append(deployment.id)
                streak = 0
            else:
                streak += 1
                if streak >= LOGS_STOP_AFTER:
                    break
        return tuple(deleted)


@dataclass(frozen=True)
class _Kept:
    releases: frozenset[str]
    artifacts: frozenset[str]  # of kept releases and of deployments in progress
    deployments: frozenset[str]  # the live one and those in progress

    def also(self, other: _Kept) -> _Kept:
        return _Kept(
            self.releases | other.releases,
            self.artifacts | other.artifacts,
            self.deployments | other.deployments,
        )

    def has_logs_of(self, deployment: Deployment) -> bool:
        return deployment.id in self.deployments or deployment.release_id in self.releases


def _newest_first(fetch: Callable[[int], list[T]], first: int) -> Iterator[T]:
    """Every item of a newest-first list that the port can only cut at a limit: each further query
    reads 4x as many and yields what the previous did not reach. Items inserted meanwhile only
    shift the list down, so some come twice (see `_distinct`), none is skipped."""
    limit, reached = max(1, first), 0
    while True:
        page = fetch(limit)
        yield from page[reached:]
        if len(page) < limit:
            return
        limit, reached = limit * 4, len(page)


def _distinct(items: Iterator[T], key: Callable[[T], str]) -> Iterator[T]:
    seen: set[str] = set()
    for item in items:
        if key(item) not in seen:
            seen.add(key(item))
            yield item
