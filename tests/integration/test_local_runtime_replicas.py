"""LocalRuntime with deploy.numReplicas > 1: real processes, real HTTP through the router.

Reuses the app and helpers of test_local_runtime.py; the app answers its pid and replica ids.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from chalicelib.adapters.runtime.local import LocalRuntime
from chalicelib.domain.errors import HealthCheckFailed
from chalicelib.domain.ports import ReleaseSpec
from tests.fakes import FakeBlobStore
from tests.support.local_runtime_app import (
    HOST,
    CrashRecorder,
    MemoryLog,
    alive,
    answer,
    eventually,
    never_cancelled,
    release,
    request,
    with_settings,
)

pytestmark = pytest.mark.timeout(30)


def replicated(blobs: FakeBlobStore, release_id: str, count: int, unhealthy_replica: str = "") -> ReleaseSpec:
    spec = release(blobs, release_id, UNHEALTHY_REPLICA=unhealthy_replica)
    return with_settings(spec, num_replicas=count)


def pids_through_router(runtime: LocalRuntime, requests: int) -> list[int]:
    return [answer(runtime)["pid"] for _ in range(requests)]


def started_pids(log: MemoryLog, release_id: str) -> list[int]:
    prefix = f"started release {release_id} replica "
    return [int(line.split("(pid ")[1].split(",")[0]) for line in log.lines if line.startswith(prefix)]


def test_three_replicas_share_the_traffic_round_robin(runtime: LocalRuntime, blobs: FakeBlobStore) -> None:
    # GIVEN a release with three replicas
    log = MemoryLog()

    # WHEN it is activated
    runtime.activate(replicated(blobs, "rel_1", 3), log, never_cancelled)

    # THEN three processes were started and checked, and the router spreads requests evenly
    pids = started_pids(log, "rel_1")
    assert len(set(pids)) == 3
    answers = [answer(runtime) for _ in range(6)]
    assert sorted(a["pid"] for a in answers) == sorted(pids * 2)  # round robin: each exactly twice
    assert {a["env"]["RAILYARD_REPLICA_ID"] for a in answers} == {"1", "2", "3"}
    assert {a["env"]["RAILWAY_REPLICA_ID"] for a in answers} == {"rel_1-1", "rel_1-2", "rel_1-3"}
    assert len({a["env"]["PORT"] for a in answers}) == 3
    text = log.text()
    assert "starting 3 replicas: " in text
    assert "healthcheck: waiting for 200 on /health from 3 replicas (timeout 5s)" in text
    assert f"traffic for {HOST} now goes to release rel_1 (3 replicas, round robin)" in text


def test_a_killed_replica_is_restarted_while_the_others_keep_serving(
    runtime: LocalRuntime, blobs: FakeBlobStore, crashes: CrashRecorder
) -> None:
    # GIVEN three replicas serving
    log = MemoryLog()
    runtime.activate(replicated(blobs, "rel_1", 3), log, never_cancelled)
    victim, *others = started_pids(log, "rel_1")

    # WHEN one of them is killed
    os.kill(victim, signal.SIGKILL)
    eventually(lambda: not alive(victim))

    # THEN every request still succeeds, on the other replicas until the victim is back
    for _ in range(30):
        assert answer(runtime)["pid"] != victim
    eventually(lambda: "traffic restored" in log.text())
    assert "replica 1/3: process was killed by SIGKILL; restarting (attempt 1/2)" in log.text()
    assert "replica 1/3: healthcheck: passed after" in log.text()
    serving = set(pids_through_router(runtime, 6))
    assert len(serving) == 3 and victim not in serving and set(others) <= serving
    assert crashes.calls == []


def test_every_replica_must_pass_the_health_check_before_the_switch(
    runtime: LocalRuntime, blobs: FakeBlobStore
) -> None:
    # GIVEN rel_1 serving, and rel_2 whose second replica never becomes healthy
    runtime.activate(release(blobs, "rel_1"), MemoryLog(), never_cancelled)
    bad = with_settings(replicated(blobs, "rel_2", 2, unhealthy_replica="2"), healthcheck_timeout=1.0)
    log = MemoryLog()

    # WHEN it is activated, THEN it fails naming the replica, and rel_1 keeps all the traffic
    with pytest.raises(HealthCheckFailed, match=r"replica 2/2: timeout after 1s waiting for 200 on /health"):
        runtime.activate(bad, log, never_cancelled)
    assert {answer(runtime)["version"] for _ in range(4)} == {"rel_1"}
    assert not any(alive(pid) for pid in started_pids(log, "rel_2"))


def test_redeploy_from_three_replicas_to_one(runtime: LocalRuntime, blobs: FakeBlobStore) -> None:
    # GIVEN three replicas of rel_1
    first = MemoryLog()
    runtime.activate(replicated(blobs, "rel_1", 3), first, never_cancelled)
    old_pids = started_pids(first, "rel_1")

    # WHEN rel_2 with one replica goes live
    runtime.activate(release(blobs, "rel_2"), MemoryLog(), never_cancelled)

    # THEN every request reaches the one new process, and all three old ones stop after the overlap
    answers = [answer(runtime) for _ in range(6)]
    assert {a["version"] for a in answers} == {"rel_2"}
    assert len({a["pid"] for a in answers}) == 1
    assert answers[0]["env"]["RAILWAY_REPLICA_ID"] == "rel_2-1"
    eventually(lambda: not any(alive(pid) for pid in old_pids))
    eventually(lambda: "release rel_1 stopped: replaced by release rel_2" in first.text())


def test_the_crash_is_reported_only_when_the_last_replica_gave_up(
    runtime: LocalRuntime, blobs: FakeBlobStore, crashes: CrashRecorder
) -> None:
    # GIVEN two replicas that are never restarted
    log = MemoryLog()
    runtime.activate(
        with_settings(replicated(blobs, "rel_1", 2), restart_policy_type="NEVER"), log, never_cancelled
    )
    first, second = started_pids(log, "rel_1")

    # WHEN the first one dies, THEN the service is degraded, not crashed, and still answers
    os.kill(first, signal.SIGKILL)
    eventually(lambda: "1 of 2 replicas of release rel_1 still running" in log.text())
    assert "replica 1/2 crashed: the process was killed by SIGKILL; restart policy NEVER" in log.text()
    assert {answer(runtime)["pid"] for _ in range(4)} == {second}
    time.sleep(0.2)  # a report would have come by now
    assert crashes.calls == []

    # WHEN the second one dies too, THEN the deployment is reported crashed, once, and answers 503
    os.kill(second, signal.SIGKILL)
    assert crashes.called.wait(timeout=5)
    time.sleep(0.2)
    assert len(crashes.calls) == 1
    deployment_id, reason = crashes.calls[0]
    assert deployment_id == "dep_rel_1"
    assert reason.startswith("all 2 replicas crashed; the last: the process was killed by SIGKILL")
    assert "crashed: all 2 replicas exhausted their restarts" in log.text()
    assert request(runtime)[0] == 503
    assert runtime.active_release(HOST) is None
