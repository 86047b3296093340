"""Lambda on the build and deploy work queues: each message is one task-token step of the deploy
state machine (Build, Deploy or MarkFailed). One handler serves both queues; they differ only in
concurrency and timeout, which the queues and the function configuration set."""

from __future__ import annotations

import json
import time
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib.wiring import container

logger = Logger(service="railyard-task-worker")


def record_handler(record: SQSRecord) -> None:
    message = json.loads(record.body)
    logger.thread_safe_append_keys(correlation_id=message.get("deploymentId"))
    container().task_runner.run(message, queued_seconds=_queued_seconds(record))


def _queued_seconds(record: SQSRecord) -> float:
    """How long the message waited for a worker: its step's heartbeat clock ran meanwhile."""
    sent = record.raw_event.get("attributes", {}).get("SentTimestamp")
    return max(0.0, time.time() - int(sent) / 1000) if sent else 0.0


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # A processor per call: it holds per-batch state, and the local pollers call concurrently.
    processor = BatchProcessor(event_type=EventType.SQS)
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
