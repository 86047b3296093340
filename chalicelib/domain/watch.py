"""Watch patterns (Railway's build.watchPatterns): whether a new source should deploy at all.

A monorepo with one service per package sets gitignore-style patterns such as
`/packages/backend/**`; a deployment of a source whose changes, compared with the source of the live
release, touch no matching path is SKIPPED instead of rebuilt and rolled out. Railway applies this to
git pushes; Railyard applies it to every source deployment, which is what `railyard up` in a CI job
per service needs. `railyard up --no-cache` (a cold build asked for) always deploys.

Pure: manifests are `{path: content digest}` maps computed by an adapter."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from chalicelib.domain.errors import BuildFailed


@dataclass(frozen=True)
class WatchDecision:
    deploy: bool
    reason: str  # one line for the build log
    changed: tuple[str, ...] = ()
    matched: tuple[str, ...] = ()


def changed_paths(previous: Mapping[str, str], current: Mapping[str, str]) -> list[str]:
    """Paths added, removed or modified between two manifests, sorted."""
    return sorted(
        path for path in previous.keys() | current.keys() if previous.get(path) != current.get(path)
    )


def matching(patterns: Sequence[str], paths: Sequence[str]) -> list[str]:
    """The paths the gitignore-style patterns select (later patterns win; `!` negates)."""
    import pathspec

    try:
        spec = pathspec.GitIgnoreSpec.from_lines(patterns)
    except (ValueError, TypeError) as exc:
        raise BuildFailed(f"build.watchPatterns: {exc}") from None
    return [path for path in paths if spec.match_file(path)]


def decide(
    patterns: Sequence[str],
    previous: Mapping[str, str] | None,
    current: Mapping[str, str],
) -> WatchDecision:
    """Deploy unless patterns are set, a previous source is known and no changed path matches."""
    if not patterns:
        return WatchDecision(True, "no watch patterns: every change deploys")
    if previous is None:
        return WatchDecision(True, "watch patterns: no previous source to compare with, deploying")
    changed = changed_paths(previous, current)
    matched = matching(patterns, changed)
    shown = ", ".join(patterns)
    if matched:
        sample = ", ".join(matched[:5]) + (f" (+{len(matched) - 5} more)" if len(matched) > 5 else "")
        return WatchDecision(
            True,
            f"watch patterns ({shown}) matched {len(matched)} changed file(s): {sample}",
            tuple(changed),
            tuple(matched),
        )
    return WatchDecision(
        False,
        f"watch patterns ({shown}) matched none of the {len(changed)} changed file(s); "
        "skipping this deployment (`railyard up --no-cache` deploys anyway)",
        tuple(changed),
    )
