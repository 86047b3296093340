"""The state machines: every statemachines/*.asl.json through statelint (placeholders are plain
strings to it), and each definition the catalogue declares, its placeholders filled the way the local
bootstrap fills them, parsed by moto's Step Functions interpreter (it rejects ASL that statelint lets
through, and it is the interpreter the local platform runs)."""

from __future__ import annotations

import time
from pathlib import Path

from tools.synthcheck.env import ROOT, STATELINT, require, run, tail
from tools.synthcheck.outcome import Outcome, failed

STATEMACHINES = ROOT / "statemachines"
ACCOUNT = "123456789012"


def asl_files(directory: Path = STATEMACHINES) -> list[Path]:
    return sorted(directory.glob("*.asl.json"))


def statelint(directory: Path = STATEMACHINES) -> Outcome:
    started = time.monotonic()
    files = asl_files(directory)
    if not files:
        return failed("statelint", 0.0, "no statemachines/*.asl.json", ["nothing to lint"])
    ran = run([str(require(STATELINT)), *map(str, files)])
    detail = f"{len(files)} file(s)"
    # statelint prints nothing for a valid file, and "ERROR: <file> is not valid" and reasons otherwise.
    if ran.returncode != 0 or "ERROR" in ran.output:
        return failed("statelint", ran.seconds, detail, tail(ran.output, 40))
    return Outcome("statelint", True, time.monotonic() - started, detail)


def moto_parse(region: str, directory: Path = STATEMACHINES) -> Outcome:
    """Creates each catalogue state machine in moto with execution on (the mode whose parser runs)."""
    started = time.monotonic()
    name = "ASL parsed by moto"
    # Imported here: moto and boto3 cost a second, and only this check needs them.
    import boto3
    from moto import mock_aws

    from chalicelib.catalogue import Catalogue
    from chalicelib.statemachines import render_definition

    catalogue = Catalogue("synth")
    declared = {machine.definition_file for machine in catalogue.state_machines}
    problems = [
        f"statemachines/{path.name} is not declared in chalicelib/catalogue.py (no stack deploys it)"
        for path in asl_files(directory)
        if path.name not in declared
    ]
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sfn = boto3.client("stepfunctions", region_name=region)
        for machine in catalogue.state_machines:
            values = {
                placeholder: (
                    f"https://sqs.{region}.amazonaws.com/{ACCOUNT}/{catalogue.queue(key).name}"
                    if kind == "queue"
                    else catalogue.event_bus
                )
                for placeholder, (kind, key) in machine.substitutions.items()
            }
            try:
                definition = render_definition((directory / machine.definition_file).read_text(), values)
                sfn.create_state_machine(
                    name=machine.name,
                    definition=definition,
                    roleArn=f"arn:aws:iam::{ACCOUNT}:role/{machine.name}",
                )
            except Exception as error:  # moto's parse errors come back as ClientErrors of any code
                problems.append(f"statemachines/{machine.definition_file}: {str(error)[:600]}")
    detail = f"{len(catalogue.state_machines)} catalogue state machine(s) created with execution on"
    return Outcome(name, not problems, time.monotonic() - started, detail, tuple(problems))
