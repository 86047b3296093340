"""ObservabilityStack: the alarms that say Railyard is broken (deploy executions failing or timing
out, the HTTP API's 5xx, Lambda errors and throttles per function; the DLQ alarms live with their
queues in the events stack) and one CloudWatch dashboard with those signals and the queues' depths."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, Fn, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from stacks.api import API_STAGE, http_api_id_export
from stacks.events import EventsStack
from stacks.stage import StageContext
from stacks.workflow import WorkflowStack

PERIOD = Duration.minutes(5)
API_5XX_RATE = 0.05  # 5 % of requests in 5 minutes: a broken deploy of the API, not one bad request
LAMBDA_ERRORS = 1  # a worker's handler raising means a record goes back to its queue: look at it
LAMBDA_THROTTLES = 1


class ObservabilityStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: StageContext,
        events: EventsStack,
        workflow: WorkflowStack,
        api_name: str,
        api_function_name: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        catalogue = stage.catalogue
        self.alarms: list[cloudwatch.Alarm] = []
        for key, machine in workflow.state_machines.items():
            name = next(m.name for m in catalogue.state_machines if m.key == key)
            self._alarm(f"{name}-failed", machine.metric_failed(period=PERIOD, statistic="Sum"), 1)
            self._alarm(f"{name}-timed-out", machine.metric_timed_out(period=PERIOD, statistic="Sum"), 1)
        # The HTTP API's metrics are keyed by its id and stage (an HTTP API has no ApiName dimension);
        # the id is the API stack's named export (stacks/api.py), deployed first: this stack already
        # depends on the API stack through `api_function_name`.
        api_5xx = cloudwatch.Metric(
            namespace="AWS/ApiGateway",
            metric_name="5xx",
            dimensions_map={"ApiId": Fn.import_value(http_api_id_export(catalogue)), "Stage": API_STAGE},
            period=PERIOD,
            statistic="Average",  # 5xx is 0/1 per request: its average is the error rate
        )
        self._alarm(f"{api_name}-5xx", api_5xx, API_5XX_RATE)
        functions = {"api": api_function_name} | {
            key: function.function_name for key, function in workflow.functions.items()
        }
        lambda_widgets: list[cloudwatch.IWidget] = []
        for key, function_name in functions.items():
            errors = _lambda_metric("Errors", function_name)
            throttles = _lambda_metric("Throttles", function_name)
            self._alarm(f"{catalogue.function_name(key)}-errors", errors, LAMBDA_ERRORS)
            self._alarm(f"{catalogue.function_name(key)}-throttles", throttles, LAMBDA_THROTTLES)
            lambda_widgets.append(
                cloudwatch.GraphWidget(title=f"{key}: errors, throttles", left=[errors, throttles])
            )
        # Dashboards are global to the account: the name carries the region.
        name = catalogue.dashboard_name(stage.region)
        dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=name)
        dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(self.alarms), width=24)
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Deploy executions",
                left=[
                    metric(period=PERIOD, statistic="Sum")
                    for machine in workflow.state_machines.values()
                    for metric in (machine.metric_started, machine.metric_succeeded, machine.metric_failed)
                ],
            ),
            cloudwatch.GraphWidget(title="API 5xx rate", left=[api_5xx]),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Queue depth (visible)",
                left=[
                    q.metric_approximate_number_of_messages_visible(period=PERIOD)
                    for q in events.queues.values()
                ],
            ),
            cloudwatch.GraphWidget(
                title="DLQ depth",
                left=[
                    q.metric_approximate_number_of_messages_visible(period=PERIOD)
                    for q in events.dlqs.values()
                ],
            ),
        )
        dashboard.add_widgets(*lambda_widgets)

    def _alarm(self, name: str, metric: cloudwatch.IMetric, threshold: float) -> None:
        self.alarms.append(
            cloudwatch.Alarm(
                self,
                name,
                alarm_name=name,
                metric=metric,
                threshold=threshold,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=1,
                # No requests or executions is not an error: an idle platform stays OK.
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
        )


def _lambda_metric(metric_name: str, function_name: str) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace="AWS/Lambda",
        metric_name=metric_name,
        dimensions_map={"FunctionName": function_name},
        period=PERIOD,
        statistic="Sum",
    )
