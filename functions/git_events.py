"""Lambda on the git-events queue: the `git.push` and `git.pull_request` events the GitHub webhook
put on Railyard's bus (the catalogue's git-events rule routes them here). A push to a linked branch
becomes a deployment of the commit (chalicelib/domain/git_deploys.py), once per delivery; a pull
request against one gets its own environment (chalicelib/domain/git_previews.py)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib.domain.events import Envelope, GitPullRequest, GitPushed
from chalicelib.wiring import container

logger = Logger(service="railyard-git-events")


def record_handler(record: SQSRecord) -> None:
    envelope = Envelope.model_validate(json.loads(record.body)["detail"])
    event = envelope.typed_data()  # raises on an unknown event or drift: retried, then the DLQ
    logger.thread_safe_append_keys(correlation_id=envelope.metadata.correlation_id)
    if isinstance(event, GitPushed):
        deployment = container().git_deploys.pushed(event)
        logger.info("push handled", extra={"deployment_id": deployment.id if deployment else None})
    elif isinstance(event, GitPullRequest):  # its environment: created and deployed, or torn down
        outcome = container().git_previews.changed(event)
        logger.info(
            "pull request handled", extra={"action": event.action, "number": event.number, **outcome.log()}
        )


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    processor = BatchProcessor(event_type=EventType.SQS)  # per call: it holds per-batch state
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)
