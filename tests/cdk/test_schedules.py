"""The catalogue's schedules as synthesized for stage prod in three regions (conftest.py): in every
region an EventBridge rule invokes the sweep's Lambda at the catalogue's rate, without retries of a
failed run, and the sweep's role may read executions, write the table and the logs, put a live
release's end on the region's bus, and nothing that starts, stops or answers an execution. Its
cluster access is the runtime stack's (test_runtime_stack.py)."""

from __future__ import annotations

from typing import Any

from tests.cdk.conftest import CATALOGUE, REGIONS, Synthesized, listed, of, props, statements


def _sweep_function(workflow: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    (found,) = [
        (rid, r["Properties"])
        for rid, r in of(workflow, "AWS::Lambda::Function").items()
        if r["Properties"]["FunctionName"] == CATALOGUE.function_name("sweep")
    ]
    return found


def test_every_region_runs_the_sweep_every_minute_from_one_rule(cloud: Synthesized) -> None:
    (schedule,) = CATALOGUE.schedules
    assert schedule.rate_minutes == 1
    for region in REGIONS:
        workflow = cloud.by_region[region]["workflow"]
        function_id, function = _sweep_function(workflow)
        assert function["Handler"] == "functions.sweep.handler"
        assert function["Timeout"] < 60  # a run ends before the next one starts
        (rule,) = [r for r in props(workflow, "AWS::Events::Rule") if "ScheduleExpression" in r]
        assert rule["Name"] == CATALOGUE.schedule_rule_name("sweep")
        assert rule["ScheduleExpression"] == "rate(1 minute)"
        assert rule["State"] == "ENABLED"
        (target,) = rule["Targets"]
        assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}
        # The next run is the retry: a failed one is not run again, nor a stale one queued.
        assert target["RetryPolicy"] == {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60}
        # EventBridge, and only from this rule, may invoke it.
        (permission,) = [
            p
            for p in props(workflow, "AWS::Lambda::Permission")
            if p["FunctionName"] == {"Fn::GetAtt": [function_id, "Arn"]}
        ]
        assert permission["Principal"] == "events.amazonaws.com"
        assert "SourceArn" in permission


def test_the_sweep_reads_executions_and_writes_deployments_and_logs_only(cloud: Synthesized) -> None:
    workflow = cloud.primary["workflow"]
    _, function = _sweep_function(workflow)
    role_id = function["Role"]["Fn::GetAtt"][0]
    allowed = {
        action
        for policy in props(workflow, "AWS::IAM::Policy")
        if {"Ref": role_id} in policy["Roles"]
        for statement in statements(policy)
        for action in listed(statement["Action"])
    }
    assert {"states:DescribeExecution", "states:GetExecutionHistory", "dynamodb:Query"} <= allowed
    assert {"dynamodb:PutItem", "s3:PutObject"} <= allowed  # the end, and its deploy-log line
    # The end's deployment.completed, on this region's bus only (chalicelib/domain/live_end.py).
    puts = [
        statement
        for policy in props(workflow, "AWS::IAM::Policy")
        if {"Ref": role_id} in policy["Roles"]
        for statement in statements(policy)
        if "events:PutEvents" in listed(statement["Action"])
    ]
    assert len(puts) == 1 and puts[0]["Resource"] != "*"
    forbidden = {
        "states:StartExecution",
        "states:StopExecution",
        "states:SendTaskSuccess",
        "states:SendTaskFailure",
        "kms:Decrypt",
        "sqs:ReceiveMessage",
    }
    assert not allowed & forbidden
    assert not {a for a in allowed if a.split(":")[0] in {"codebuild", "iam", "ssm", "eks"}}


def test_the_sweep_is_alarmed_on_like_every_function(cloud: Synthesized) -> None:
    names = {a["AlarmName"] for a in props(cloud.primary["observability"], "AWS::CloudWatch::Alarm")}
    name = CATALOGUE.function_name("sweep")
    assert {f"{name}-errors", f"{name}-throttles"} <= names
