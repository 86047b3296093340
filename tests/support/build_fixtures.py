"""The fixture apps under tests/fixtures/builds and the plan Railyard derives from each, for the
fixture tests (tests/unit/test_buildplan_fixtures*.py)."""

from __future__ import annotations

from pathlib import Path

from chalicelib.adapters.builds.source_tree import DirectorySourceTree
from chalicelib.domain.buildplan import BuildPlan, plan_build

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "builds"
FIXTURE_TESTS = Path(__file__).resolve().parents[1] / "unit"


def plan(fixture: str, override: str | None = None, environment: str = "production") -> BuildPlan:
    return plan_build(DirectorySourceTree(str(FIXTURES / fixture)), override, environment=environment)


def untested_fixtures() -> list[str]:
    """Fixture apps that no fixture test plans (by `plan("<name>"`)."""
    sources = "".join(path.read_text() for path in FIXTURE_TESTS.glob("test_buildplan_fixtures*.py"))
    fixtures = {path.name for path in FIXTURES.iterdir() if path.is_dir()}
    return sorted(name for name in fixtures if f'plan("{name}"' not in sources)
