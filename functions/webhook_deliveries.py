"""Lambda on the webhook-deliveries queue: one attempt of one outgoing webhook per record
(chalicelib/domain/webhook_delivery.py signs, POSTs, records the attempt and schedules the retry).
A record that raises (the table or KMS could not be reached) is reported failed and SQS retries it;
what the receiver answered is never an exception: it is recorded, and retried through the queue."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib.domain.webhook_delivery import DeliveryMessage
from chalicelib.wiring import container

logger = Logger(service="railyard-webhooks")


def record_handler(record: SQSRecord) -> None:
    message = DeliveryMessage.from_json(json.loads(record.body))
    delivery = container().webhook_deliveries.deliver(message)
    last = delivery.attempt(message.attempt)
    logger.info(
        f"webhook {message.webhook_id}: {message.event} attempt {message.attempt} → {delivery.state}",
        extra={"status": last.status if last else None, "error": last.error if last else None},
        correlation_id=message.delivery_id,
    )


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    processor = BatchProcessor(event_type=EventType.SQS)  # per call: it holds per-batch state
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
