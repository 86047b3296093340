"""The fault suites' platforms: one `railyard dev` subprocess per module, on free ports with its own
RAILYARD_HOME, stopped with SIGTERM at the end. The restart modules take `platform`, the process
itself, to kill and start it again; the others take `dev`, its handles."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.platform import Dev, DevProcess, running_dev


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    with running_dev(tmp_path_factory.mktemp("railyard-home")) as platform:
        yield platform


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevProcess]:
    """One platform for the module, restarted by its tests in file order on the same data."""
    process = DevProcess(tmp_path_factory.mktemp("railyard-home"))
    process.start()
    try:
        yield process
    finally:
        process.close()
