"""tools/synth.py (make synth): the checks fail on the faults they exist for, name them (rule ids,
files, the missing tool), and the offline environment cannot reach an AWS account or a package index.
The real synth of the stacks runs in `make synth` itself; these run each check on small bad inputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tools.synth import guarded
from tools.synthcheck import asl, cdk, cfnlint, env
from tools.synthcheck.outcome import summary

DEPLOY_ASL = asl.STATEMACHINES / "deploy.asl.json"


def test_offline_environment_points_at_no_account_and_no_index(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_PROFILE", "production")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://example.invalid")
    offline = env.offline_env()
    assert "AWS_PROFILE" not in offline and "AWS_ENDPOINT_URL" not in offline
    assert offline["AWS_ACCESS_KEY_ID"] == "testing"
    assert offline["AWS_ENDPOINT_URL_STS"].startswith("http://127.0.0.1:")
    assert offline["PIP_NO_INDEX"] == "1"
    assert offline["PIP_FIND_LINKS"] == str(env.WHEELHOUSE)
    assert offline["CDK_DISABLE_CLI_TELEMETRY"] == "1"


def test_a_missing_tool_is_a_failed_check_with_a_one_line_cause(tmp_path: Path) -> None:
    def check() -> list:  # type: ignore[type-arg]
        env.require(env.ROOT / "node_modules" / ".bin" / "no-such-cdk")
        return []

    [outcome] = guarded("cdk synth ci", check)
    assert not outcome.ok
    assert outcome.detail == "node_modules/.bin/no-such-cdk not found: run make install"
    assert "FAIL  cdk synth ci" in summary([outcome], 1.0)


def test_templates_are_found_in_nested_assemblies_with_their_regions(tmp_path: Path) -> None:
    nested = tmp_path / "assembly-Prod"
    nested.mkdir()
    (tmp_path / "manifest.json").write_text(
        json.dumps(
            {
                "artifacts": {
                    "Data": {
                        "type": "aws:cloudformation:stack",
                        "environment": "aws://unknown-account/unknown-region",
                        "properties": {"templateFile": "Data.template.json"},
                    },
                    "Prod": {"type": "cdk:cloud-assembly", "properties": {"directoryName": nested.name}},
                    "Tree": {"type": "cdk:tree", "properties": {"file": "tree.json"}},
                }
            }
        )
    )
    (nested / "manifest.json").write_text(
        json.dumps(
            {
                "artifacts": {
                    "DataEu": {
                        "type": "aws:cloudformation:stack",
                        "environment": "aws://123456789012/eu-west-1",
                        "properties": {"templateFile": "DataEu.template.json"},
                    }
                }
            }
        )
    )
    found = cdk._stack_templates(tmp_path)
    assert {(t.path.name, t.region) for t in found} == {
        ("Data.template.json", env.DEFAULT_REGION),
        ("DataEu.template.json", "eu-west-1"),
    }


def test_cfn_lint_errors_fail_and_warnings_fail_only_when_strict(tmp_path: Path) -> None:
    template = tmp_path / "Bad.template.json"
    template.write_text(
        json.dumps(
            {
                "Parameters": {"Unused": {"Type": "String"}},  # W2001: a warning
                "Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": "x"}}},
            }
        )
    )
    report = tmp_path / "bad.cfn-lint.txt"
    outcome = cfnlint.lint("cfn-lint bad", [cfnlint.Template(template, "eu-west-1")], report)
    assert not outcome.ok
    assert any(p.startswith("error E3012 Bad.template.json Resources/Queue/") for p in outcome.problems)
    assert outcome.warnings == (
        "W2001 x1 in 1 template(s), e.g. W2001 Bad.template.json Parameters/Unused: "
        "Parameter Unused not used.",
    )
    assert {line.split()[1] for line in report.read_text().splitlines()} == {"E3012", "W2001"}

    only_warning = tmp_path / "Warn.template.json"
    unused_parameter = {
        "Parameters": {"Unused": {"Type": "String"}},
        "Resources": {"Q": {"Type": "AWS::SQS::Queue"}},
    }
    only_warning.write_text(json.dumps(unused_parameter))
    templates = [cfnlint.Template(only_warning, "us-east-1")]
    lenient = cfnlint.lint("cfn-lint warn", templates, report)
    strict = cfnlint.lint("cfn-lint warn", templates, report, strict=True)
    assert lenient.ok and "0 error(s), 1 warning(s)" in lenient.detail
    assert not strict.ok and strict.problems[0].startswith("warning W2001")


def test_statelint_accepts_the_placeholders_and_rejects_a_broken_machine(tmp_path: Path) -> None:
    assert asl.statelint().ok  # the real files, ${Placeholder}s and all
    (tmp_path / "broken.asl.json").write_text(
        json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}})
    )
    outcome = asl.statelint(tmp_path)
    assert not outcome.ok
    assert any('No state found named "Nowhere"' in p for p in outcome.problems)


def test_moto_rejects_a_state_type_statelint_never_sees_and_names_undeclared_files(tmp_path: Path) -> None:
    definition = json.loads(DEPLOY_ASL.read_text())
    definition["States"][definition["StartAt"]]["Type"] = "Choise"
    (tmp_path / DEPLOY_ASL.name).write_text(json.dumps(definition))
    shutil.copy(DEPLOY_ASL, tmp_path / "stray.asl.json")
    outcome = asl.moto_parse("us-east-1", tmp_path)
    assert not outcome.ok
    assert any(p.startswith("statemachines/deploy.asl.json: ") and "Choise" in p for p in outcome.problems)
    assert any("stray.asl.json is not declared in chalicelib/catalogue.py" in p for p in outcome.problems)


def test_a_wrong_context_value_is_named_by_the_synth(tmp_path: Path) -> None:
    target = cdk.SynthTarget("wrong-context", (("stage", "ci"), ("regions", "us-east-1,mars-north-1")))
    outcome, templates = cdk.synth(target, tmp_path / "assembly")
    assert not outcome.ok and templates == []
    assert any("context 'regions'" in p and "mars-north-1" in p for p in outcome.problems), outcome.problems
