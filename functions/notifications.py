"""Lambda on the notifications queue: every deployment event on Railyard's bus (the catalogue's
notify rule routes them here) becomes one structured log line, the cloud's counterpart of the line
`railyard dev` prints on its terminal (railyard/localdev/console.py: `deployment dep_… → SUCCESS`).

This is the seam where outgoing notifications plug in: issue 12's user webhooks (signed, retried
through SQS) will be called from `record_handler`, after the log line. Until then a duplicate
delivery (SQS delivers at least once) only repeats a log line."""

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


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    processor = BatchProcessor(event_type=EventType.SQS)  # per call: it holds per-batch state
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
