"""`railyard metrics`' table cells (railyard/commands/metrics.py): what a person reads of an answer
of GET /v1/projects/{id}/metrics."""

from __future__ import annotations

from typing import Any

from railyard.commands.metrics import _duration, _row


def _figures(**changes: Any) -> dict[str, Any]:
    none = {"count": 0, "p50Seconds": None, "p90Seconds": None}
    figures = {
        "deployments": 3,
        "deploymentsPerDay": 0.1,
        "byStatus": {"FAILED": 1, "SUCCESS": 2},
        "successRate": 0.6667,
        "buildDuration": {"count": 3, "p50Seconds": 42.25, "p90Seconds": 65.0},
        "deployDuration": {"count": 3, "p50Seconds": 7.0, "p90Seconds": 3725.0},
        "timeToRestore": none,
    }
    return {**figures, **changes}


def test_a_row_shows_the_rate_as_a_percentage_and_durations_as_p50_over_p90() -> None:
    assert _row(_figures()) == ("3", "0.1", "67%", "42.2s / 1m05s", "7.0s / 1h02m", "-")


def test_no_verdict_is_a_dash_not_zero_percent() -> None:
    assert _row(_figures(successRate=None))[2] == "-"


def test_durations_read_in_seconds_minutes_or_hours() -> None:
    assert [_duration(s) for s in (0.4, 59.9, 60, 61.6, 3599, 3600, 7325)] == [
        "0.4s",
        "59.9s",
        "1m00s",
        "1m02s",
        "59m59s",
        "1h00m",
        "2h02m",
    ]
