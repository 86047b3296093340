"""Lambda on the execution-events queue: Step Functions' status changes of deploy executions that
ended FAILED, TIMED_OUT or ABORTED (an EventBridge rule on the default bus routes them here). Each one
ends its deployment FAILED, naming the step and the limit it hit, when no worker recorded the end
(the workers were down when MarkFailed ran). Locally the platform's sweep does the same."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib.wiring import container

logger = Logger(service="railyard-execution-events")


def record_handler(record: SQSRecord) -> None:
    deployment_id = str(json.loads(record.body)["detail"]["name"])  # execution name = deployment id
    logger.thread_safe_append_keys(correlation_id=deployment_id)
    container().sweeper.settle(deployment_id)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    processor = BatchProcessor(event_type=EventType.SQS)  # per call: it holds per-batch state
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
