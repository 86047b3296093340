"""The CDK app synthesized once per test run: stage prod in three regions (the primary first), in
`make synth`'s offline environment (tools/synthcheck/env.py: no AWS account, pip only from the
wheelhouse), so a dependency layer that cannot be built offline fails with "run make install".
Tests read the templates as plain JSON, with the helpers below.

Under xdist (`make test`: `--dist loadfile`), the modules that use `cloud` may land on different
workers: the first worker synthesizes into the run's shared temporary directory while holding a
lock, and the others read its templates (a synthesis costs 15-25 s of a 2-core machine).
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest

from chalicelib.catalogue import Catalogue

STAGE = "prod"
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
PARTS = ("events", "api", "workflow", "build", "runtime", "observability")
CATALOGUE = Catalogue(STAGE)
# Environment-agnostic synth: the account is CloudFormation's; the region the primary's, everywhere.
BUCKETS = Catalogue(STAGE, account="${AWS::AccountId}", region=REGIONS[0]).buckets
Template = dict[str, Any]


@dataclass
class Synthesized:
    """Templates by region and part ("data" only in the primary region); `all` in assembly order."""

    by_region: dict[str, dict[str, Template]]
    all: list[Template]
    seconds: float
    # Deployment order: (region, part) -> the (region, part)s deployed before it.
    depends_on: dict[tuple[str, str], set[tuple[str, str]]]

    @property
    def primary(self) -> dict[str, Template]:
        return self.by_region[REGIONS[0]]

    def to_json(self) -> str:
        depends_on = [[list(k), sorted(map(list, v))] for k, v in self.depends_on.items()]
        return json.dumps({**asdict(self), "depends_on": depends_on})

    @classmethod
    def from_json(cls, text: str) -> Synthesized:
        raw = json.loads(text)
        depends_on = {(k[0], k[1]): {(d[0], d[1]) for d in v} for k, v in raw["depends_on"]}
        return cls(raw["by_region"], raw["all"], raw["seconds"], depends_on)


@pytest.fixture(scope="session")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return _synthesize(tmp_path_factory.mktemp("cdk"))
    shared = tmp_path_factory.getbasetemp().parent  # this run's directory, common to its workers
    saved = shared / "cdk-synthesized.json"
    with (shared / "cdk-synthesized.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not saved.exists():
            synthesized = _synthesize(shared / "cdk")
            saved.write_text(synthesized.to_json())
            return synthesized
    return Synthesized.from_json(saved.read_text())


def _synthesize(out: Path) -> Synthesized:
    import time

    import aws_cdk as cdk

    from stacks.app import build_app
    from stacks.packaging import dependency_layer_zip
    from tools.synthcheck.env import offline_env
    from tools.synthcheck.warm import wheelhouse_problem

    problem = None if dependency_layer_zip().exists() else wheelhouse_problem()
    if problem:
        pytest.fail(f"the Lambda dependency layer cannot be built offline ({problem}): run make install")
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(offline_env())  # make synth's environment: no AWS account, no PyPI
    try:
        started = time.monotonic()
        out.mkdir(parents=True, exist_ok=True)
        app = cdk.App(
            outdir=str(out / "cdk.out"),
            context={"stage": STAGE, "regions": ",".join(REGIONS)},
            analytics_reporting=False,
        )
        regional = build_app(app, workdir=out / "work")
        assembly = app.synth()
        seconds = time.monotonic() - started
    finally:
        os.environ.clear()
        os.environ.update(saved)
    by_region: dict[str, dict[str, Template]] = {}
    for region, stacks in regional.items():
        by_region[region] = {
            part: assembly.get_stack_artifact(getattr(stacks, part).artifact_id).template for part in PARTS
        }
    data = app.node.find_child(CATALOGUE.stack_name("data"))
    by_region[REGIONS[0]]["data"] = assembly.get_stack_artifact(data.artifact_id).template  # type: ignore[attr-defined]
    parts = {
        getattr(stacks, part).artifact_id: (region, part)
        for region, stacks in regional.items()
        for part in PARTS
    }
    parts[data.artifact_id] = (REGIONS[0], "data")  # type: ignore[attr-defined]
    depends_on = {
        parts[stack.id]: {parts[d.id] for d in stack.dependencies if d.id in parts}
        for stack in assembly.stacks
    }
    return Synthesized(by_region, [s.template for s in assembly.stacks], seconds, depends_on)


# --- reading templates -----------------------------------------------------------------------------


def of(template: Template, kind: str) -> dict[str, dict[str, Any]]:
    """Resources of one type, by logical id."""
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


# The dashboard's resources (stacks/dashboard.py, construct "Dashboard" in the primary's API stack)
# and the CDK library's handler that copies its files: not the platform's data or functions, and
# checked by test_dashboard_stack.py.
NOT_THE_PLATFORMS = ("Dashboard", "CustomCDKBucketDeployment")


def platform_resources(template: Template, kind: str) -> dict[str, dict[str, Any]]:
    """`of`, less the dashboard's resources."""
    return {k: r for k, r in of(template, kind).items() if not k.startswith(NOT_THE_PLATFORMS)}


def props(template: Template, kind: str) -> list[dict[str, Any]]:
    return [r.get("Properties", {}) for r in of(template, kind).values()]


def logical_id(template: Template, kind: str, **match: Any) -> str:
    """The one resource of `kind` whose properties have the given values."""
    found = [
        k for k, r in of(template, kind).items() if all(r["Properties"].get(p) == v for p, v in match.items())
    ]
    assert len(found) == 1, f"{kind} {match}: {len(found)} found"
    return found[0]


def exported_logical_id(source: Template, import_value: dict[str, Any]) -> str:
    """The logical id behind `{"Fn::ImportValue": "<stack>:<output>"}`, read from the exporting template."""
    output = import_value["Fn::ImportValue"].split(":", 1)[1]
    value = source["Outputs"][output]["Value"]
    return str(value["Ref"] if "Ref" in value else value["Fn::GetAtt"][0])


def rendered(node: Any) -> Any:
    """The template with every Fn::Join made a string and every Ref `${Name}` (as Fn::Sub writes)."""
    if isinstance(node, dict):
        if set(node) == {"Fn::Join"}:
            separator, parts = node["Fn::Join"]
            joined = [rendered(part) for part in parts]
            if all(isinstance(part, str) for part in joined):
                return separator.join(joined)
        if set(node) == {"Ref"}:
            return "${" + node["Ref"] + "}"
        return {key: rendered(value) for key, value in node.items()}
    if isinstance(node, list):
        return [rendered(value) for value in node]
    return node


def statements(node: Any) -> Iterator[dict[str, Any]]:
    """Every IAM statement anywhere under `node`."""
    if isinstance(node, dict):
        if isinstance(node.get("Statement"), list):
            yield from node["Statement"]
        for value in node.values():
            yield from statements(value)
    elif isinstance(node, list):
        for value in node:
            yield from statements(value)


def listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
