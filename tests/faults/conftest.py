"""The fault suites' platform: one `railyard dev` subprocess per module, on free ports with its own
RAILYARD_HOME, stopped with SIGTERM at the end (test_restart.py drives its own, to kill it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.platform import Dev, running_dev


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dev]:
    with running_dev(tmp_path_factory.mktemp("railyard-home")) as platform:
        yield platform
