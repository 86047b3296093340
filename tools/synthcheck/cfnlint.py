"""cfn-lint over CloudFormation templates (CDK's and the SAM template chalice writes; cfn-lint expands
the SAM transform itself). Errors fail the check; warnings are printed with their rule ids and count,
and fail it only when strict: the stacks' authors decide about a warning, the tool makes it visible."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.synthcheck.env import CFN_LINT, ROOT, require, run, tail
from tools.synthcheck.outcome import Outcome


@dataclass(frozen=True)
class Template:
    path: Path
    region: str  # the stack's region; cfn-lint checks resource types and values against it


@dataclass(frozen=True)
class Finding:
    rule: str
    level: str  # "Error" | "Warning" | "Informational"
    template: str
    where: str  # Resources/<logical id>/Properties/... as cfn-lint locates it
    message: str

    def __str__(self) -> str:
        return f"{self.rule} {self.template} {self.where}: {self.message}"


def _finding(raw: dict[str, Any]) -> Finding:
    path = raw.get("Location", {}).get("Path") or []
    line = raw.get("Location", {}).get("Start", {}).get("LineNumber")
    where = "/".join(str(p) for p in path) if path else f"line {line}"
    return Finding(
        rule=raw["Rule"]["Id"],
        level=raw["Level"],
        template=Path(raw["Filename"]).name,
        where=where,
        message=raw["Message"],
    )


def findings(templates: Sequence[Template]) -> list[Finding]:
    """One cfn-lint run per region (its `--regions` applies to every file it is given). Raises
    RuntimeError with cfn-lint's own output when it crashed rather than reported."""
    by_region: dict[str, list[Path]] = defaultdict(list)
    for template in templates:
        by_region[template.region].append(template.path)
    found: list[Finding] = []
    for region, paths in sorted(by_region.items()):
        ran = run([str(require(CFN_LINT)), "--format", "json", "--regions", region, "--", *map(str, paths)])
        try:
            found.extend(_finding(raw) for raw in json.loads(ran.stdout or "[]"))
        except (json.JSONDecodeError, KeyError) as error:
            said = "\n".join(tail(ran.output)) or str(error)
            raise RuntimeError(f"cfn-lint gave no report (exit {ran.returncode}): {said}") from error
    return found


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def grouped(found: Sequence[Finding]) -> list[str]:
    """One line per rule: CDK repeats one pattern in every stack and region, so 28 identical warnings
    would bury the one that differs."""
    by_rule: dict[str, list[Finding]] = defaultdict(list)
    for finding in found:
        by_rule[finding.rule].append(finding)
    return [
        f"{rule} x{len(same)} in {len({f.template for f in same})} template(s), e.g. {same[0]}"
        for rule, same in sorted(by_rule.items())
    ]


def lint(name: str, templates: Sequence[Template], report: Path, *, strict: bool = False) -> Outcome:
    """`report` receives every finding, one per line, whatever the summary shows."""
    started = time.monotonic()
    try:
        found = findings(templates)
    except RuntimeError as error:
        return Outcome(name, False, time.monotonic() - started, "cfn-lint did not run", (str(error),))
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("".join(f"{f.level} {f}\n" for f in found))
    errors = [f for f in found if f.level == "Error"]
    warnings = [f for f in found if f.level == "Warning"]
    ok = not errors and not (strict and warnings)
    detail = (
        f"{len(templates)} template(s): {len(errors)} error(s), {len(warnings)} warning(s)"
        f"{' (strict)' if strict else ''}; all findings in {_shown(report)}"
    )
    return Outcome(
        name,
        ok,
        time.monotonic() - started,
        detail,
        problems=tuple(f"error {f}" for f in errors) + tuple(f"warning {f}" for f in warnings if strict),
        warnings=() if strict else tuple(grouped(warnings)),
    )
