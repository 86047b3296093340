"""Lambda on the metrics queue: every deployment event on Railyard's bus (the catalogue's metrics
rule routes them here) becomes CloudWatch metrics in the NAMESPACE, written with Powertools' Metrics
as embedded metric format lines in the function's log (CloudWatch extracts them: no PutMetricData
call, no permission beyond logging). Each metric carries the `stage` dimension and the event's own
time, so a queued event lands where it happened. What a user charts:

- DeploymentEvents (Count) by `event`: deployment.requested, build.started, build.completed,
  deployment.completed; with BuildsCached (Count, 0 or 1) on build.completed: its average is the
  build cache hit rate;
- Deployments (Count) by `status` (SUCCESS, FAILED, SKIPPED …): its share per status is the success
  rate; DeploymentDuration (Seconds) by `status`: from the deployment's creation (its record, read
  once) to its deployment.completed event;
- LiveReleaseEnds (Count) by `status` (CRASHED, COMPLETED): a live release that stopped for good
  after its deployment's SUCCESS (the deployment's second deployment.completed, put by the runtime's
  side: chalicelib/domain/live_end.py). Not a Deployment more, and no duration.

Dimensions are few on purpose (CloudWatch bills each combination of name and dimensions): no project,
service or deployment id. Per-project figures are kept in the table instead: each event is first
recorded on its deployment's metrics record (chalicelib/domain/metrics_service.py, read by
`GET /v1/projects/{id}/metrics`, docs/decisions/0039), once per deployment and event name.

Duplicates are dropped: SQS delivers at least once, and a repeat of an event already recorded (the
record's conditional write says so) emits nothing. An event of a deployment deleted since cannot be
recorded and is charted as it comes. A crash between the record and the emission loses that event's
EMF sample on the retry (one sample missing, never one counted twice).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib.domain.events import BuildCompleted, DeploymentCompleted, Envelope
from chalicelib.wiring import container

NAMESPACE = "Railyard"
metrics = Metrics(namespace=NAMESPACE)
# One metric set: its dimensions and its metrics by name (unit, value).
MetricSet = tuple[dict[str, str], dict[str, tuple[MetricUnit, float]]]


def measurements(envelope: Envelope, created_at: str | None) -> list[MetricSet]:
    """The metric sets of one event; `created_at`: its deployment's creation time, if known."""
    data, name = envelope.typed_data(), envelope.metadata.event_name  # raises on drift: the DLQ
    counted: dict[str, tuple[MetricUnit, float]] = {"DeploymentEvents": (MetricUnit.Count, 1)}
    if isinstance(data, BuildCompleted):
        counted["BuildsCached"] = (MetricUnit.Count, float(data.cached))
    sets: list[MetricSet] = [({"event": name}, counted)]
    if isinstance(data, DeploymentCompleted) and envelope.is_live_end:
        sets.append(({"status": data.status}, {"LiveReleaseEnds": (MetricUnit.Count, 1)}))
    elif isinstance(data, DeploymentCompleted):
        ended: dict[str, tuple[MetricUnit, float]] = {"Deployments": (MetricUnit.Count, 1)}
        if created_at:
            seconds = (_time(envelope.metadata.created_at) - _time(created_at)).total_seconds()
            ended["DeploymentDuration"] = (MetricUnit.Seconds, max(0.0, seconds))
        sets.append(({"status": data.status}, ended))
    return sets


def record_handler(record: SQSRecord) -> None:
    envelope = Envelope.model_validate(json.loads(record.body)["detail"])
    recorded = container().metrics.record(envelope)  # the per-project record, once per event
    if not recorded.new:
        return  # a repeat: recorded and charted already
    sets = measurements(envelope, recorded.created_at)
    for dimensions, values in sets:
        for dimension, label in dimensions.items():  # add_dimensions would add a second dimension set
            metrics.add_dimension(name=dimension, value=label)
        for metric, (unit, value) in values.items():
            metrics.add_metric(name=metric, unit=unit, value=value)
        metrics.set_timestamp(_time(envelope.metadata.created_at))
        metrics.flush_metrics()  # one EMF line per set: a set has one list of dimensions


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    metrics.set_default_dimensions(stage=container().settings.stage)
    processor = BatchProcessor(event_type=EventType.SQS)  # per call: it holds per-batch state
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
