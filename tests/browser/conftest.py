"""What every browser module takes: one headless Chromium per module (a launch costs a second or
two of CPU), a fresh desktop-sized page per test (a context each: no cookie or storage leaks from
one test to the next), and a person who is a member of the local workspace, with an address of the
module's own (the platform is shared with other modules). A module needing another kind of page or
person defines its own fixture of the same name."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import browser as chromium_support
from tests.support.browser import DESKTOP, Person, member_of_local_workspace
from tests.support.platform import Dev


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium_support.chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def person(dev: Dev, request: pytest.FixtureRequest) -> Person:
    module = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_dashboard").strip("_") or "dash"
    return member_of_local_workspace(dev, f"{module}-{secrets.token_hex(4)}@example.com")


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=DESKTOP)
    context.set_default_timeout(15_000)
    try:
        yield context.new_page()
    finally:
        context.close()
