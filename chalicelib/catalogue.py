"""The one catalogue of cloud resources Railyard needs.

Every table, bucket, bus, rule, queue, DLQ, state-machine placeholder, queue consumer and schedule
is declared here once. The local bootstrap (railyard/localdev/bootstrap.py) creates the resources on
moto or LocalStack (not the schedules: the local platform's own loop stands in), and the CDK stacks
(stacks/) read the same declarations. Names are suffixed with the stage so two stacks can
share an account; bucket names also carry the account and the region the buckets live in (the
stage's primary region), because S3 names are global across every account (`bucket_name`).

It is also the contract between the stacks and the code that runs in them where both must agree on
a name: the CloudFormation stack names and outputs `railyard admin bootstrap` reads, and the
per-project build isolation (BuildIsolation below) whose keys the CodeBuild adapter writes and whose
IAM policy the build stack grants.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from chalicelib.domain.events import GIT_EVENTS  # the GitHub webhook's events (docs/decisions/0035)


@dataclass(frozen=True)
class Table:
    key: str
    name: str
    gsis: tuple[str, ...] = ("gsi1", "gsi2")  # gsi2: sparse, deployments in progress (adapters/dynamo)


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
class Schedule:
    """A Lambda function EventBridge invokes every `rate_minutes` (stacks/workflow.py). Nothing
    creates it locally: moto runs no schedules and LocalStack no Lambda here, so the local platform's
    own loop stands in (railyard/localdev, SWEEP_SECONDS)."""

    key: str
    handler: str  # module.function (functions/)
    rate_minutes: int
    timeout: int  # less than the rate, so runs of one schedule rarely overlap (they may: idempotent)
    memory: int = 512


@dataclass(frozen=True)
class StateMachine:
    key: str
    name: str
    definition_file: str  # under statemachines/
    # ${Placeholder} -> ("queue"|"bus"|"table", key): filled with the resource's URL/name/ARN
    substitutions: dict[str, tuple[str, str]] = field(default_factory=dict)


BUCKET_KEYS = ("sources", "artifacts", "logs")
EVENT_SOURCE = "railyard"
DEFAULT_BUS = "default"
# The CodeBuild build statuses that end a build (TIMED_OUT and FAULT appear in BatchGetBuilds; the
# rule lists them too so that no ending is missed if the event ever reports them).
CODEBUILD_ENDED = ("SUCCEEDED", "FAILED", "STOPPED", "TIMED_OUT", "FAULT")
# The ends of a deploy execution that may leave its deployment unrecorded (no worker ran MarkFailed,
# or it was stopped); SUCCEEDED executions recorded their end in their own steps.
EXECUTION_ENDED_BADLY = ("FAILED", "TIMED_OUT", "ABORTED")


# The tag on a project's build role that names its project: the build stack's one managed policy
# scopes every resource with this principal tag, so N project roles need no N policies.
PROJECT_TAG = "railyard-project"
PROJECT_TAG_VARIABLE = "${aws:PrincipalTag/" + PROJECT_TAG + "}"
# CloudFormation outputs other tools read (railyard admin bootstrap, docs/deploy-aws.md).
OUTPUT_API_URL = "ApiUrl"
OUTPUT_TABLE_NAME = "TableName"


@dataclass(frozen=True)
class BuildIsolation:
    """Where one project's builds may read and write, and who they run as (issue 9: no build runs
    with an all-powerful role). A CodeBuild build runs as its project's role (`role_name`, created on
    the project's first build with the `policy_name` managed policy attached as both its permissions
    and its permissions boundary, tagged PROJECT_TAG=<project id>); the policy's resources are these
    prefixes with PROJECT_TAG_VARIABLE in place of the project id, so a build can only touch its own
    project's objects, image repository and parameters. Pass `project_id=PROJECT_TAG_VARIABLE` to
    get the policy's patterns."""

    stage: str
    # Tagged images (one per deployment) each project's repository keeps; more than the releases a
    # service keeps for rollback (config.KEEP_RELEASES) so that a project of several services does
    # not lose the image of a release it can still roll back to.
    IMAGES_KEPT: ClassVar[int] = 100

    @property
    def policy_name(self) -> str:
        return f"railyard-{self.stage}-build-project"

    @property
    def role_prefix(self) -> str:
        return f"railyard-{self.stage}-build-"

    def role_name(self, project_id: str) -> str:
        return f"{self.role_prefix}{project_id}"  # IAM: 64; a project id is 34, a stage at most 15

    def source_prefix(self, project_id: str) -> str:
        """In the sources bucket: the ZIPs CodeBuild reads."""
        return f"codebuild-sources/{project_id}/"

    def artifact_prefix(self, project_id: str) -> str:
        """In the artifacts bucket: what a build uploads (artifact and metadata)."""
        return f"artifacts/codebuild/{project_id}/"

    @property
    def results_prefix(self) -> str:
        """In the artifacts bucket: the build worker's record of each build (start command, image),
        outside every prefix a build may write, so no build can rewrite what it is said to have
        produced."""
        return "codebuild-results/"

    def cache_prefix(self, project_id: str) -> str:
        """In the artifacts bucket: the project's dependency-cache layers."""
        return f"deps-cache/{project_id}/"

    @property
    def ecr_repository_prefix(self) -> str:
        """Every project's images go to its own repository `<prefix>/<project id>`, created on first
        push from the build stack's repository creation template (scan on push, lifecycle)."""
        return f"railyard-{self.stage}"

    def ecr_repository(self, project_id: str) -> str:
        return f"{self.ecr_repository_prefix}/{project_id}"

    def log_stream_prefix(self, project_id: str) -> str:
        """In the CodeBuild project's log group: the project's build logs (CodeBuild appends the
        build's id to the stream name the build is started with)."""
        return f"{project_id}/"

    def parameter_prefix(self, project_id: str) -> str:
        """In SSM Parameter Store: the build's variables (SecureString), passed to CodeBuild as
        PARAMETER_STORE references, never as PLAINTEXT values."""
        return f"/railyard/{self.stage}/builds/{project_id}/"


