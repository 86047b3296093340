"""The CDK app synthesized once per session: stage prod in three regions (the primary first), in
`make synth`'s offline environment (tools/synthcheck/env.py: no AWS account, pip only from the
wheelhouse), so a dependency layer that cannot be built offline fails with "run make install".
Tests read the templates as plain JSON."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

STAGE = "prod"
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
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


@pytest.fixture(scope="session")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesized]:
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
        out: Path = tmp_path_factory.mktemp("cdk")
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
            part: assembly.get_stack_artifact(getattr(stacks, part).artifact_id).template
            for part in ("events", "api", "workflow", "build", "runtime", "observability")
        }
    from chalicelib.catalogue import Catalogue

    data = app.node.find_child(Catalogue(STAGE).stack_name("data"))
    by_region[REGIONS[0]]["data"] = assembly.get_stack_artifact(data.artifact_id).template  # type: ignore[attr-defined]
    parts = {
        getattr(stacks, part).artifact_id: (region, part)
        for region, stacks in regional.items()
        for part in ("events", "api", "workflow", "build", "runtime", "observability")
    }
    parts[data.artifact_id] = (REGIONS[0], "data")  # type: ignore[attr-defined]
    depends_on = {
        parts[stack.id]: {parts[d.id] for d in stack.dependencies if d.id in parts}
        for stack in assembly.stacks
    }
    yield Synthesized(by_region, [s.template for s in assembly.stacks], seconds, depends_on)
