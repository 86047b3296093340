"""How one stack names another stack's resources, and the grants built on those names.

A stack reads the data stack's table and buckets by their catalogue names (CDK imports), never
through CloudFormation exports: an export would pin the table (CloudFormation refuses to change an
exported value while another stack imports it), and exports cannot cross regions, while a stage's
replica regions use the same table by name (docs/decisions/0013). The app orders deployments with
explicit stack dependencies instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from chalicelib.catalogue import Catalogue


@dataclass(frozen=True)
class DataRefs:
    """The table and the buckets as seen from one stack (what BuildStack's `data` is)."""

    table: dynamodb.ITableV2
    buckets: dict[str, s3.IBucket]

    @classmethod
    def imported(cls, scope: Construct, catalogue: Catalogue) -> DataRefs:
        """`catalogue` names the buckets: StageContext.catalogue (the primary region's)."""
        holder = Construct(scope, "DataRefs")
        table = dynamodb.TableV2.from_table_attributes(
            holder,
            "Table",
            table_name=catalogue.table.name,
            global_indexes=list(catalogue.table.gsis),
            grant_index_permissions=True,
        )
        buckets = {
            b.key: s3.Bucket.from_bucket_name(holder, f"{b.key}-bucket", b.name) for b in catalogue.buckets
        }
        return cls(table, buckets)


@dataclass(frozen=True)
class StateMachineRefs:
    """ARNs of a state machine named in the catalogue, and of its executions (name = deployment id)."""

    machine_arn: str
    executions_arn: str

    @classmethod
    def of(cls, scope: Construct, name: str) -> StateMachineRefs:
        stack = Stack.of(scope)
        return cls(
            machine_arn=stack.format_arn(
                service="states", resource="stateMachine", resource_name=name, arn_format=_COLON
            ),
            executions_arn=stack.format_arn(
                service="states", resource="execution", resource_name=f"{name}:*", arn_format=_COLON
            ),
        )

    def grant_control(self, role: iam.IRole) -> None:
        """What chalicelib/adapters/workflows.py StepFunctionsWorkflow calls."""
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=["states:StartExecution"], resources=[self.machine_arn])
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["states:StopExecution", *_READ_EXECUTION], resources=[self.executions_arn]
            )
        )

    def grant_describe(self, role: iam.IRole) -> None:
        """What StepFunctionsWorkflow.describe calls, and nothing that changes an execution."""
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=_READ_EXECUTION, resources=[self.executions_arn])
        )

    def grant_task_response(self, role: iam.IRole) -> None:
        """What StepFunctionsCallbacks calls: the answers to a task token of this machine."""
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"],
                resources=[self.machine_arn],
            )
        )


_COLON = ArnFormat.COLON_RESOURCE_NAME
_READ_EXECUTION = ["states:DescribeExecution", "states:GetExecutionHistory"]


def grant_data(
    role: iam.IRole,
    data: DataRefs,
    *,
    read_write: tuple[str, ...],
    read: tuple[str, ...] = (),
    table: str | None = "read_write",
) -> None:
    """The table (items and its indexes: "read_write", "read" or None) and the named buckets;
    nothing else in S3 or DynamoDB."""
    if table == "read_write":
        data.table.grant_read_write_data(role)
    elif table == "read":
        data.table.grant_read_data(role)
    elif table is not None:
        raise ValueError(f"table access {table!r} is not read_write, read or None")
    for key in read_write:
        data.buckets[key].grant_read_write(role)
        data.buckets[key].grant_delete(role)
    for key in read:
        data.buckets[key].grant_read(role)