# S3 bucket names: 3 to 63 characters; an AWS account id is always 12 digits.
BUCKET_NAME_MAX = 63
ACCOUNT_ID_LENGTH = 12


def bucket_name(stage: str, key: str, account: str, region: str) -> str:
    """`railyard-<stage>-<key>-<account>-<region>`: unique across accounts (S3 names are global) and
    across the regions an account might put a stage in. `account` may be a CDK token (the stacks'
    AWS::AccountId), so the length is checked with an account id's fixed 12 digits."""
    prefix = f"railyard-{stage}-{key}-"
    if len(prefix) + ACCOUNT_ID_LENGTH + 1 + len(region) > BUCKET_NAME_MAX:
        raise ValueError(
            f"bucket {prefix}<account>-{region} would exceed S3's {BUCKET_NAME_MAX} characters: "
            "use a shorter stage name"
        )
    if (stage + key + region) != (stage + key + region).lower():
        raise ValueError(f"bucket {prefix}<account>-{region}: S3 bucket names are lowercase")
    return f"{prefix}{account}-{region}"


@dataclass(frozen=True)
class Catalogue:
    """Every name of one stage. Bucket names need `account` and `region` (where the stage's buckets
    live: its primary region); a catalogue made without them names everything else."""

    stage: str
    account: str | None = None
    region: str | None = None

    def _n(self, base: str) -> str:
        return f"railyard-{self.stage}-{base}"

    @property
    def table(self) -> Table:
        return Table(key="main", name=self._n("main"))

    @property
    def buckets(self) -> tuple[Bucket, ...]:
        if self.account is None or self.region is None:
            raise ValueError(
                f"Catalogue({self.stage!r}) names no bucket: bucket names carry the account and the "
                "region (Catalogue(stage, account=..., region=...))"
            )
        return tuple(
            Bucket(key=key, name=bucket_name(self.stage, key, self.account, self.region))
            for key in BUCKET_KEYS
        )

    def legacy_bucket_name(self, key: str) -> str:
        """The name buckets had before they carried the account and region (until 2026-12): a
        local data directory may still keep objects under it (railyard/localdev/bootstrap.py)."""
        return self._n(key)

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
            # Signed pushes and pull requests (functions/git_events.py; docs/decisions/0035): a
            # handler downloads the commit's archive, so more time than the other fan-out queues.
            Queue(key="git-events", name=self._n("git-events"), visibility_timeout=360),
        )

    @property
    def variables_key_alias(self) -> str:
        """The KMS key sealed variables are encrypted under (docs/decisions/0023)."""
        return f"alias/{self._n('variables')}"

    @property
    def codebuild_project(self) -> str:
        """The CodeBuild project every build runs in (RAILYARD_BUILDER=codebuild)."""
        return self._n("builds")

    @property
    def codebuild_log_group(self) -> str:
        """Where every build of the CodeBuild project logs (the build stack creates it)."""
        return f"/aws/codebuild/{self.codebuild_project}"

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
                self._n("git-events"),
                {"source": [EVENT_SOURCE], "detail-type": list(GIT_EVENTS)},
                ("git-events",),
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

    @property
    def build_isolation(self) -> BuildIsolation:
        return BuildIsolation(self.stage)

    def stack_name(self, part: str) -> str:
        """The CloudFormation stack of one part of the platform ("data", "events", "api",
        "workflow", "build", "runtime", "observability")."""
        return self._n(part)

    def dashboard_name(self, region: str) -> str:
        """The CloudWatch dashboard of the stage's stacks in `region`: dashboards are global to the
        account, so each region's carries its region."""
        return self._n(f"dashboard-{region}")

    def bucket(self, key: str) -> Bucket:
        return next(b for b in self.buckets if b.key == key)

    def queue(self, key: str) -> Queue:
        return next(q for q in self.queues if q.key == key)

    @property
    def consumers(self) -> tuple[Consumer, ...]:
        """The Lambda function that drains each queue in AWS (stacks/workflow.py); locally the
        pollers of `railyard dev` call the same handlers. The build and deploy queues get a function
        each, so the two workers can have their own role and concurrency."""
        return (
            Consumer("build-worker", "functions.task_worker.handler", "build", timeout=900, memory=1024),
            Consumer("deploy-worker", "functions.task_worker.handler", "deploy", timeout=900, memory=1024),
            Consumer("build-events", "functions.build_events.handler", "build-events", timeout=60),
            Consumer("cleanup", "functions.cleanup.handler", "cleanup", timeout=240, max_concurrency=2),
            Consumer(
                "execution-events", "functions.execution_events.handler", "execution-events", timeout=60
            ),
            Consumer("git-events", "functions.git_events.handler", "git-events", timeout=300),
            # Fan-out of the bus's deployment events: cheap per record, so batches of 10 and few
            # pollers (an invocation per event would cost more than what it does); 10 s, a sixth of
            # the queues' visibility, as AWS advises for SQS event sources (retries when throttled).
            Consumer(
                "notifications",
                "functions.notifications.handler",
                "notifications",
                timeout=10,
                batch_size=10,
                max_concurrency=2,
            ),
            Consumer(
                "metrics",
                "functions.metrics.handler",
                "metrics",
                timeout=10,
                batch_size=10,
                max_concurrency=2,
            ),
        )

    @property
    def schedules(self) -> tuple[Schedule, ...]:
        """What AWS must run on a clock because no event reports it: the sweep of live releases
        that ended on Kubernetes and of deployments whose execution never started
        (DeploymentSweeper.sweep_unreported, docs/decisions/0030)."""
        return (Schedule("sweep", "functions.sweep.handler", rate_minutes=1, timeout=50),)

    def schedule_rule_name(self, schedule_key: str) -> str:
        return self._n(f"{schedule_key}-schedule")

    def function_name(self, consumer_key: str) -> str:
        """The Lambda function of a queue consumer or a schedule (their keys never collide)."""
        return self._n(consumer_key)


@dataclass(frozen=True)
class Consumer:
    """One queue's Lambda consumer: `handler` is `module.function` (functions/), `timeout` seconds
    must fit the queue's visibility timeout (else a message still being worked on is delivered
    again) and Lambda's limit, LAMBDA_MAX_TIMEOUT. `max_concurrency` caps the event source's
    pollers (Lambda's ScalingConfig, 2 at least); one record per batch keeps a slow step from
    holding its neighbours back."""

    key: str
    handler: str
    queue: str
    timeout: int
    memory: int = 512
    batch_size: int = 1
    max_concurrency: int = 10


LAMBDA_MAX_TIMEOUT = 900
# API Gateway stage throttling (every route): steady requests per second and burst.
API_THROTTLE_RATE = 50
API_THROTTLE_BURST = 100
# A message in a DLQ is a step or event nobody could handle: one is enough to page.
DLQ_ALARM_THRESHOLD = 1
