"""`make synth`: every CDK stack synthesized offline with the pinned CLI and linted by cfn-lint, every
state machine through statelint and moto's parser, and the SAM template `chalice package` writes
linted too. Exits non-zero, naming what failed, when any check fails; prints what passed, with timings.

    .venv/bin/python tools/synth.py            # offline (make synth, part of make test)
    .venv/bin/python tools/synth.py --warm     # once, with network: the wheels chalice packages
    .venv/bin/python tools/synth.py --strict   # cfn-lint warnings fail too
    .venv/bin/python tools/synth.py -c stage=prod -c regions=us-east-1,eu-west-1   # one context only

Outputs go to build/synth/ (cloud assemblies per target, SAM templates per chalice stage).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

# Run as a script (the Makefile's `$(PY) tools/synth.py`): make the repository importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools.synthcheck import asl, cdk, cfnlint, chalice_sam, warm
from tools.synthcheck.env import BUILD, DEFAULT_REGION, ToolMissing
from tools.synthcheck.outcome import Outcome, failed, summary

# Two cores: a CDK synth (Python + jsii's node) or a cfn-lint run keeps one busy; a third worker
# fills the gaps while the others wait on their subprocesses.
WORKERS = 3


def guarded(name: str, check: Callable[[], list[Outcome]]) -> list[Outcome]:
    """A check that cannot run (a tool missing, a crash) is a failed check, not a traceback."""
    started = time.monotonic()
    try:
        return check()
    except ToolMissing as missing:
        return [failed(name, time.monotonic() - started, str(missing), [])]
    except Exception as error:
        return [failed(name, time.monotonic() - started, f"{type(error).__name__}: {error}", [])]


def synth_and_lint(target: cdk.SynthTarget, strict: bool, bundle_cached: threading.Event) -> list[Outcome]:
    # The CDK app's Chalice construct packages the same bundle as `chalice package`: wait until the
    # first packaging has filled chalice's cache, or two packagers that both miss it write one zip.
    bundle_cached.wait()
    synthesized, templates = cdk.synth(target)
    if not synthesized.ok:
        return [synthesized]
    return [
        synthesized,
        cfnlint.lint(
            f"cfn-lint {target.name}", templates, BUILD / f"{target.name}.cfn-lint.txt", strict=strict
        ),
    ]


def package_and_lint(stage: str, strict: bool, bundle_cached: threading.Event) -> list[Outcome]:
    try:
        packaged, templates = chalice_sam.package(stage)
    finally:
        bundle_cached.set()
    if not packaged.ok:
        return [packaged]
    return [
        packaged,
        cfnlint.lint(f"cfn-lint sam {stage}", templates, BUILD / f"sam-{stage}.cfn-lint.txt", strict=strict),
    ]


def check_everything(strict: bool, targets: tuple[cdk.SynthTarget, ...] = cdk.TARGETS) -> list[Outcome]:
    stages = chalice_sam.stages()
    bundle_cached = threading.Event()
    checks: list[tuple[str, Callable[[], list[Outcome]]]] = [
        (f"chalice package {stages[0]}", partial(package_and_lint, stages[0], strict, bundle_cached)),
        ("statelint", lambda: [asl.statelint()]),
        ("ASL parsed by moto", lambda: [asl.moto_parse(DEFAULT_REGION)]),
        *[(f"cdk synth {t.name}", partial(synth_and_lint, t, strict, bundle_cached)) for t in targets],
        *[(f"chalice package {s}", partial(package_and_lint, s, strict, bundle_cached)) for s in stages[1:]],
    ]
    with ThreadPoolExecutor(WORKERS) as pool:
        futures = [pool.submit(guarded, name, check) for name, check in checks]
        return [outcome for future in futures for outcome in future.result()]


def warm_up() -> list[Outcome]:
    filled = guarded("warm: wheelhouse", lambda: [warm.fill_wheelhouse()])
    if not all(outcome.ok for outcome in filled):
        return filled
    # Offline now, as make synth will be: proves the wheelhouse suffices and fills chalice's cache.
    stage = chalice_sam.stages()[0]
    proved = guarded(
        f"chalice package {stage}", lambda: [chalice_sam.package(stage, name_stale_wheelhouse=False)[0]]
    )
    if all(outcome.ok for outcome in proved):
        warm.stamp_wheelhouse()
    return filled + proved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--warm", action="store_true", help="fill the wheelhouse (needs PyPI), then exit")
    parser.add_argument("--strict", action="store_true", help="cfn-lint warnings fail the run too")
    parser.add_argument(
        "-c",
        "--context",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="synthesize this CDK context (stacks/stage.py's keys) instead of the built-in targets",
    )
    args = parser.parse_args(argv)
    targets: tuple[cdk.SynthTarget, ...] = cdk.TARGETS
    if args.context:
        pairs = [item.partition("=") for item in args.context]
        if any(not key or not sep for key, sep, _ in pairs):
            parser.error("-c takes KEY=VALUE, like -c stage=prod")
        targets = (cdk.SynthTarget("custom", tuple((key, value) for key, _, value in pairs)),)
    started = time.monotonic()
    outcomes = warm_up() if args.warm else check_everything(args.strict, targets)
    title = "tools/synth.py --warm" if args.warm else "make synth"
    print(summary(outcomes, time.monotonic() - started, title), flush=True)
    return 0 if all(outcome.ok for outcome in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
