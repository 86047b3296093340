"""WorkflowStack: the state machines of statemachines/*.asl.json, their placeholders filled from the
catalogue, every queue consumer of the catalogue (functions/) as a Lambda on its SQS queue, and
every schedule of the catalogue as a Lambda an EventBridge rule invokes at its rate.

Each consumer reports partial batch failures, has its batch size, maximum concurrency and a timeout
that fits its queue's visibility timeout, and a role that may touch only what its handler uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_events as events_
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from chalicelib.catalogue import LAMBDA_MAX_TIMEOUT, Catalogue, Schedule
from chalicelib.statemachines import STATEMACHINES_DIR, render_definition
from stacks.api import API_STAGE as LIVE_STAGE  # Chalice's one stage name, the WebSocket API's too
from stacks.environment import lambda_environment
from stacks.events import EventsStack
from stacks.keys import grant_open, grant_open_webhook_secrets
from stacks.live import URL_VARIABLE, grant_manage_connections, websocket_url
from stacks.packaging import dependency_layer_zip, lambda_runtime, worker_code
from stacks.refs import DataRefs, StateMachineRefs, grant_data
from stacks.stage import StageContext

LOG_RETENTION = logs.RetentionDays.ONE_MONTH


@dataclass(frozen=True)
class _Access:
    """What one consumer's handler touches: the table ("read_write", "read" or None), buckets
    read-write and read-only, whether it answers task tokens and whether it starts/reads executions."""

    table: str | None = "read_write"
    read_write: tuple[str, ...] = ()
    read: tuple[str, ...] = ()
    answers_tokens: bool = False
    controls: bool = False
    describes: bool = False  # reads executions only (the sweep: did it ever start?)
    opens_sealed: bool = False  # decrypts sealed variables for the runtime (the deploy worker only)
    sends_to: tuple[str, ...] = ()  # queue keys it sends messages to (and to their DLQs)
    opens_webhook_secrets: bool = False  # decrypts webhooks' signing secrets, and nothing else
    puts_events: bool = False  # puts events on Railyard's bus itself (a live release's end)


# Keyed by Consumer.key; a consumer missing here fails the synth.
_ACCESS: dict[str, _Access] = {
    "build-worker": _Access(read_write=("sources", "artifacts", "logs"), answers_tokens=True, controls=True),
    "deploy-worker": _Access(
        read_write=("logs",),
        read=("sources", "artifacts"),
        answers_tokens=True,
        controls=True,
        opens_sealed=True,
    ),
    "build-events": _Access(
        read_write=("artifacts", "logs"), read=("sources",), answers_tokens=True, controls=True
    ),
    "cleanup": _Access(read_write=("artifacts", "logs")),
    "execution-events": _Access(read_write=("logs",), controls=True),
    # Stores the pushed commit's source and starts its deployment (docs/decisions/0035).
    "git-events": _Access(read_write=("sources", "logs"), controls=True),
    # A log line per event, and a message per webhook that wants it (its project's webhooks and
    # the deployment, service, environment and project the payload names).
    "notifications": _Access(table="read", sends_to=("webhook-deliveries",)),
    # One attempt: the delivery record, its webhook's sealed secret, the retry or the DLQ.
    "webhook-deliveries": _Access(sends_to=("webhook-deliveries",), opens_webhook_secrets=True),
    # Reads the deployment (its place and creation time) and writes its metrics record (ADR 0039).
    "metrics": _Access(table="read_write"),
    # Writes the end and its log line, and puts the end's deployment.completed on the bus
    # (chalicelib/domain/live_end.py); the cluster access is the runtime stack's (stacks/runtime.py).
    "sweep": _Access(read_write=("logs",), describes=True, puts_events=True),
}


class WorkflowStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: StageContext,
        events: EventsStack,
        workdir: Path,
        websocket_api_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        catalogue = stage.catalogue
        self.state_machines = {
            machine.key: self._state_machine(catalogue, machine.key, events)
            for machine in catalogue.state_machines
        }
        deploy_machine = StateMachineRefs.of(self, catalogue.deploy_state_machine)
        data = DataRefs.imported(self, stage.catalogue)
        layer = lambda_.LayerVersion(
            self,
            "Dependencies",
            code=lambda_.Code.from_asset(str(dependency_layer_zip())),
            compatible_runtimes=[lambda_runtime()],
            description="requirements.txt, as Chalice's automatic layer packs it for the API",
        )
        code = worker_code(workdir)
        environment = lambda_environment(stage)
        if websocket_api_id is not None:  # live updates: pushes from where deployments and logs are written
            environment[URL_VARIABLE] = websocket_url(websocket_api_id, LIVE_STAGE)
        self.functions: dict[str, lambda_.Function] = {}
        for consumer in catalogue.consumers:
            queue = catalogue.queue(consumer.queue)
            if not consumer.timeout <= min(queue.visibility_timeout, LAMBDA_MAX_TIMEOUT):
                raise ValueError(
                    f"consumer {consumer.key}: timeout {consumer.timeout} s exceeds its queue's visibility "
                    f"timeout ({queue.visibility_timeout} s) or Lambda's {LAMBDA_MAX_TIMEOUT} s"
                )
            function = self._function(
                catalogue,
                consumer.key,
                consumer.handler,
                consumer.timeout,
                consumer.memory,
                code,
                layer,
                environment,
            )
            function.add_event_source(
                sources.SqsEventSource(
                    events.queues[consumer.queue],
                    batch_size=consumer.batch_size,
                    max_concurrency=consumer.max_concurrency,
                    report_batch_item_failures=True,
                )
            )
            self.functions[consumer.key] = function
        for schedule in catalogue.schedules:
            self.functions[schedule.key] = self._scheduled(catalogue, schedule, code, layer, environment)
        for key, function in self.functions.items():
            access = _ACCESS[key]
            role = function.role
            assert role is not None
            grant_data(role, data, table=access.table, read_write=access.read_write, read=access.read)
            if websocket_api_id is not None and (access.table == "read_write" or access.read_write):
                grant_manage_connections(role, websocket_api_id, LIVE_STAGE)
            if access.answers_tokens:
                deploy_machine.grant_task_response(role)
            if access.controls:
                deploy_machine.grant_control(role)
            elif access.describes:
                deploy_machine.grant_describe(role)
            if access.opens_sealed:
                grant_open(role, stage)
            if access.opens_webhook_secrets:
                grant_open_webhook_secrets(role, stage)
            if access.puts_events:
                events.bus.grant_put_events_to(role)
            for queue_key in access.sends_to:
                events.queues[queue_key].grant_send_messages(role)
                events.dlqs[queue_key].grant_send_messages(role)
        self.build_worker_role: iam.IRole = self._role_of("build-worker")
        self.deploy_worker_role: iam.IRole = self._role_of("deploy-worker")
        # The roles that act on a cluster's releases: the runtime stack gives each EKS access.
        self.cluster_roles: dict[str, iam.IRole] = {
            "DeployWorker": self.deploy_worker_role,
            "Sweep": self._role_of("sweep"),
        }

    def _state_machine(self, catalogue: Catalogue, key: str, events: EventsStack) -> sfn.StateMachine:
        machine = next(m for m in catalogue.state_machines if m.key == key)
        values: dict[str, str] = {}
        for placeholder, (kind, ref) in machine.substitutions.items():
            if kind == "queue":
                values[placeholder] = events.queues[ref].queue_url
            elif kind == "bus":
                values[placeholder] = events.bus.event_bus_name
            else:
                raise ValueError(f"state machine {machine.name}: no CDK value for a {kind!r} substitution")
        # render_definition raises on a placeholder without a value: none is left for CloudFormation.
        definition = render_definition((STATEMACHINES_DIR / machine.definition_file).read_text(), values)
        state_machine = sfn.StateMachine(
            self,
            f"{key.title()}StateMachine",
            state_machine_name=machine.name,
            definition_body=sfn.DefinitionBody.from_string(definition),
        )
        # What the definition's tasks call (sqs:sendMessage, events:putEvents), on its resources only.
        for kind, ref in machine.substitutions.values():
            if kind == "queue":
                events.queues[ref].grant_send_messages(state_machine)
            elif kind == "bus":
                events.bus.grant_put_events_to(state_machine)
        return state_machine

    def _scheduled(
        self,
        catalogue: Catalogue,
        schedule: Schedule,
        code: lambda_.Code,
        layer: lambda_.ILayerVersion,
        environment: dict[str, str],
    ) -> lambda_.Function:
        """The schedule's function and the rule that invokes it. No retry of a failed run and no
        run older than the rate: the next run is the retry, and queued runs would only pile up."""
        if not schedule.timeout < schedule.rate_minutes * 60:
            raise ValueError(f"schedule {schedule.key}: timeout {schedule.timeout} s is not under its rate")
        function = self._function(
            catalogue,
            schedule.key,
            schedule.handler,
            schedule.timeout,
            schedule.memory,
            code,
            layer,
            environment,
        )
        rate = Duration.minutes(schedule.rate_minutes)
        events_.Rule(
            self,
            f"{schedule.key.title().replace('-', '')}Schedule",
            rule_name=catalogue.schedule_rule_name(schedule.key),
            schedule=events_.Schedule.rate(rate),
            targets=[targets.LambdaFunction(function, retry_attempts=0, max_event_age=rate)],
        )
        return function

    def _function(
        self,
        catalogue: Catalogue,
        key: str,
        handler: str,
        timeout: int,
        memory: int,
        code: lambda_.Code,
        layer: lambda_.ILayerVersion,
        environment: dict[str, str],
    ) -> lambda_.Function:
        name = catalogue.function_name(key)
        return lambda_.Function(
            self,
            f"{key.title().replace('-', '')}Function",
            function_name=name,
            runtime=lambda_runtime(),
            handler=handler,
            code=code,
            layers=[layer],
            memory_size=memory,
            timeout=Duration.seconds(timeout),
            environment=environment,
            log_group=logs.LogGroup(
                self, f"{key}-logs", log_group_name=f"/aws/lambda/{name}", retention=LOG_RETENTION
            ),
        )

    def _role_of(self, key: str) -> iam.IRole:
        role = self.functions[key].role
        assert role is not None
        return role
