"""Lambda on the notifications queue: every deployment event on Railyard's bus (the catalogue's
notify rule routes them here) becomes one structured log line, the cloud's counterpart of the line
`railyard dev` prints on its terminal (railyard/localdev/console.py: `deployment dep_… → SUCCESS`).

After the log line, the event goes to the project's outgoing webhooks: one message per webhook that
wants it on the webhook-deliveries queue, whose consumer signs, POSTs and retries
(functions/webhook_deliveries.py, docs/webhooks.md). A duplicate delivery (SQS delivers at least
once) repeats the log line and makes the same delivery messages again, which find their delivery
already under way (chalicelib/domain/webhook_delivery.py)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib.domain.events import Envelope

logger = Logger(service="railyard-notifications")


def describe(envelope: Envelope) -> str:
    """The line a person reads, as the local terminal words it."""
    data, name = envelope.data, envelope.metadata.event_name
    deployment = f"deployment {envelope.metadata.correlation_id}"
    if name == "deployment.completed":
        return f"{deployment} → {data['status']}"
    if name == "build.completed":
        return f"{deployment}: build completed" + (" (cached)" if data.get("cached") else "")
    return f"{deployment}: {name.removeprefix('deployment.').replace('.', ' ')}"


def record_handler(record: SQSRecord) -> None:
    envelope = Envelope.model_validate(json.loads(record.body)["detail"])
    data = envelope.typed_data().model_dump()  # raises on an unknown event or drift: the DLQ
    logger.info(
        describe(envelope),
        extra={"event": envelope.metadata.event_name, "event_time": envelope.metadata.created_at, **data},
        correlation_id=envelope.metadata.correlation_id,
    )
    fan_out(envelope)


def fan_out(envelope: Envelope) -> None:
    """The event to the project's webhooks (`railyard dev`'s notifications poller calls it too)."""
    from chalicelib.wiring import container

    container().webhook_fan_out.fan_out(
        envelope.metadata.event_name, dict(envelope.data), envelope.metadata.created_at
    )


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    processor = BatchProcessor(event_type=EventType.SQS)  # per call: it holds per-batch state
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
