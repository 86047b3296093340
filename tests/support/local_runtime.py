"""A LocalRuntime for the runtime's integration tests, and the releases they give it: the runtime
started on a test's data directory and closed after it, and an artifact published to the fake blob
store as a release (tests/support/router.py sends the requests through its router)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from chalicelib.adapters.runtime.local import LocalRuntime
from chalicelib.domain.models import ServiceSettings
from chalicelib.domain.ports import ReleaseSpec
from tests.fakes import FakeBlobStore

BUCKET = "artifacts"


@contextmanager
def running_runtime(
    tmp_path: Path, blobs: FakeBlobStore, on_crash: Callable[..., None], **options: Any
) -> Iterator[LocalRuntime]:
    """A started LocalRuntime keeping its state under `tmp_path`/data; closed (every process
    stopped) when the block ends."""
    runtime = LocalRuntime(str(tmp_path / "data"), blobs, BUCKET, on_crash, **options)
    runtime.start()
    try:
        yield runtime
    finally:
        runtime.close()


def published_release(
    blobs: FakeBlobStore,
    number: int,
    artifact: bytes,
    *,
    service_id: str,
    hostname: str,
    start_command: str,
    settings: ServiceSettings,
    variables: dict[str, str] | None = None,
) -> ReleaseSpec:
    """Release `number` (deployment dep_<n>, release rel_<n>) of `artifact`, uploaded first as the
    build runner would."""
    key = f"artifacts/rel_{number}.tar.gz"
    blobs.put_bytes(BUCKET, key, artifact)
    return ReleaseSpec(
        service_id=service_id,
        hostname=hostname,
        deployment_id=f"dep_{number}",
        release_id=f"rel_{number}",
        artifact_key=key,
        start_command=start_command,
        variables=dict(variables or {}),
        settings=settings,
    )
