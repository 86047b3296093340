"""Local stand-in for Lambda's SQS event source mapping.

Each poller long-polls one work queue and calls a `functions/` handler with exactly the event Lambda
would send (a batch of records in the `aws:sqs` shape); records the handler reports in
`batchItemFailures` stay on the queue to be retried (and reach the DLQ after maxReceiveCount),
the others are deleted, as with `ReportBatchItemFailures`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.adapters.aws import client

_log = logging.getLogger(__name__)
# How long one ReceiveMessage waits for a message (SQS allows up to 20 s). A message that arrives
# meanwhile is answered at once, so a longer wait costs no latency; it only makes an idle poller ask
# less often: `railyard dev` runs about 14 of them, and at 1 s they cost it ~0.09 of a core when idle.
# A poller notices its stop event only between waits, so harnesses that stop pollers between tests
# in one process (tests/support/workflow.py) keep the default of 1 s.
PLATFORM_WAIT_SECONDS = 10
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that Powertools reads."""

    function_name: str
    aws_request_id: str
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = ""

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": m.get("Attributes", {}),
                "messageAttributes": m.get("MessageAttributes", {}),
                "md5OfBody": m.get("MD5OfBody") or hashlib.md5(m["Body"].encode()).hexdigest(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


class QueuePoller(threading.Thread):
    def __init__(
        self,
        name: str,
        queue_url: str,
        queue_arn: str,
        handler: Handler,
        stop: threading.Event,
        region: str = "us-east-1",
        batch_size: int = 1,
        wait_seconds: int = 1,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self._wait_seconds = wait_seconds
        self._url = queue_url
        self._arn = queue_arn
        self._handler = handler
        self._stop_event = stop
        self._region = region
        self._batch_size = batch_size

    def run(self) -> None:
        sqs = client("sqs")
        while not self._stop_event.is_set():
            try:
                messages = sqs.receive_message(
                    QueueUrl=self._url,
                    MaxNumberOfMessages=self._batch_size,
                    WaitTimeSeconds=self._wait_seconds,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
            except Exception:
                if self._stop_event.is_set():
                    return
                _log.exception("%s: receive failed", self.name)
                self._stop_event.wait(1.0)
                continue
            if messages:
                self._deliver(sqs, messages)

    def _deliver(self, sqs: Any, messages: list[dict[str, Any]]) -> None:
        event = sqs_event(messages, self._arn, self._region)
        context = LambdaContext(function_name=self.name, aws_request_id=str(uuid.uuid4()))
        try:
            result = self._handler(event, context) or {}
            failed = {item["itemIdentifier"] for item in result.get("batchItemFailures", [])}
        except Exception:
            _log.exception("%s: handler raised; the whole batch will be retried", self.name)
            return
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            sqs.delete_message_batch(
                QueueUrl=self._url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
