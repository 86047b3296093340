"""Fixtures of the `railyard` CLI's tests (tests/unit/test_cli_*.py): the fake Railyard API and a
CLI isolated from the developer's own config. Not autouse: a CLI test module asks for isolation with
`pytestmark = pytest.mark.usefixtures("isolated_cli")`, so the other unit tests pay nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from railyard.commands import following
from tests.support.fake_cli_api import FakeState, running_fake_api


@pytest.fixture
def fake_api() -> Iterator[FakeState]:
    with running_fake_api() as state:
        yield state


@pytest.fixture
def isolated_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Config under tmp_path, no developer environment leaking in, and fast polling."""
    monkeypatch.setenv("RAILYARD_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RAILYARD_API_URL", raising=False)
    monkeypatch.delenv("RAILYARD_TOKEN", raising=False)
    monkeypatch.setattr(following, "POLL_INTERVAL_SECONDS", 0.01)
    monkeypatch.setattr(following, "ROUTER_CHECK_SECONDS", 1.0)
