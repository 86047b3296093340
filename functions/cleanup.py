"""Lambda on the cleanup queue: every `deployment.completed` event (an EventBridge rule routes them
here) applies retention to the deployment's service: releases beyond the kept ones are pruned,
old logs deleted (chalicelib/domain/retention.py, docs/decisions/0008). Idempotent, as SQS asks; so a
deployment's second `deployment.completed` (its live release crashed or completed after SUCCESS:
chalicelib/domain/live_end.py) only runs it again, and keeps the active release all the same."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib.domain.events import DeploymentCompleted, Envelope
from chalicelib.wiring import container

logger = Logger(service="railyard-cleanup")


def record_handler(record: SQSRecord) -> None:
    envelope = Envelope.model_validate(json.loads(record.body)["detail"])
    completed = DeploymentCompleted.model_validate(envelope.data)  # raises on any other event: the DLQ
    logger.thread_safe_append_keys(correlation_id=completed.deployment_id)
    report = container().retention.after_deployment(completed.deployment_id)
    logger.info("retention applied", extra={"retention": vars(report)})


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    processor = BatchProcessor(event_type=EventType.SQS)  # per call: it holds per-batch state
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
