"""What the build log and `railyard plan` say about a plan, in one wording for the local build
runner, CodeBuild and the CLI: the commands, then every config key Railyard read but does not apply
(with why), the config files' warnings, and the choices the planner made among candidates."""

from __future__ import annotations

from chalicelib.domain.buildplan.plan import BuildPlan
from chalicelib.domain.railway_schema import unsupported_reason


def notes_lines(plan: BuildPlan) -> list[str]:
    """One line per ignored key, per config warning and per planner note."""
    lines = [f"config: ignoring {key}{_why(key)}" for key in plan.ignored_keys]
    lines += [f"config: {warning}" for warning in plan.deploy.warnings]
    return lines + [f"plan: {note}" for note in plan.notes]


def log_lines(plan: BuildPlan) -> list[str]:
    """The plan as a build log states it before running anything."""
    return [
        f"build: provider {plan.provider} (files read: {', '.join(plan.files_read) or 'none'})",
        f"build: install: {'; '.join(plan.install) or '(nothing to install)'}",
        f"build: build: {'; '.join(plan.build) or '(no build step)'}",
        f"build: start command: {plan.start_command}",
        *notes_lines(plan),
    ]


def _why(key: str) -> str:
    # railway.json's keys are bare paths ("deploy.region") with a reason in Railway's key table;
    # other files' keys name their file ("railpack.json: buildAptPackages") and say why themselves.
    return "" if ": " in key else f" ({unsupported_reason(key)})"
