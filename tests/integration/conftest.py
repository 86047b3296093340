"""Fixtures the LocalRuntime and build-runner tests share: a data directory, an in-memory blob store, a
recorder of reported crashes, and a started LocalRuntime (closed, every process stopped, after the
test). A module that needs another runtime (a fake clock, other options) defines its own `runtime`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib.adapters.runtime.local import LocalRuntime
from tests.fakes import FakeBlobStore
from tests.support.local_runtime import running_runtime
from tests.support.local_runtime_app import CrashRecorder


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """Where a LocalBuildRunner under test keeps its state."""
    return tmp_path / "data"


@pytest.fixture
def blobs() -> FakeBlobStore:
    return FakeBlobStore()


@pytest.fixture
def crashes() -> CrashRecorder:
    return CrashRecorder()


@pytest.fixture
def runtime(tmp_path: Path, blobs: FakeBlobStore, crashes: CrashRecorder) -> Iterator[LocalRuntime]:
    with running_runtime(tmp_path, blobs, crashes) as started:
        yield started
