"""`chalice package --pkg-format cloudformation`: the SAM template of the API for each stage in
.chalice/config.json, offline.

Chalice builds the Lambda bundle by running pip on requirements.txt and caches the zip in
.chalice/deployments under an md5 of requirements.txt *and the app's own code* (app.py, chalicelib/;
chalice/deploy/packager.py), so every code change misses that cache. Offline, pip is pointed at the
wheelhouse that `--warm` (tools/synthcheck/warm.py) filled: a miss rebuilds the zip from local wheels,
and only a change of requirements.txt needs the network again.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections import defaultdict
from pathlib import Path

from tools.synthcheck.cdk import CHALICE_MISSING_DEPENDENCIES
from tools.synthcheck.cfnlint import Template
from tools.synthcheck.env import BUILD, CHALICE, DEFAULT_REGION, ROOT, require, run, tail
from tools.synthcheck.outcome import Outcome, failed
from tools.synthcheck.warm import wheelhouse_problem

CHALICE_CONFIG = ROOT / ".chalice" / "config.json"
BUNDLE_CACHE = ROOT / ".chalice" / "deployments"
# Chalice never removes a bundle: each code change leaves a new one behind (33 MB without
# automatic_layer, an appcode zip with it). The newest few of each kind (`managed-layer-`, `appcode-`,
# whole bundle) cover switching between branches; an older one is rebuilt offline from the wheelhouse.
BUNDLES_KEPT_PER_KIND = 3
BUNDLE_NAME = re.compile(r"^(?P<kind>[a-z-]*?)[0-9a-f]{32}-python")


def prune_bundles() -> None:
    by_kind: dict[str, list[Path]] = defaultdict(list)
    for path in BUNDLE_CACHE.glob("*.zip"):
        named = BUNDLE_NAME.match(path.name)
        if named:
            by_kind[named["kind"]].append(path)
    for bundles in by_kind.values():
        bundles.sort(key=lambda path: path.stat().st_mtime, reverse=True)
        for stale in bundles[BUNDLES_KEPT_PER_KIND:]:
            stale.unlink(missing_ok=True)


def stages() -> list[str]:
    """Every stage the chalice config declares (chalice's own default, "dev", when it declares none)."""
    declared = json.loads(CHALICE_CONFIG.read_text()).get("stages") or {"dev": {}}
    return sorted(declared)


def package(stage: str, *, name_stale_wheelhouse: bool = True) -> tuple[Outcome, list[Template]]:
    """`name_stale_wheelhouse`: on failure, say when the wheelhouse is missing or older than
    requirements.txt (not while --warm is proving the wheelhouse it just filled)."""
    name = f"chalice package {stage}"
    started = time.monotonic()
    outdir = BUILD / "sam" / stage
    shutil.rmtree(outdir, ignore_errors=True)
    ran = run(
        [str(require(CHALICE)), "package", "--pkg-format", "cloudformation", "--stage", stage, str(outdir)]
    )
    template = outdir / "sam.json"
    problems: list[str] = []
    if ran.returncode != 0 or not template.exists():
        problems = tail(ran.output, 12)
    elif CHALICE_MISSING_DEPENDENCIES in ran.output:
        problems = ["the bundle lacks dependencies pip could not install offline:"]
        problems += tail(ran.output.split(CHALICE_MISSING_DEPENDENCIES, 1)[1], 8)
    if problems:
        stale = wheelhouse_problem() if name_stale_wheelhouse else None
        return failed(
            name, time.monotonic() - started, "no SAM template", [*problems, *([stale] if stale else [])]
        ), []
    prune_bundles()
    resources = json.loads(template.read_text()).get("Resources", {})
    # Chalice says "Creating ... package." for each zip, then "Reusing existing ..." when its cache had it.
    reused = ran.output.count("Reusing existing")
    built = ran.output.count("Creating") - reused
    detail = f"SAM template, {len(resources)} resources; zips: {reused} cached, {built} built offline"
    return Outcome(name, True, time.monotonic() - started, detail), [Template(template, DEFAULT_REGION)]
