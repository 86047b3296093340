"""Faults: the workers die (every poller of the build and deploy queues) while the emulator, the
table and the buckets stay up, then come back.

Runs the real deploy state machine on the moto fixture with the real task worker behind local
pollers (tests/support/workflow.py); the build runner and runtime are fakes, since no worker runs
them here. The steps' limits are shrunk (a 1 s heartbeat, a 1 s MarkFailed timeout) so the bound
that takes ~7 minutes with the real limits (docs/reliability.md) takes seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from chalicelib.adapters.aws import client
from chalicelib.domain.models import DeploymentStatus
from tests.support.workflow import Platform, ShortenedLimits, platforms

pytestmark = [pytest.mark.faults, pytest.mark.timeout(120)]


@pytest.fixture
def platform(aws: int) -> Iterator[Callable[..., Platform]]:
    with platforms() as make:
        yield make


def test_with_the_workers_killed_a_deployment_ends_failed_naming_the_step_and_nothing_else_is_lost(
    platform: Callable[..., Platform],
) -> None:
    # GIVEN a live deployment
    limits = ShortenedLimits(prepare_timeout_seconds=1, mark_failed_timeout_seconds=1)
    p = platform(limits=limits)
    live = p.deploy()
    assert p.wait(live)["status"] == "SUCCEEDED"

    # WHEN every worker dies and a deployment is made meanwhile, with the short limits
    p.stop_workers()
    started = time.monotonic()
    limits.short = True
    orphan = p.deploy()
    limits.short = False
    execution = p.wait(orphan)
    assert execution["status"] == "FAILED"
    assert execution["entered"][-3:] == ["Prepare", "MarkFailed", "EndNotRecorded"]
    ended = p.container.sweeper.sweep()  # what the local platform runs every 30 s
    bound = time.monotonic() - started
    print(f"\n[faults] workers down: the deployment ended FAILED {bound:.1f}s after it was made (1 s limits)")

    # THEN it ends FAILED naming the step and the limit, and what was live is untouched
    assert [d.id for d in ended] == [orphan]
    repo = p.container.repository
    assert repo.get_deployment(orphan).status == DeploymentStatus.FAILED
    assert repo.get_deployment(orphan).reason == (
        "Prepare step timed out after 1 s: no worker looked for the source upload"
    )
    assert repo.get_deployment(live).status == DeploymentStatus.SUCCESS
    assert repo.get_service(p.service.id).active_deployment_id == live
    assert [spec.deployment_id for spec in p.runtime.activated] == [live]

    # WHEN the workers come back, the dead steps' messages (Prepare, MarkFailed) are still queued
    assert _queued(p, "deploy") == 2
    p.start_workers()

    # THEN they drop it without touching the ended deployment, and take new work
    after = p.deploy()
    assert p.wait(after)["status"] == "SUCCEEDED"
    assert repo.get_deployment(orphan).status == DeploymentStatus.FAILED
    assert repo.get_service(p.service.id).active_deployment_id == after
    assert [spec.deployment_id for spec in p.runtime.activated] == [live, after]
    deadline = time.monotonic() + 10
    while _queued(p, "deploy"):
        assert time.monotonic() < deadline, "the dead step's message was never dropped"
        time.sleep(0.2)


def _queued(p: Platform, queue: str) -> int:
    attributes = client("sqs").get_queue_attributes(
        QueueUrl=p.resources.queue_urls[queue],
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )
