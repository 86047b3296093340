"""Step Functions adapters: start/stop the deploy state machine and report task-token outcomes."""

from __future__ import annotations

import json
import logging
from typing import Any

from chalicelib.adapters.aws import client, error_code
from chalicelib.domain.models import Deployment

_log = logging.getLogger(__name__)

# A token is gone when its execution ended (cancelled, timed out): reporting then is a no-op.
_GONE = {"TaskTimedOut", "TaskDoesNotExist", "InvalidToken", "ExecutionDoesNotExist"}


class StepFunctionsWorkflow:
    def __init__(self, state_machine_arn: str) -> None:
        self._arn = state_machine_arn

    def start(self, deployment: Deployment) -> None:
        body = {
            "deploymentId": deployment.id,
            "serviceId": deployment.service_id,
            "needsBuild": deployment.artifact_key is None,
        }
        try:
            client("stepfunctions").start_execution(
                stateMachineArn=self._arn, name=deployment.id, input=json.dumps(body)
            )
        except Exception as error:
            # Same name + same input is idempotent in AWS; treat "already exists" as done.
            if error_code(error) != "ExecutionAlreadyExists":
                raise

    def stop(self, deployment_id: str, cause: str) -> None:
        arn = self._arn.replace(":stateMachine:", ":execution:") + ":" + deployment_id
        try:
            client("stepfunctions").stop_execution(executionArn=arn, error="Cancelled", cause=cause)
        except Exception as error:
            if error_code(error) not in {"ExecutionDoesNotExist", "ValidationException"}:
                raise


class StepFunctionsCallbacks:
    def succeed(self, task_token: str, output: dict[str, Any]) -> None:
        self._call("send_task_success", taskToken=task_token, output=json.dumps(output))

    def fail(self, task_token: str, error: str, cause: str) -> None:
        self._call("send_task_failure", taskToken=task_token, error=error[:256], cause=cause[:32768])

    def heartbeat(self, task_token: str) -> None:
        self._call("send_task_heartbeat", taskToken=task_token)

    @staticmethod
    def _call(operation: str, **params: Any) -> None:
        try:
            getattr(client("stepfunctions"), operation)(**params)
        except Exception as error:
            if error_code(error) in _GONE:
                _log.info("%s ignored: the task's execution has ended (%s)", operation, error_code(error))
                return
            raise
