"""EventsStack: Railyard's event bus, every rule of the catalogue (on that bus, or on the account's
default bus for AWS services' events), every queue with its DLQ and redrive policy, and an alarm
on each DLQ. Regional: every region of a stage has its own."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from chalicelib.catalogue import DEFAULT_BUS, DLQ_ALARM_THRESHOLD
from stacks.stage import StageContext

DLQ_RETENTION = Duration.days(14)  # SQS's longest: time to read what failed and redrive it


class EventsStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, stage: StageContext, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        catalogue = stage.catalogue
        self.bus = events.EventBus(self, "Bus", event_bus_name=catalogue.event_bus)
        default_bus = events.EventBus.from_event_bus_name(self, "DefaultBus", DEFAULT_BUS)
        self.queues: dict[str, sqs.Queue] = {}
        self.dlqs: dict[str, sqs.Queue] = {}
        self.dlq_alarms: dict[str, cloudwatch.Alarm] = {}
        for queue in catalogue.queues:
            ident = _ident(queue.key)
            dlq = sqs.Queue(
                self,
                f"{ident}Dlq",
                queue_name=queue.dlq_name,
                retention_period=DLQ_RETENTION,
                encryption=sqs.QueueEncryption.SQS_MANAGED,
                enforce_ssl=True,
            )
            self.dlqs[queue.key] = dlq
            self.queues[queue.key] = sqs.Queue(
                self,
                f"{ident}Queue",
                queue_name=queue.name,
                visibility_timeout=Duration.seconds(queue.visibility_timeout),
                dead_letter_queue=sqs.DeadLetterQueue(queue=dlq, max_receive_count=queue.max_receive_count),
                encryption=sqs.QueueEncryption.SQS_MANAGED,
                enforce_ssl=True,
            )
            self.dlq_alarms[queue.key] = cloudwatch.Alarm(
                self,
                f"{ident}DlqAlarm",
                alarm_name=f"{queue.dlq_name}-not-empty",
                alarm_description=f"Messages of {queue.name} failed {queue.max_receive_count} times",
                metric=dlq.metric_approximate_number_of_messages_visible(
                    period=Duration.minutes(1), statistic="Maximum"
                ),
                threshold=DLQ_ALARM_THRESHOLD,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
        for rule in catalogue.rules:
            events.Rule(
                self,
                rule.name,
                rule_name=rule.name,
                event_bus=self.bus if rule.event_bus is None else default_bus,
                event_pattern=_pattern(rule.event_pattern),
                targets=[targets.SqsQueue(self.queues[key]) for key in rule.target_queues],
            )


def _ident(key: str) -> str:
    return "".join(part.title() for part in key.split("-"))


def _pattern(pattern: dict[str, Any]) -> events.EventPattern:
    """The catalogue's pattern as CDK's EventPattern (whose fields are snake_case)."""
    unknown = set(pattern) - {"source", "detail-type", "detail"}
    assert not unknown, f"stacks/events.py cannot translate event pattern fields {unknown}"
    return events.EventPattern(
        source=pattern.get("source"),
        detail_type=pattern.get("detail-type"),
        detail=pattern.get("detail"),
    )
