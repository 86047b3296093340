"""Watch patterns: which source changes deploy (gitignore-style, as Railway's watch paths)."""

from __future__ import annotations

import pytest

from chalicelib.domain.errors import BuildFailed
from chalicelib.domain.watch import changed_paths, decide, matching

BASE = {"packages/backend/app.py": "a", "packages/frontend/index.js": "b", "README.md": "c"}


def test_changed_paths_are_added_removed_and_modified() -> None:
    current = {"packages/backend/app.py": "A", "packages/frontend/index.js": "b", "new.txt": "d"}

    assert changed_paths(BASE, current) == ["README.md", "new.txt", "packages/backend/app.py"]


def test_a_change_outside_the_patterns_skips_and_says_why() -> None:
    current = {**BASE, "packages/frontend/index.js": "B"}

    decision = decide(["/packages/backend/**"], BASE, current)

    assert not decision.deploy
    assert decision.changed == ("packages/frontend/index.js",)
    assert "matched none of the 1 changed file(s)" in decision.reason
    assert "/packages/backend/**" in decision.reason


def test_a_change_inside_the_patterns_deploys_and_names_the_files() -> None:
    current = {**BASE, "packages/backend/app.py": "A"}

    decision = decide(["/packages/backend/**"], BASE, current)

    assert decision.deploy and decision.matched == ("packages/backend/app.py",)
    assert "packages/backend/app.py" in decision.reason


def test_negations_exclude_files_a_preceding_rule_included() -> None:
    current = {**BASE, "packages/backend/CHANGELOG.md": "x"}

    assert not decide(["/packages/backend/**", "!**/*.md"], BASE, current).deploy


def test_a_removed_file_counts_as_a_change() -> None:
    current = {k: v for k, v in BASE.items() if k != "packages/backend/app.py"}

    assert decide(["packages/backend/"], BASE, current).deploy


def test_without_patterns_or_without_a_previous_source_everything_deploys() -> None:
    assert decide([], BASE, BASE).deploy
    assert decide(["/nothing/**"], None, BASE).deploy


def test_an_identical_source_with_patterns_is_skipped() -> None:
    assert not decide(["**/*.py"], BASE, dict(BASE)).deploy


def test_matching_uses_gitignore_anchoring() -> None:
    paths = ["src/a.py", "lib/src/b.py", "a.py"]

    assert matching(["/src/**"], paths) == ["src/a.py"]
    assert matching(["*.py"], paths) == paths


def test_an_unusable_pattern_is_a_build_failure_naming_the_key() -> None:
    with pytest.raises(BuildFailed, match=r"build\.watchPatterns"):
        matching(["!"], ["a"])
