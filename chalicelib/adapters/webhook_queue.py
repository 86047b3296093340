"""The `DeliveryQueue` port on SQS: the catalogue's webhook-deliveries queue and its DLQ.

A retry is the next attempt's message sent with `DelaySeconds` (SQS holds it back, up to 900 s):
no worker sleeps. The last failed attempt's message is sent to the DLQ itself, where the
catalogue's DLQ alarm sees it. Queue URLs are looked up by name once per container.
"""

from __future__ import annotations

import json
from functools import cached_property
from typing import Any

from chalicelib.adapters.aws import client
from chalicelib.domain.webhook_delivery import SQS_MAX_DELAY_SECONDS, DeliveryMessage


class SqsDeliveryQueue:
    def __init__(self, queue_name: str, dlq_name: str, region: str | None = None) -> None:
        self._queue_name = queue_name
        self._dlq_name = dlq_name
        self._region = region

    def send(self, message: DeliveryMessage, delay_seconds: int) -> None:
        delay = max(0, min(int(delay_seconds), SQS_MAX_DELAY_SECONDS))
        self._sqs.send_message(
            QueueUrl=self._queue_url, MessageBody=json.dumps(message.to_json()), DelaySeconds=delay
        )

    def dead_letter(self, message: DeliveryMessage) -> None:
        self._sqs.send_message(QueueUrl=self._dlq_url, MessageBody=json.dumps(message.to_json()))

    @property
    def _sqs(self) -> Any:
        return client("sqs", self._region)

    @cached_property
    def _queue_url(self) -> str:
        return str(self._sqs.get_queue_url(QueueName=self._queue_name)["QueueUrl"])

    @cached_property
    def _dlq_url(self) -> str:
        return str(self._sqs.get_queue_url(QueueName=self._dlq_name)["QueueUrl"])
