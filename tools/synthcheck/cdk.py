"""`cdk synth` of every stack with the pinned CLI, for each target below, into build/synth/<target>;
and the templates (with their regions) that the cloud assembly holds, for cfn-lint."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.synthcheck.cfnlint import Template
from tools.synthcheck.env import BUILD, CDK, DEFAULT_REGION, ROOT, require, run, tail
from tools.synthcheck.outcome import Outcome, failed

STACKS_DIR = ROOT / "stacks"
CHALICE_MISSING_DEPENDENCIES = "Could not install dependencies"


@dataclass(frozen=True)
class SynthTarget:
    """One synthesis: a name for its output directory and the CDK context it passes (`-c k=v`)."""

    name: str
    context: tuple[tuple[str, str], ...]


# The stages that between them take every branch of stacks/ (the context keys stacks/stage.py reads):
# a single-region stage without an account or a cluster, and prod in an account across three regions
# (the table becomes a global table) with an EKS cluster (the runtime stack's access entry and RBAC).
TARGETS = (
    SynthTarget("ci", (("stage", "ci"),)),
    SynthTarget(
        "prod-3-regions",
        (
            ("stage", "prod"),
            ("account", "123456789012"),
            ("regions", "us-east-1,eu-west-1,ap-southeast-2"),
            ("eksCluster", "railyard"),
            ("baseDomain", "apps.example.com"),
            (  # one ACM certificate per region (certificates are regional)
                "certificateArn",
                ",".join(
                    f"arn:aws:acm:{region}:123456789012:certificate/00000000-0000-0000-0000-000000000000"
                    for region in ("us-east-1", "eu-west-1", "ap-southeast-2")
                ),
            ),
            ("loadBalancerCidrs", "10.0.0.0/24,10.0.1.0/24"),
        ),
    ),
)


def _stack_templates(assembly: Path) -> list[Template]:
    manifest: dict[str, Any] = json.loads((assembly / "manifest.json").read_text())
    found: list[Template] = []
    for artifact in manifest.get("artifacts", {}).values():
        properties = artifact.get("properties", {})
        if artifact.get("type") == "aws:cloudformation:stack":
            region = str(artifact.get("environment", "")).rsplit("/", 1)[-1]
            if not region or region.startswith("unknown"):
                region = DEFAULT_REGION
            found.append(Template(assembly / properties["templateFile"], region))
        elif artifact.get("type") == "cdk:cloud-assembly":  # a Stage's nested assembly
            found.extend(_stack_templates(assembly / properties["directoryName"]))
    return found


def synth(target: SynthTarget, outdir: Path | None = None) -> tuple[Outcome, list[Template]]:
    """Into build/synth/<target name> unless `outdir` says otherwise."""
    name = f"cdk synth {target.name}"
    started = time.monotonic()
    outdir = outdir or BUILD / target.name
    shutil.rmtree(outdir, ignore_errors=True)  # a stale template must never be linted
    context = [arg for key, value in target.context for arg in ("-c", f"{key}={value}")]
    if not (STACKS_DIR / "cdk.json").exists():
        return failed(
            name, 0.0, _describe(target), ["stacks/cdk.json not found: there is no CDK app to synthesize"]
        ), []
    # No stack named: synth takes them all. --no-lookups: a context lookup would need an AWS account.
    cmd = [str(require(CDK)), "synth", "-q", "--no-notices", "--no-lookups", "--no-color"]
    ran = run([*cmd, *context, "-o", str(outdir)], cwd=STACKS_DIR)
    problems: list[str] = []
    if ran.returncode != 0:
        problems = tail(ran.output)
    elif CHALICE_MISSING_DEPENDENCIES in ran.output:
        problems = ["chalice packaged the API without some dependencies (offline, no wheel):"]
        problems += tail(ran.output.split(CHALICE_MISSING_DEPENDENCIES, 1)[1], 8)
    if problems:
        return failed(name, time.monotonic() - started, _describe(target), problems), []
    templates = _stack_templates(outdir)
    if not templates:
        return failed(name, time.monotonic() - started, _describe(target), ["no stack synthesized"]), []
    regions = sorted({t.region for t in templates})
    detail = f"{len(templates)} stacks in {', '.join(regions)} ({_describe(target)})"
    return Outcome(name, True, time.monotonic() - started, detail), templates


def _describe(target: SynthTarget) -> str:
    return " ".join(f"-c {key}={value}" for key, value in target.context)
