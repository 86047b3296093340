"""LocalRuntime and the promotion (docs/decisions/0010), with real processes and the real router: the
runtime checks the promotion once it holds the service's lock, commits it after the health check and
before the route moves, and when either refuses the new release never serves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib.adapters.runtime.local import LocalRuntime
from chalicelib.domain.errors import Superseded, TaskExpired
from chalicelib.domain.models import ServiceSettings
from chalicelib.domain.ports import ReleaseSpec
from chalicelib.domain.workloads import Workload
from tests.fakes import FakeBlobStore, FakeLog
from tests.support.local_runtime import published_release, running_runtime
from tests.support.router import get_through_router
from tests.support.tiny_app import START_COMMAND, pack

pytestmark = pytest.mark.timeout(30)

HOST = "web-production-demo"


class RecordingPromotion:
    """A Promotion that records when it was asked (and what served then), and may refuse."""

    def __init__(
        self,
        runtime: LocalRuntime,
        refuse_check: Exception | None = None,
        refuse_commit: Exception | None = None,
    ) -> None:
        self.runtime = runtime
        self.refuse_check = refuse_check
        self.refuse_commit = refuse_commit
        self.calls: list[tuple[str, str | None]] = []

    def check(self) -> None:
        self.calls.append(("check", self.runtime.active_release(HOST)))
        if self.refuse_check is not None:
            raise self.refuse_check

    def commit(self, workload: Workload = Workload.WEB) -> None:
        self.calls.append(("commit", self.runtime.active_release(HOST)))
        if self.refuse_commit is not None:
            raise self.refuse_commit


@pytest.fixture
def runtime(tmp_path: Path, blobs: FakeBlobStore) -> Iterator[LocalRuntime]:
    with running_runtime(tmp_path, blobs, lambda deployment_id, reason: None) as rt:
        yield rt


def release(blobs: FakeBlobStore, number: int) -> ReleaseSpec:
    return published_release(
        blobs,
        number,
        pack(f"v{number}"),
        service_id="svc_web",
        hostname=HOST,
        start_command=START_COMMAND,
        settings=ServiceSettings(healthcheck_timeout=10, overlap_seconds=0, draining_seconds=1),
    )


def served(runtime: LocalRuntime) -> str:
    return get_through_router(runtime.router_port, HOST)[1]


def no_progress() -> None:
    pass


def test_the_promotion_commits_after_the_health_check_and_before_the_route_moves(
    runtime: LocalRuntime, blobs: FakeBlobStore
) -> None:
    runtime.activate(release(blobs, 1), FakeLog(), no_progress)
    promotion = RecordingPromotion(runtime)

    runtime.activate(release(blobs, 2), FakeLog(), no_progress, promotion)

    # both asked while release 1 still served; release 2 serves after the commit
    assert promotion.calls == [("check", "rel_1"), ("commit", "rel_1")]
    assert served(runtime) == "v2"


def test_a_release_whose_commit_is_refused_never_serves_and_the_previous_one_keeps_serving(
    runtime: LocalRuntime, blobs: FakeBlobStore
) -> None:
    # GIVEN release 1 live
    runtime.activate(release(blobs, 1), FakeLog(), no_progress)
    log = FakeLog()

    # WHEN release 2 passes its health check but loses at the commit point (a newer one went live)
    superseded = Superseded("superseded by dep_9 (created later), which is live")
    with pytest.raises(Superseded):
        runtime.activate(
            release(blobs, 2), log, no_progress, RecordingPromotion(runtime, refuse_commit=superseded)
        )

    # THEN release 1 still answers, release 2's process is gone, and its log says why
    assert runtime.active_release(HOST) == "rel_1"
    assert served(runtime) == "v1"
    assert any(line.startswith("readiness: accepting connections on $PORT") for line in log.lines)
    assert f"release rel_2 not switched: {superseded}" in log.lines
    assert not any(line.startswith("traffic for") for line in log.lines)


def test_a_release_whose_task_was_given_up_while_waiting_for_the_lock_starts_nothing(
    runtime: LocalRuntime, blobs: FakeBlobStore, tmp_path: Path
) -> None:
    runtime.activate(release(blobs, 1), FakeLog(), no_progress)
    log = FakeLog()

    with pytest.raises(TaskExpired):
        runtime.activate(
            release(blobs, 2),
            log,
            no_progress,
            RecordingPromotion(runtime, refuse_check=TaskExpired("timed out")),
        )

    assert log.lines == []  # not even unpacked
    assert not (tmp_path / "data" / "releases" / "rel_2").exists()
    assert served(runtime) == "v1"
