"""Reading CodeBuild's "Build State Change" events (chalicelib/adapters/builds/codebuild.py): which
deployment and build an event is about, how it ended, and what a user reads when a build failed.
Pure functions of the event: no AWS needed."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.adapters.builds.codebuild import build_outcome, build_state_change, event_deployment_id

ACCOUNT = "123456789012"
PROJECT = "railyard-test-builds"

# -- build_outcome --------------------------------------------------------------------------------


def _event(status: str, build_id: str | None = None) -> dict[str, Any]:
    """The shape of a real "CodeBuild Build State Change" event (trimmed)."""
    return {
        "version": "0",
        "id": "bfdc1220-60ff-44f2-b3b5-8e1e2a4f6d1c",
        "detail-type": "CodeBuild Build State Change",
        "source": "aws.codebuild",
        "account": ACCOUNT,
        "time": "2026-11-22T10:00:00Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:codebuild:us-east-1:{ACCOUNT}:build/{PROJECT}:8d1c"],
        "detail": {
            "build-status": status,
            "project-name": PROJECT,
            "build-id": build_id or f"arn:aws:codebuild:us-east-1:{ACCOUNT}:build/{PROJECT}:8d1c",
            "additional-information": {
                "environment": {
                    "image": "aws/codebuild/standard:7.0",
                    "environment-variables": [
                        {"name": "RAILYARD_DEPLOYMENT_ID", "value": "dep_01", "type": "PLAINTEXT"}
                    ],
                },
                "build-complete": status != "IN_PROGRESS",
            },
            "current-phase": "COMPLETED",
            "version": "1",
        },
    }


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("SUCCEEDED", "SUCCEEDED"),
        ("FAILED", "FAILED"),
        ("STOPPED", "STOPPED"),
        ("IN_PROGRESS", "IN_PROGRESS"),
        ("TIMED_OUT", "FAILED"),
        ("FAULT", "FAILED"),
    ],
)
def test_build_outcome_reads_the_state_change_event(status: str, expected: str) -> None:
    # The id comes back in start()'s form, not the event's ARN.
    assert build_outcome(_event(status)) == (f"{PROJECT}:8d1c", expected)


def test_build_outcome_keeps_a_plain_build_id() -> None:
    assert build_outcome(_event("SUCCEEDED", build_id=f"{PROJECT}:8d1c")) == (f"{PROJECT}:8d1c", "SUCCEEDED")


@pytest.mark.parametrize(
    "event",
    [
        {"source": "aws.codebuild", "detail-type": "CodeBuild Build Phase Change", "detail": {}},
        {"source": "aws.s3", "detail-type": "CodeBuild Build State Change", "detail": {}},
        {"source": "aws.codebuild", "detail-type": "CodeBuild Build State Change"},
        {
            "source": "aws.codebuild",
            "detail-type": "CodeBuild Build State Change",
            "detail": {"build-id": "p:1"},
        },
        _event("SOMETHING_NEW"),
    ],
)
def test_build_outcome_refuses_other_events(event: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        build_outcome(event)


def test_event_deployment_id() -> None:
    assert event_deployment_id(_event("SUCCEEDED")) == "dep_01"
    assert event_deployment_id({"detail": {}}) is None


# -- build_state_change ----------------------------------------------------------------------------


def _failed_event(status: str = "FAILED") -> dict[str, Any]:
    event = _event(status)
    event["detail"]["additional-information"].update(
        {
            "logs": {
                "group-name": f"/aws/codebuild/{PROJECT}",
                "stream-name": "8d1c",
                "deep-link": "https://console.aws.amazon.com/cloudwatch/home?region=us-east-1#logEvent:x",
            },
            "phases": [
                {"phase-type": "SUBMITTED", "phase-status": "SUCCEEDED", "phase-context": []},
                {"phase-type": "INSTALL", "phase-status": "SUCCEEDED", "phase-context": [": "]},
                {
                    "phase-type": "BUILD",
                    "phase-status": status,
                    "phase-context": [
                        "COMMAND_EXECUTION_ERROR: Error while executing command: npm run build. "
                        "Reason: exit status 2"
                    ],
                },
                {"phase-type": "FINALIZING", "phase-status": "SUCCEEDED", "phase-context": [": "]},
                {"phase-type": "COMPLETED"},
            ],
        }
    )
    return event


def test_build_state_change_says_which_phase_failed_why_and_where_the_log_is() -> None:
    change = build_state_change(_failed_event())
    assert change.build_id == f"{PROJECT}:8d1c"
    assert (change.status, change.reported_status) == ("FAILED", "FAILED")
    assert change.phase == "BUILD (FAILED)"
    assert change.context == (
        "COMMAND_EXECUTION_ERROR: Error while executing command: npm run build. Reason: exit status 2"
    )
    assert change.logs == "https://console.aws.amazon.com/cloudwatch/home?region=us-east-1#logEvent:x"


def test_build_state_change_keeps_the_reported_status_of_a_timeout() -> None:
    change = build_state_change(_failed_event("TIMED_OUT"))
    assert (change.status, change.reported_status, change.phase) == (
        "FAILED",
        "TIMED_OUT",
        "BUILD (TIMED_OUT)",
    )


def test_build_state_change_of_a_success_points_at_the_build_page_without_a_log_link() -> None:
    change = build_state_change(_event("SUCCEEDED"))
    assert (change.status, change.phase, change.context) == ("SUCCEEDED", "COMPLETED", "")
    assert change.logs == (
        f"https://us-east-1.console.aws.amazon.com/codesuite/codebuild/{ACCOUNT}/projects/{PROJECT}"
        f"/build/{PROJECT}%3A8d1c/?region=us-east-1"
    )


def test_build_state_change_refuses_other_events() -> None:
    with pytest.raises(ValueError):
        build_state_change({"source": "aws.s3", "detail-type": "Object Created", "detail": {}})
