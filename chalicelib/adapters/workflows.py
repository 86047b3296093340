"""Step Functions adapters: start, stop and describe the deploy state machine's executions, and
report task-token outcomes and heartbeats."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from chalicelib.adapters.aws import client, error_code
from chalicelib.domain.audit import EVENT_DETAIL_TYPE, AuditEntry, event_detail
from chalicelib.domain.errors import TaskExpired
from chalicelib.domain.limits import StepLimits, step_limits
from chalicelib.domain.models import Deployment, ServiceSettings
from chalicelib.domain.ports import WorkflowRun

_log = logging.getLogger(__name__)

# A token is gone when its task timed out or its execution ended (cancelled, failed): a heartbeat
# then raises TaskExpired (the step must stop); reporting an outcome is a no-op. AWS answers
# TaskTimedOut for a task that timed out; moto answers InvalidToken once the execution has ended
# (and, while the execution still runs, accepts a timed-out task's heartbeat: the worker's
# TaskLease covers that).
_GONE = {"TaskTimedOut", "TaskDoesNotExist", "InvalidToken", "ExecutionDoesNotExist"}
# moto also answers InvalidToken to a heartbeat that arrives before its interpreter has set up the
# task's heartbeat clock, a few milliseconds after it sent the message: a worker that beats as soon
# as it gets the message can be that fast. So InvalidToken is believed when it is said twice.
_UNSURE = "InvalidToken"
UNSURE_RETRY_SECONDS = 0.5
MARK_FAILED_STATE = "MarkFailed"  # its entered input carries the Catch's `failure` and the `limits`


class StepFunctionsWorkflow:
    def __init__(
        self,
        state_machine_arn: str,
        builds_beat: bool = True,
        limits: Callable[[ServiceSettings, bool], StepLimits] = step_limits,
    ) -> None:
        """`builds_beat`: the configured build runner heartbeats (the local one); CodeBuild's
        builds report only their end, so their Build step has a timeout and no heartbeat.
        `limits`: the steps' bounds for a deployment (tests shrink them)."""
        self._arn = state_machine_arn
        self._builds_beat = builds_beat
        self._limits = limits

    def start(self, deployment: Deployment, audit: AuditEntry | None = None) -> None:
        """`needsBuild`: no artifact yet, so the Prepare step looks for the upload and an earlier
        build; `audit`: the creating request's entry, whose event the AuditRecorded state emits."""
        body = {
            "deploymentId": deployment.id,
            "serviceId": deployment.service_id,
            "needsBuild": deployment.artifact_key is None,
            # Not filled yet (ADR 0034): the default settings' limits; Prepare gives the real ones.
            "limits": self.limits(deployment.config.settings if deployment.config else ServiceSettings()),
            "audit": {"detailType": EVENT_DETAIL_TYPE, "detail": event_detail(audit)} if audit else None,
        }
        try:
            client("stepfunctions").start_execution(
                stateMachineArn=self._arn, name=deployment.id, input=json.dumps(body)
            )
        except Exception as error:
            # Same name + same input is idempotent in AWS; treat "already exists" as done.
            if error_code(error) != "ExecutionAlreadyExists":
                raise

    def limits(self, settings: ServiceSettings) -> dict[str, Any]:
        return self._limits(settings, self._builds_beat).workflow_input()

    def stop(self, deployment_id: str, cause: str) -> None:
        try:
            client("stepfunctions").stop_execution(
                executionArn=self._execution_arn(deployment_id), error="Cancelled", cause=cause
            )
        except Exception as error:
            if error_code(error) not in {"ExecutionDoesNotExist", "ValidationException"}:
                raise

    def describe(self, deployment_id: str) -> WorkflowRun | None:
        sfn = client("stepfunctions")
        arn = self._execution_arn(deployment_id)
        try:
            execution = sfn.describe_execution(executionArn=arn)
        except Exception as error:
            if error_code(error) == "ExecutionDoesNotExist":
                return None
            raise
        status = str(execution["status"])
        if status == "RUNNING":
            return WorkflowRun(status)
        failure, limits = self._caught(sfn, arn)
        return WorkflowRun(
            status, failure=failure, limits=limits, error=execution.get("error"), cause=execution.get("cause")
        )

    @staticmethod
    def _caught(sfn: Any, arn: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """What MarkFailed was given, when the execution got that far: its entered input holds
        the failed step's Catch result and the execution's limits. Newest events first: a run
        that reached MarkFailed has it among its last few states."""
        events = sfn.get_execution_history(executionArn=arn, reverseOrder=True, maxResults=50)["events"]
        for event in events:
            details = event.get("stateEnteredEventDetails")
            if details and details.get("name") == MARK_FAILED_STATE:
                entered = json.loads(details.get("input") or "{}")
                return entered.get("failure"), entered.get("limits")
        return None, None

    def _execution_arn(self, deployment_id: str) -> str:
        return self._arn.replace(":stateMachine:", ":execution:") + ":" + deployment_id


class StepFunctionsCallbacks:
    def succeed(self, task_token: str, output: dict[str, Any]) -> None:
        self._report("send_task_success", taskToken=task_token, output=json.dumps(output))

    def fail(self, task_token: str, error: str, cause: str) -> None:
        self._report("send_task_failure", taskToken=task_token, error=error[:256], cause=cause[:32768])

    def heartbeat(self, task_token: str) -> None:
        for attempt in (1, 2):
            try:
                client("stepfunctions").send_task_heartbeat(taskToken=task_token)
                return
            except Exception as error:
                code = error_code(error)
                if code == _UNSURE and attempt == 1:
                    time.sleep(UNSURE_RETRY_SECONDS)
                    continue
                if code in _GONE:
                    raise TaskExpired(f"the workflow no longer waits for this step ({code})") from None
                raise

    @staticmethod
    def _report(operation: str, **params: Any) -> None:
        try:
            getattr(client("stepfunctions"), operation)(**params)
        except Exception as error:
            if error_code(error) in _GONE:
                _log.info("%s ignored: the task's execution has ended (%s)", operation, error_code(error))
                return
            raise
