"""The CDK app synthesized once per session: stage prod in three regions (the primary first), with
PIP_NO_INDEX set so that a missing Chalice dependency cache fails with "run make install" instead
of reaching for the network. Tests read the templates as plain JSON."""

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

    @property
    def primary(self) -> dict[str, Template]:
        return self.by_region[REGIONS[0]]


_OFFLINE_ENV = {
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    "PIP_NO_INDEX": "1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "CDK_DISABLE_VERSION_CHECK": "1",
}


@pytest.fixture(scope="session")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synthesized]:
    import time

    import aws_cdk as cdk

    from stacks.app import build_app

    saved = {name: os.environ.get(name) for name in _OFFLINE_ENV}
    os.environ.update(_OFFLINE_ENV)
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
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    by_region: dict[str, dict[str, Template]] = {}
    for region, stacks in regional.items():
        by_region[region] = {
            part: assembly.get_stack_artifact(getattr(stacks, part).artifact_id).template
            for part in ("events", "api", "workflow", "build", "runtime", "observability")
        }
    from chalicelib.catalogue import Catalogue

    data = app.node.find_child(Catalogue(STAGE).stack_name("data"))
    by_region[REGIONS[0]]["data"] = assembly.get_stack_artifact(data.artifact_id).template  # type: ignore[attr-defined]
    yield Synthesized(by_region, [s.template for s in assembly.stacks], seconds)
