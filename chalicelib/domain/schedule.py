"""Cron schedules for cron services (Railway's deploy.cronSchedule): validation and the next run.

Railway reads a five-field crontab in UTC. cronsim (pure Python, no I/O) does the parsing; this
module owns what Railyard accepts and the error text users see."""

from __future__ import annotations

from datetime import UTC, datetime

MIN_INTERVAL_SECONDS = 60  # crontab granularity; runs closer than this are not expressible


def cron_problem(expression: str) -> str | None:
    """Why `expression` is not a usable schedule, or None when it is."""
    from cronsim import CronSim, CronSimError

    if len(expression.split()) != 5:
        return "expected five fields: minute hour day-of-month month day-of-week (UTC)"
    try:
        next(CronSim(expression, datetime(2026, 1, 1, tzinfo=UTC)))
    except CronSimError as exc:
        return str(exc)
    except StopIteration:
        return "it never runs"
    return None


def next_run(expression: str, after: datetime) -> datetime:
    """The first run strictly after `after` (aware, UTC)."""
    from cronsim import CronSim

    return next(CronSim(expression, after.astimezone(UTC)))
