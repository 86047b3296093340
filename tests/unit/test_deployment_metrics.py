"""The figures of a window (chalicelib/domain/deployment_metrics.py) on fixed deployment records:
counts, rate, duration percentiles and time to restore, as `railyard metrics` shows them."""

from __future__ import annotations

import dataclasses

from chalicelib.domain.deployment_metrics import Day, DeploymentRecord, Spread, daily, figures


def _at(minute: int, second: int = 0) -> str:
    return f"2026-12-03T10:{minute:02d}:{second:02d}.000Z"


def _deployment(
    n: int,
    status: str | None,
    created: int,
    *,
    service: str = "svc_a",
    build: tuple[int, int] | None = None,  # build.started, build.completed minutes
    completed: int | None = None,
) -> DeploymentRecord:
    return DeploymentRecord(
        deployment_id=f"dep_{n}",
        project_id="prj_1",
        environment_id="env_1",
        service_id=service,
        created_at=_at(created),
        build_started_at=_at(build[0]) if build else None,
        build_completed_at=_at(build[1]) if build and build[1] >= 0 else None,
        completed_at=_at(completed) if completed is not None else None,
        status=status,
    )


def test_an_empty_window_has_no_rate_no_durations_and_no_restores() -> None:
    empty = figures([], 30)
    assert (empty.deployments, empty.per_day, empty.in_progress, empty.by_status) == (0, 0.0, 0, {})
    assert empty.success_rate is None  # not 0%: nothing was tried
    assert empty.build_duration == empty.deploy_duration == empty.time_to_restore == Spread()
    assert empty.restores_pending == 0


def test_success_then_failure_then_fix_gives_two_thirds_and_the_outage_as_time_to_restore() -> None:
    # GIVEN a success, a deployment whose build passed but rollout failed, and a fix 7 minutes later
    records = [
        _deployment(1, "SUCCESS", 0, build=(0, 2), completed=3),
        _deployment(2, "FAILED", 10, build=(10, 11), completed=15),
        _deployment(3, "SUCCESS", 20, build=(20, 21), completed=22),
    ]

    result = figures(records, 3)

    assert result.deployments == 3 and result.per_day == 1.0
    assert result.by_status == {"FAILED": 1, "SUCCESS": 2}
    assert result.success_rate == 0.6667
    # Builds of 120, 60, 60 s; deploys of 60, 240, 60 s (from build.completed to the end).
    assert result.build_duration == Spread(3, 60.0, 120.0)
    assert result.deploy_duration == Spread(3, 60.0, 240.0)
    # From the failed end (10:15) to the next success's end (10:22).
    assert result.time_to_restore == Spread(1, 420.0, 420.0)
    assert result.restores_pending == 0


def test_time_to_restore_starts_at_the_first_failure_and_is_per_service() -> None:
    records = [
        _deployment(1, "FAILED", 0, completed=1),  # no build: a redeploy that failed at 10:01
        _deployment(2, "CRASHED", 2, completed=3),  # still broken: the outage began at 10:01
        _deployment(3, "SUCCESS", 0, service="svc_b", completed=4),  # another service: no outage
        _deployment(4, "SUCCESS", 5, completed=11),  # restored 10 minutes after 10:01
        _deployment(5, "FAILED", 12, service="svc_b", completed=13),  # svc_b broken at the window's end
    ]

    result = figures(records, 30)

    assert result.time_to_restore == Spread(1, 600.0, 600.0)
    assert result.restores_pending == 1
    # No build: the deploy duration runs from the deployment's creation to its end.
    assert result.deploy_duration.count == 5 and result.deploy_duration.p90 == 360.0


def test_skipped_cancelled_and_unfinished_deployments_count_but_reach_no_verdict() -> None:
    records = [
        _deployment(1, "SKIPPED", 0, completed=1),
        _deployment(2, "CANCELLED", 2, build=(2, -1), completed=3),
        _deployment(3, None, 4, build=(4, -1)),  # building now
        _deployment(4, "FAILED", 5, build=(5, -1), completed=6),  # the build failed
        _deployment(5, "COMPLETED", 7, completed=8),  # a job that ran to its end
    ]

    result = figures(records, 10)

    assert result.deployments == 5 and result.per_day == 0.5 and result.in_progress == 1
    assert result.success_rate == 0.5  # COMPLETED of (FAILED, COMPLETED)
    assert result.build_duration == Spread()  # no build finished
    # Only the job deployed something: a failed build, a skip and a cancel deployed nothing.
    assert result.deploy_duration == Spread(1, 60.0, 60.0)


def test_a_crash_after_going_live_counts_crashed_and_starts_an_outage_at_the_crash() -> None:
    # GIVEN a deployment live at 10:03 that crashed at 10:10, and the fix live at 10:17
    crashed = dataclasses.replace(
        _deployment(1, "SUCCESS", 0, build=(0, 2), completed=3), ended_at=_at(10), ended_status="CRASHED"
    )
    records = [crashed, _deployment(2, "SUCCESS", 15, completed=17)]

    result = figures(records, 1)

    # THEN the deployment reads as the deployment list shows it: CRASHED, a failure
    assert result.by_status == {"CRASHED": 1, "SUCCESS": 1} and result.success_rate == 0.5
    # AND the outage runs from the crash to the fix; the crashed deployment's rollout still took 60 s
    assert result.time_to_restore == Spread(1, 420.0, 420.0) and result.restores_pending == 0
    assert result.deploy_duration == Spread(2, 60.0, 120.0)
    # AND a job that ran to its end after going live is no outage; a crash known before its SUCCESS
    # event (the queue reordered them) still counts, and is not in progress
    job = dataclasses.replace(
        _deployment(3, "SUCCESS", 20, completed=21), ended_at=_at(22), ended_status="COMPLETED"
    )
    early = DeploymentRecord(
        "dep_4", "prj_1", "env_1", "svc_c", _at(23), ended_at=_at(25), ended_status="CRASHED"
    )
    later = figures([*records, job, early], 1)
    assert later.by_status == {"COMPLETED": 1, "CRASHED": 2, "SUCCESS": 1} and later.in_progress == 0
    assert later.restores_pending == 1  # svc_c: crashed, not fixed


def test_percentiles_are_nearest_rank() -> None:
    assert Spread.of([5.0, 1.0, 3.0, 2.0, 4.0, 10.0, 6.0, 7.0, 8.0, 9.0]) == Spread(10, 5.0, 9.0)
    assert Spread.of([7.5]) == Spread(1, 7.5, 7.5)


def test_the_daily_series_has_every_date_of_the_window_with_successes_and_failures() -> None:
    records = [
        _deployment(1, "SUCCESS", 0, completed=3),
        _deployment(2, "CRASHED", 10, completed=15),
        _deployment(3, None, 20),  # still running: counted, neither succeeded nor failed
    ]

    days = daily(records, "2026-12-01T11:00:00.000Z", "2026-12-04T10:59:00.000Z")

    assert days == (
        Day("2026-12-01"),
        Day("2026-12-02"),
        Day("2026-12-03", deployments=3, succeeded=1, failed=1),
        Day("2026-12-04"),
    )
