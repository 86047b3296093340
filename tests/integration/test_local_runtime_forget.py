"""LocalRuntime.forget_release (retention): the unpacked directory of a pruned release goes, never
while a process of it may still run; real processes, real HTTP through the router."""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from chalicelib.adapters.runtime.local import LocalRuntime
from chalicelib.domain.errors import BadRequest
from chalicelib.domain.models import ServiceSettings
from chalicelib.domain.ports import ReleaseSpec
from tests.fakes import FakeBlobStore, FakeLog
from tests.support import tiny_app
from tests.support.local_runtime import BUCKET

pytestmark = pytest.mark.timeout(60)

HOST = "web-production-demo"


def activate(runtime: LocalRuntime, blobs: FakeBlobStore, release_id: str, **variables: str) -> Path:
    blobs.put_bytes(BUCKET, f"artifacts/{release_id}.tar.gz", tiny_app.pack(release_id))
    spec = ReleaseSpec(
        service_id="svc_web",
        hostname=HOST,
        deployment_id=f"dep_{release_id}",
        release_id=release_id,
        artifact_key=f"artifacts/{release_id}.tar.gz",
        start_command=tiny_app.START_COMMAND,
        variables=variables,
        settings=ServiceSettings(overlap_seconds=0, draining_seconds=10, healthcheck_timeout=20),
    )
    runtime.activate(spec, FakeLog(), lambda: None)
    return runtime.data_dir / "releases" / release_id


def answer(runtime: LocalRuntime) -> bytes:
    connection = http.client.HTTPConnection("127.0.0.1", runtime.router_port, timeout=5)
    try:
        connection.request("GET", "/", headers={"Host": f"{HOST}.localhost"})
        return connection.getresponse().read()
    finally:
        connection.close()


def eventually(check: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check() and time.monotonic() < deadline:
        time.sleep(0.05)
    return check()


def test_a_stopped_release_loses_its_directory_and_the_live_one_keeps_serving(
    runtime: LocalRuntime, blobs: FakeBlobStore
) -> None:
    old = activate(runtime, blobs, "rel_old")
    live = activate(runtime, blobs, "rel_live")
    assert eventually(lambda: runtime.active_release(HOST) == "rel_live")
    time.sleep(0.5)  # rel_old exits on SIGTERM at once

    runtime.forget_release("rel_old")
    runtime.forget_release("rel_old")  # a redelivered cleanup: nothing left, no error

    assert not old.exists()
    assert live.is_dir() and answer(runtime) == b"rel_live"
    assert [p.name for p in (runtime.data_dir / "releases").iterdir()] == ["rel_live"]


def test_the_live_release_keeps_its_directory(runtime: LocalRuntime, blobs: FakeBlobStore) -> None:
    live = activate(runtime, blobs, "rel_live")

    runtime.forget_release("rel_live")

    assert (live / "app" / "app.py").is_file()
    assert answer(runtime) == b"rel_live"


def test_a_release_pruned_while_draining_loses_its_directory_once_its_process_exits(
    runtime: LocalRuntime, blobs: FakeBlobStore
) -> None:
    draining = activate(runtime, blobs, "rel_draining", TERM_DELAY="1.5")
    activate(runtime, blobs, "rel_live")

    runtime.forget_release("rel_draining")

    assert (draining / "app" / "app.py").is_file()  # its process still runs in it
    assert eventually(lambda: not draining.exists())
    assert answer(runtime) == b"rel_live"


def test_a_release_id_that_cannot_name_a_directory_is_refused(runtime: LocalRuntime) -> None:
    with pytest.raises(BadRequest):
        runtime.forget_release("../data")
