"""The one catalogue of cloud resources Railyard needs.

Every table, bucket, bus, rule, queue, DLQ and state-machine placeholder is declared here once. The
local bootstrap (railyard/localdev/bootstrap.py) creates exactly these on moto or LocalStack, and the
CDK stacks (a later issue) read the same declarations. Names are suffixed with the stage so two
stacks can share an account.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Table:
    key: str
    name: str
    gsis: tuple[str, ...] = ("gsi1",)


@dataclass(frozen=True)
class Bucket:
    key: str
    name: str


@dataclass(frozen=True)
class Queue:
    key: str
    name: str
    visibility_timeout: int
    max_receive_count: int = 3  # then the message moves to the queue's DLQ

    @property
    def dlq_name(self) -> str:
        return f"{self.name}-dlq"


@dataclass(frozen=True)
class Rule:
    name: str
    event_pattern: dict[str, list[str]]
    target_queues: tuple[str, ...]  # Queue keys; moto delivers only to SQS (LOCAL_AWS_FACTS.md)


@dataclass(frozen=True)
class StateMachine:
    key: str
    name: str
    definition_file: str  # under statemachines/
    # ${Placeholder} -> ("queue"|"bus"|"table", key): filled with the resource's URL/name/ARN
    substitutions: dict[str, tuple[str, str]] = field(default_factory=dict)


EVENT_SOURCE = "railyard"


@dataclass(frozen=True)
class Catalogue:
    stage: str

    def _n(self, base: str) -> str:
        return f"railyard-{self.stage}-{base}"

    @property
    def table(self) -> Table:
        return Table(key="main", name=self._n("main"))

    @property
    def buckets(self) -> tuple[Bucket, ...]:
        return (
            Bucket(key="sources", name=self._n("sources")),
            Bucket(key="artifacts", name=self._n("artifacts")),
            Bucket(key="logs", name=self._n("logs")),
        )

    @property
    def event_bus(self) -> str:
        return self._n("bus")

    @property
    def queues(self) -> tuple[Queue, ...]:
        return (
            # Work queues carry task tokens; the visibility timeout outlives the longest step (the
            # ASL's TimeoutSeconds: 7500 s build, 3900 s deploy) so a running step is not handed to a
            # second worker.
            Queue(key="build", name=self._n("build"), visibility_timeout=7800),
            Queue(key="deploy", name=self._n("deploy"), visibility_timeout=4200),
            # Event fan-out queues (EventBridge rules target these).
            Queue(key="notifications", name=self._n("notifications"), visibility_timeout=60),
            Queue(key="metrics", name=self._n("metrics"), visibility_timeout=60),
            Queue(key="cleanup", name=self._n("cleanup"), visibility_timeout=300),
        )

    @property
    def rules(self) -> tuple[Rule, ...]:
        every_deployment_event = {
            "source": [EVENT_SOURCE],
            "detail-type": [
                "deployment.requested",
                "build.started",
                "build.completed",
                "deployment.completed",
            ],
        }
        return (
            Rule(self._n("notify"), every_deployment_event, ("notifications",)),
            Rule(self._n("metrics"), every_deployment_event, ("metrics",)),
            Rule(
                self._n("cleanup"),
                {"source": [EVENT_SOURCE], "detail-type": ["deployment.completed"]},
                ("cleanup",),
            ),
        )

    @property
    def state_machines(self) -> tuple[StateMachine, ...]:
        return (
            StateMachine(
                key="deploy",
                name=self._n("deploy"),
                definition_file="deploy.asl.json",
                substitutions={
                    "BuildQueueUrl": ("queue", "build"),
                    "DeployQueueUrl": ("queue", "deploy"),
                    "EventBusName": ("bus", "main"),
                },
            ),
        )

    def bucket(self, key: str) -> Bucket:
        return next(b for b in self.buckets if b.key == key)

    def queue(self, key: str) -> Queue:
        return next(q for q in self.queues if q.key == key)
