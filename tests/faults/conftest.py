"""The fault suites' platforms: the modules that take `dev` share the session's `railyard dev`
(tests/conftest.py) and each use their own projects; the restart modules take `platform`, a process
of their own per module, on free ports with its own RAILYARD_HOME, to kill and start it again,
stopped with SIGTERM at the end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.platform import DevProcess


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevProcess]:
    """One platform for the module, restarted by its tests in file order on the same data."""
    process = DevProcess(tmp_path_factory.mktemp("railyard-home"))
    process.start()
    try:
        yield process
    finally:
        process.close()
