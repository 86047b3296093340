"""The one catalogue of cloud resources Railyard needs.

Every table, bucket, bus, rule, queue, DLQ and state-machine placeholder is declared here once. The
local bootstrap (railyard/localdev/bootstrap.py) creates exactly these on moto or LocalStack, and the
CDK stacks (a later issue) read the same declarations. Names are suffixed with the stage so two
stacks can share an account.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Table:
    key: str
    name: str
    gsis: tuple[str, ...] = ("gsi1", "gsi2")  # gsi2: sparse, deployments in progress (dynamo.py)


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
    event_pattern: dict[str, Any]
    target_queues: tuple[str, ...]  # Queue keys; moto delivers only to SQS (LOCAL_AWS_FACTS.md)
    # None: Railyard's own bus. AWS services (CodeBuild) publish on the account's "default" bus.
    event_bus: str | None = None


@dataclass(frozen=True)
class StateMachine:
    key: str
    name: str
    definition_file: str  # under statemachines/
    # ${Placeholder} -> ("queue"|"bus"|"table", key): filled with the resource's URL/name/ARN
    substitutions: dict[str, tuple[str, str]] = field(default_factory=dict)


EVENT_SOURCE = "railyard"
DEFAULT_BUS = "default"
# The CodeBuild build statuses that end a build (TIMED_OUT and FAULT appear in BatchGetBuilds; the
# rule lists them too so that no ending is missed if the event ever reports them).
CODEBUILD_ENDED = ("SUCCEEDED", "FAILED", "STOPPED", "TIMED_OUT", "FAULT")
# The ends of a deploy execution that may leave its deployment unrecorded (no worker ran MarkFailed,
# or it was stopped); SUCCEEDED executions recorded their end in their own steps.
EXECUTION_ENDED_BADLY = ("FAILED", "TIMED_OUT", "ABORTED")


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
            # Work queues carry task tokens; the visibility timeout outlives the longest step
            # (chalicelib/domain/limits.py: a 7200 s buildTimeout + 300 s, a 3900 s deploy) so a
            # running step is not handed to a second worker.
            Queue(key="build", name=self._n("build"), visibility_timeout=7800),
            Queue(key="deploy", name=self._n("deploy"), visibility_timeout=4200),
            # Event fan-out queues (EventBridge rules target these).
            Queue(key="notifications", name=self._n("notifications"), visibility_timeout=60),
            Queue(key="metrics", name=self._n("metrics"), visibility_timeout=60),
            Queue(key="cleanup", name=self._n("cleanup"), visibility_timeout=300),
            # CodeBuild's state-change events of our builds (functions/build_events.py).
            Queue(key="build-events", name=self._n("build-events"), visibility_timeout=120),
            # Step Functions' status changes of deploy executions that ended badly
            # (functions/execution_events.py; moto emits none, the local sweeper stands in).
            Queue(key="execution-events", name=self._n("execution-events"), visibility_timeout=120),
        )

    @property
    def codebuild_project(self) -> str:
        """The CodeBuild project every build runs in (RAILYARD_BUILDER=codebuild)."""
        return self._n("builds")

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
            Rule(
                self._n("codebuild-ended"),
                {
                    "source": ["aws.codebuild"],
                    "detail-type": ["CodeBuild Build State Change"],
                    "detail": {
                        "project-name": [self.codebuild_project],
                        "build-status": list(CODEBUILD_ENDED),
                    },
                },
                ("build-events",),
                event_bus=DEFAULT_BUS,
            ),
            Rule(
                self._n("deploy-execution-ended"),
                {
                    "source": ["aws.states"],
                    "detail-type": ["Step Functions Execution Status Change"],
                    "detail": {
                        "status": list(EXECUTION_ENDED_BADLY),
                        "stateMachineArn": [{"suffix": f":stateMachine:{self.deploy_state_machine}"}],
                    },
                },
                ("execution-events",),
                event_bus=DEFAULT_BUS,
            ),
        )

    @property
    def deploy_state_machine(self) -> str:
        return self._n("deploy")

    @property
    def state_machines(self) -> tuple[StateMachine, ...]:
        return (
            StateMachine(
                key="deploy",
                name=self.deploy_state_machine,
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
