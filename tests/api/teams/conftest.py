"""Fixtures of the workspaces, tokens and audit tests: tests/support/teams.py's people."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.conftest import Api
from tests.support.teams import Acme, Teams


@pytest.fixture
def teams(api: Api) -> Iterator[Teams]:
    yield Teams(api)


@pytest.fixture
def acme(teams: Teams) -> Acme:
    alice, bob, carol, dave, erin, zed = (
        teams.user(f"{n}@example.com") for n in ("alice", "bob", "carol", "dave", "erin", "zed")
    )
    people = {"b": (bob, "member"), "c": (carol, "deployer"), "d": (dave, "viewer"), "z": (zed, "viewer")}
    acme = teams.workspace(alice, "acme", **people)
    globex = teams.workspace(erin, "globex")
    return Acme(teams, acme, globex, alice, bob, carol, dave, erin, zed)
