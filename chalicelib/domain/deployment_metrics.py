"""Per-project deployment metrics, DORA-like: what is kept of each deployment and the figures of a
window (docs/decisions/0039-deployment-metrics.md).

The metrics consumer (functions/metrics.py) keeps one `DeploymentRecord` per deployment: the times
of its events (each event's `metadata.created_at`, when the workflow emitted it) and its end status;
and, for one that went live and later stopped for good, that second end too (`ended_at`,
`ended_status`: CRASHED or COMPLETED, from the live end's own `deployment.completed`). Such a
deployment counts with its last end (a crash after going live is a CRASHED deployment), its deploy
duration is still the workflow's, and both its ends are ends of its service for the time to restore.
`figures` turns the records of a window into what `GET /v1/projects/{id}/metrics` answers:

- deployments and deployments per day (the window's deployments over its days);
- counts by end status (the last one), and how many are still in progress (no end yet);
- success rate: SUCCESS or COMPLETED over the deployments that reached a verdict (SKIPPED and
  CANCELLED reached none; in-progress ones neither);
- build duration: build.started to build.completed;
- deploy duration: build.completed (or, with no build, the deployment's creation) to
  deployment.completed, for deployments that deployed something (not SKIPPED, not a failed build);
- time to restore: per service, from its first FAILED or CRASHED end after a success (or since the
  window's start) to its next successful end. Both ends must be in the window; a crash after going
  live is an end of its own, after its deployment's SUCCESS.

`daily` splits a window into UTC calendar days (by creation; the first and last are partial, days
without a deployment included), with how many of each day's deployments succeeded and failed: the
series the dashboard charts (a chart needs every day, so the client fills no gaps).

Durations are summarised as p50 and p90 (nearest rank) with their sample count; no mean, which one
stuck deployment would drag. Pure: no AWS, no clock (the window's edges are arguments).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.domain.models import DeploymentStatus

DEFAULT_WINDOW_DAYS = 30
MAX_WINDOW_DAYS = 90  # also how long a record is kept (its TTL): the longest window reads it all

# The event a record keeps the time of, by the event's name (chalicelib/domain/events.py).
EVENT_TIMES = {
    "deployment.requested": "requested_at",
    "build.started": "build_started_at",
    "build.completed": "build_completed_at",
    "deployment.completed": "completed_at",
}
# Where a live release's end is kept (its `deployment.completed` from LIVE_END_SOURCE): its time and status.
LIVE_END_FIELDS = ("ended_at", "ended_status")

S = DeploymentStatus
SUCCESSFUL = frozenset({S.SUCCESS, S.COMPLETED})
BROKEN = frozenset({S.FAILED, S.CRASHED})
# Neither success nor failure, and nothing of them went live: not in the rate, no deploy duration.
NO_VERDICT = frozenset({S.SKIPPED, S.CANCELLED})


@dataclass(frozen=True)
class DeploymentRecord:
    """What the metrics keep of one deployment (ISO-8601 UTC times; None: that event not seen)."""

    deployment_id: str
    project_id: str
    environment_id: str
    service_id: str
    created_at: str
    requested_at: str | None = None
    build_started_at: str | None = None
    build_completed_at: str | None = None
    completed_at: str | None = None
    status: str | None = None  # its end status, from the workflow's deployment.completed
    ended_at: str | None = None  # when its live release stopped for good (after SUCCESS)
    ended_status: str | None = None  # how: CRASHED or COMPLETED

    @property
    def last_status(self) -> str | None:
        """Its end status as the deployment list shows it now: a live end wins over SUCCESS."""
        return self.ended_status or self.status

    def ends(self) -> list[tuple[str, str]]:
        """(time, status) of each end it had, oldest first: the workflow's, then a live release's."""
        found = [(self.completed_at, self.status), (self.ended_at, self.ended_status)]
        return [(at, status) for at, status in found if at and status]


@dataclass(frozen=True)
class Spread:
    """Durations in seconds: how many, the median and the 90th percentile (None when no sample)."""

    count: int = 0
    p50: float | None = None
    p90: float | None = None

    @classmethod
    def of(cls, samples: Iterable[float]) -> Spread:
        ordered = sorted(samples)
        if not ordered:
            return cls()
        return cls(len(ordered), _rank(ordered, 50), _rank(ordered, 90))


@dataclass(frozen=True)
class Figures:
    deployments: int
    per_day: float
    by_status: dict[str, int]
    in_progress: int
    success_rate: float | None  # 0..1; None: no deployment reached a verdict
    build_duration: Spread
    deploy_duration: Spread
    time_to_restore: Spread
    restores_pending: int = 0  # services whose last end in the window is a failure
    days: int = DEFAULT_WINDOW_DAYS


def figures(records: Sequence[DeploymentRecord], days: int) -> Figures:
    """The figures of the deployments of a window of `days` days."""
    by_status = Counter(r.last_status for r in records if r.last_status)
    verdicts = [r for r in records if r.last_status and r.last_status not in NO_VERDICT]
    succeeded = sum(1 for r in verdicts if r.last_status in SUCCESSFUL)
    restores, pending = _restores(records)
    return Figures(
        deployments=len(records),
        per_day=round(len(records) / days, 3),
        by_status=dict(sorted(by_status.items())),
        in_progress=sum(1 for r in records if not r.last_status),
        success_rate=round(succeeded / len(verdicts), 4) if verdicts else None,
        build_duration=Spread.of(_durations(records, _build_span)),
        deploy_duration=Spread.of(_durations(records, _deploy_span)),
        time_to_restore=Spread.of(restores),
        restores_pending=pending,
        days=days,
    )


@dataclass(frozen=True)
class Day:
    date: str  # YYYY-MM-DD, UTC
    deployments: int = 0
    succeeded: int = 0  # SUCCESS or COMPLETED
    failed: int = 0  # FAILED or CRASHED (the rest: in progress, skipped or cancelled)


def daily(records: Iterable[DeploymentRecord], since: str, until: str) -> tuple[Day, ...]:
    """One Day per UTC date from `since`'s to `until`'s, both included, by deployment creation."""
    first, last = _time(since).date(), _time(until).date()
    counts: dict[str, Counter[str]] = {}
    for r in records:
        tally = counts.setdefault(_time(r.created_at).date().isoformat(), Counter())
        tally["deployments"] += 1
        tally["succeeded"] += r.status in SUCCESSFUL
        tally["failed"] += r.status in BROKEN
    dates = [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]
    return tuple(Day(d, **counts.get(d, Counter())) for d in dates)


Span = tuple[str, str] | None  # a duration's start and end times; None: it has none


def _build_span(r: DeploymentRecord) -> Span:
    if r.build_started_at and r.build_completed_at:
        return r.build_started_at, r.build_completed_at
    return None


def _deploy_span(r: DeploymentRecord) -> Span:
    if not r.completed_at or r.status in NO_VERDICT:
        return None
    if r.build_started_at and not r.build_completed_at:
        return None  # the build failed: nothing was deployed
    return r.build_completed_at or r.created_at, r.completed_at


def _durations(records: Iterable[DeploymentRecord], span: Callable[[DeploymentRecord], Span]) -> list[float]:
    spans = [span(r) for r in records]
    return [max(0.0, _seconds(start, end)) for start, end in (s for s in spans if s)]


def _restores(records: Iterable[DeploymentRecord]) -> tuple[list[float], int]:
    """Each service's ends in time order: a failure starts an outage (the first one counts), the
    next success ends it. Also how many services are still in one at the window's end."""
    ends: dict[str, list[tuple[str, str]]] = {}
    for r in records:
        for at, status in r.ends():
            if status in SUCCESSFUL | BROKEN:
                ends.setdefault(r.service_id, []).append((at, status))
    restores: list[float] = []
    pending = 0
    for service_ends in ends.values():
        broken_since: str | None = None
        for at, status in sorted(service_ends):
            if status in BROKEN:
                broken_since = broken_since or at
            elif broken_since is not None:
                restores.append(max(0.0, _seconds(broken_since, at)))
                broken_since = None
        pending += broken_since is not None
    return restores, pending


def _rank(ordered: Sequence[float], percentile: int) -> float:
    """The nearest-rank percentile of sorted samples."""
    return round(ordered[max(0, math.ceil(percentile / 100 * len(ordered)) - 1)], 3)


def _seconds(start: str, end: str) -> float:
    return (_time(end) - _time(start)).total_seconds()


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
