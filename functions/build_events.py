"""Lambda on the build-events queue: CodeBuild's "Build State Change" events of Railyard's builds
(an EventBridge rule on the default bus routes them here). Each one ends the Build step that waits
for that build: the task runner records the result and completes the step's task token."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib.wiring import container

logger = Logger(service="railyard-build-events")


def record_handler(record: SQSRecord) -> None:
    from chalicelib.adapters.builds.codebuild import build_state_change, event_deployment_id

    event = json.loads(record.body)
    change = build_state_change(event)  # ValueError for anything else: retried, then the DLQ
    logger.thread_safe_append_keys(correlation_id=event_deployment_id(event), build_id=change.build_id)
    container().task_runner.build_changed(change)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    processor = BatchProcessor(event_type=EventType.SQS)  # per call: it holds per-batch state
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
