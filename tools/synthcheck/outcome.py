"""Outcome: what one check of `make synth` found, and the summary that prints them all."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    name: str  # "cdk synth ci", "cfn-lint sam (dev)" ...
    ok: bool
    seconds: float
    detail: str  # one line: what was checked and counted
    problems: tuple[str, ...] = ()  # why it failed: tool output, lint errors with rule ids
    warnings: tuple[str, ...] = ()  # printed, never fail the run (unless --strict for lint warnings)


def failed(name: str, seconds: float, detail: str, problems: Sequence[str]) -> Outcome:
    return Outcome(name, False, seconds, detail, tuple(problems))


def summary(outcomes: Sequence[Outcome], wall_seconds: float, title: str = "make synth") -> str:
    width = max(len(o.name) for o in outcomes)
    bad = [o for o in outcomes if not o.ok]
    lines = []
    for o in outcomes:
        status = "ok  " if o.ok else "FAIL"
        lines.append(f"  {status}  {o.name:<{width}}  {o.seconds:6.1f} s  {o.detail}")
        lines.extend(f"          warning: {w}" for w in o.warnings)
        lines.extend(f"          {p}" for p in o.problems)
    verdict = f"{len(bad)} of {len(outcomes)} checks FAILED" if bad else f"all {len(outcomes)} checks passed"
    lines.append(f"{title}: {verdict} in {wall_seconds:.1f} s wall")
    return "\n".join(lines)
