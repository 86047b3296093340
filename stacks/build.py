"""BuildStack: the CodeBuild project every user build runs in, and the per-project build isolation
of chalicelib/catalogue.py BuildIsolation (issue 9: no user build runs with one all-powerful role;
docs/decisions/0014).

- The CodeBuild project: S3 source, privileged (docker build), its log group, and a base service
  role that can only write logs: every build is started with `serviceRoleOverride` = its project's
  own role, which the build worker creates (chalicelib/adapters/builds/isolation.py).
- `build_policy`, the one managed policy `BuildIsolation.policy_name`: attached to every project's
  role and its permissions boundary. Its resources name PROJECT_TAG_VARIABLE where the project id
  goes, so a role tagged `railyard-project=<id>` reaches only that project's source, artifact and
  cache prefixes, repository, parameters and log streams. IAM is global: the primary region's
  build stack creates it, covering every region of the stage (a project's role, also global, builds
  in any of them); the other regions refer to it by name.
- `control_plane_policy`: what the build worker needs to start such builds (WorkflowStack attaches
  it to the build worker's role): CreateRole only with that boundary, AttachRolePolicy only of that
  policy, PassRole only to CodeBuild, all on the role prefix; its parameters and repositories. It is
  unnamed, so each region has its own, for its own region's project, parameters and repositories.

Bucket ARNs are formed from the catalogue's names (S3 names are global), not imported from the data
stack, so no export ties the stacks' lifecycles together; the data stack is a dependency instead.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from chalicelib.catalogue import PROJECT_TAG, PROJECT_TAG_VARIABLE, Catalogue
from stacks.stage import StageContext

BUILD_IMAGE = "aws/codebuild/standard:7.0"  # Ubuntu 22.04 with docker and the managed runtimes
BUILD_LOG_RETENTION = logs.RetentionDays.ONE_MONTH
# Every build overrides it with its service's buildTimeout (at most 7200 s, models.ServiceSettings).
DEFAULT_TIMEOUT_MINUTES = 120
# ECR's push and pull actions a build needs on its own repository.
_IMAGE_PUSH = [
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:PutImage",
]
OUTPUT_PROJECT_NAME = "BuildProjectName"


class BuildStack(Stack):
    """Exposes `project_name` (the CodeBuild project), `build_policy` (every project role's policy
    and boundary) and `control_plane_policy` (the build worker's; WorkflowStack attaches it)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, stage: StageContext, data: Any, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        catalogue = stage.catalogue
        isolation = catalogue.build_isolation
        self.project_name = catalogue.codebuild_project
        if isinstance(data, Stack):
            self.add_stack_dependency(data)  # the buckets exist before a build can use them
        arns = _Arns(catalogue, stage.region)
        every_region = [_Arns(catalogue, region) for region in stage.regions or (stage.region,)]

        self.log_group = logs.LogGroup(
            self,
            "BuildLogs",
            log_group_name=catalogue.codebuild_log_group,
            retention=BUILD_LOG_RETENTION,
            removal_policy=RemovalPolicy.RETAIN if stage.is_prod else RemovalPolicy.DESTROY,
        )
        # Named, and IAM is global: made once, in the primary region, for every region's builds.
        self.build_policy: iam.IManagedPolicy
        if stage.is_primary:
            self.build_policy = iam.ManagedPolicy(
                self,
                "ProjectBuildPolicy",
                managed_policy_name=isolation.policy_name,
                description="A Railyard project's builds: only that project's (principal tag) objects, "
                "repository, parameters and logs. Also the boundary of every project build role.",
                statements=_project_build_statements(every_region),
            )
        else:
            self.build_policy = iam.ManagedPolicy.from_managed_policy_name(
                self, "ProjectBuildPolicy", isolation.policy_name
            )
        base_role = iam.Role(
            self,
            "BaseServiceRole",
            assumed_by=_codebuild_principal(arns),
            description="The CodeBuild project's own role: only logs. Builds run as their project's role.",
        )
        base_role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[f"{arns.log_group}:log-stream:*"],
            )
        )
        codebuild.CfnProject(
            self,
            "Builds",
            name=self.project_name,
            description="Railyard user builds (each started as its project's own role)",
            service_role=base_role.role_arn,
            # Every build overrides the source, artifacts, cache, logs stream and timeout.
            source=codebuild.CfnProject.SourceProperty(
                type="S3", location=f"{arns.sources_bucket_name}/{arns.every_source_prefix}"
            ),
            artifacts=codebuild.CfnProject.ArtifactsProperty(type="NO_ARTIFACTS"),
            environment=codebuild.CfnProject.EnvironmentProperty(
                type="LINUX_CONTAINER",
                image=BUILD_IMAGE,
                compute_type="BUILD_GENERAL1_MEDIUM",
                privileged_mode=True,  # docker build of the service's image
                image_pull_credentials_type="CODEBUILD",
            ),
            cache=codebuild.CfnProject.ProjectCacheProperty(type="NO_CACHE"),
            logs_config=codebuild.CfnProject.LogsConfigProperty(
                cloud_watch_logs=codebuild.CfnProject.CloudWatchLogsConfigProperty(
                    status="ENABLED", group_name=self.log_group.log_group_name
                )
            ),
            timeout_in_minutes=DEFAULT_TIMEOUT_MINUTES,
        )
        self.control_plane_policy: iam.IManagedPolicy = iam.ManagedPolicy(
            self,
            "BuildControlPlanePolicy",
            description="The Railyard build worker: start isolated builds, create project build roles "
            "only with the build boundary, write their parameters, create their repositories.",
            # By its ARN, the same in every region (the worker checks each role's boundary against it).
            statements=_control_plane_statements(arns, arns.build_policy),
        )
        if isinstance(self.build_policy, iam.ManagedPolicy):  # the primary: the policy exists first
            self.control_plane_policy.node.add_dependency(self.build_policy)
        CfnOutput(self, OUTPUT_PROJECT_NAME, value=self.project_name)


class _Arns:
    """The ARNs the two policies name in one region, with PROJECT_TAG_VARIABLE (or `*`, for the
    control plane) where a project id goes. Partition and account are CloudFormation's; the buckets
    are the primary region's (StageContext.catalogue), whatever `region` is."""

    def __init__(self, catalogue: Catalogue, region: str) -> None:
        isolation = catalogue.build_isolation
        self.isolation = isolation
        self.sources_bucket_name = catalogue.bucket("sources").name
        self.artifacts_bucket_name = catalogue.bucket("artifacts").name
        self.sources_bucket = f"arn:{Aws.PARTITION}:s3:::{self.sources_bucket_name}"
        self.artifacts_bucket = f"arn:{Aws.PARTITION}:s3:::{self.artifacts_bucket_name}"
        self.build_policy = f"arn:{Aws.PARTITION}:iam::{Aws.ACCOUNT_ID}:policy/{isolation.policy_name}"
        here = f"{region}:{Aws.ACCOUNT_ID}"
        self.account = Aws.ACCOUNT_ID
        self.codebuild_project = f"arn:{Aws.PARTITION}:codebuild:{here}:project/{catalogue.codebuild_project}"
        self.log_group = f"arn:{Aws.PARTITION}:logs:{here}:log-group:{catalogue.codebuild_log_group}"
        self.repositories = f"arn:{Aws.PARTITION}:ecr:{here}:repository/{isolation.ecr_repository_prefix}"
        self.parameters = f"arn:{Aws.PARTITION}:ssm:{here}:parameter"
        self.keys = f"arn:{Aws.PARTITION}:kms:{here}:key/*"
        self.roles = f"arn:{Aws.PARTITION}:iam::{Aws.ACCOUNT_ID}:role/{isolation.role_prefix}*"
        self.ssm_service = f"ssm.{region}.{Aws.URL_SUFFIX}"

    def parameter(self, project: str) -> str:
        """The project's parameters. Parameter ARNs drop the name's leading "/"."""
        return f"{self.parameters}/{self.isolation.parameter_prefix(project).lstrip('/')}*"

    @property
    def every_source_prefix(self) -> str:
        """`codebuild-sources/`: every project's source prefix without its project id."""
        return self.isolation.source_prefix("").rstrip("/") + "/"

    @property
    def every_parameter(self) -> str:
        """Every project's parameters, and the project paths GetParametersByPath reads."""
        return f"{self.parameters}/{self.isolation.parameter_prefix('').strip('/')}/*"


def _codebuild_principal(arns: _Arns) -> iam.IPrincipal:
    # Only CodeBuild, and only for this account's project (the confused-deputy conditions); the
    # build worker gives each project's role the same trust (isolation.py).
    return iam.ServicePrincipal("codebuild.amazonaws.com").with_conditions(
        {
            "StringEquals": {"aws:SourceAccount": arns.account},
            "ArnLike": {"aws:SourceArn": arns.codebuild_project},
        }
    )


def _project_build_statements(regions: list[_Arns]) -> list[iam.PolicyStatement]:
    """The build policy: a project's own objects (the buckets are global) and, in every region of
    the stage, its own repository, parameters and log streams."""
    project = PROJECT_TAG_VARIABLE
    arns = regions[0]
    iso = arns.isolation
    parameters = [a.parameter(project) for a in regions]
    return [
        iam.PolicyStatement(
            sid="ReadOwnSource",
            actions=["s3:GetObject", "s3:GetObjectVersion"],
            resources=[f"{arns.sources_bucket}/{iso.source_prefix(project)}*"],
        ),
        iam.PolicyStatement(
            sid="WriteOwnArtifacts",
            actions=["s3:PutObject"],
            resources=[f"{arns.artifacts_bucket}/{iso.artifact_prefix(project)}*"],
        ),
        iam.PolicyStatement(
            sid="OwnDependencyCache",
            actions=["s3:GetObject", "s3:PutObject"],
            resources=[f"{arns.artifacts_bucket}/{iso.cache_prefix(project)}*"],
        ),
        # CodeBuild checks the buckets it reads the source from and uploads artifacts to.
        iam.PolicyStatement(
            sid="LocateBuckets",
            actions=["s3:GetBucketAcl", "s3:GetBucketLocation"],
            resources=[arns.sources_bucket, arns.artifacts_bucket],
        ),
        iam.PolicyStatement(
            sid="PushOwnImages",
            actions=_IMAGE_PUSH,
            resources=[f"{a.repositories}/{project}" for a in regions],
        ),
        # GetAuthorizationToken is a registry-wide call that IAM authorizes only on "*"; the token
        # it returns pushes nowhere without the repository statement above.
        iam.PolicyStatement(sid="RegistryLogin", actions=["ecr:GetAuthorizationToken"], resources=["*"]),
        iam.PolicyStatement(
            sid="ReadOwnParameters",
            actions=["ssm:GetParameters", "ssm:GetParameter"],
            resources=parameters,
        ),
        # SecureString values are decrypted by SSM on the build's behalf, only for its parameters.
        iam.PolicyStatement(
            sid="DecryptOwnParameters",
            actions=["kms:Decrypt"],
            resources=[a.keys for a in regions],
            conditions={
                "StringEquals": {"kms:ViaService": [a.ssm_service for a in regions]},
                "StringLike": {"kms:EncryptionContext:PARAMETER_ARN": parameters},
            },
        ),
        iam.PolicyStatement(
            sid="OwnLogStreams",
            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
            resources=[f"{a.log_group}:log-stream:{iso.log_stream_prefix(project)}*" for a in regions],
        ),
    ]


def _control_plane_statements(arns: _Arns, build_policy_arn: str) -> list[iam.PolicyStatement]:
    boundary = {"StringEquals": {"iam:PermissionsBoundary": build_policy_arn}}
    iso = arns.isolation
    return [
        iam.PolicyStatement(
            sid="RunBuilds",
            actions=["codebuild:StartBuild", "codebuild:BatchGetBuilds", "codebuild:StopBuild"],
            resources=[arns.codebuild_project],
        ),
        # A role can only come into being with the build policy as its boundary, tagged with its
        # project, and only the build policy can be attached to it: the worker cannot make itself
        # (or a build) a more powerful role.
        iam.PolicyStatement(
            sid="CreateBoundedBuildRoles",
            actions=["iam:CreateRole"],
            resources=[arns.roles],
            conditions=boundary,
        ),
        iam.PolicyStatement(
            sid="TagBuildRolesWithTheirProject",
            actions=["iam:TagRole"],
            resources=[arns.roles],
            conditions={"ForAllValues:StringEquals": {"aws:TagKeys": [PROJECT_TAG]}},
        ),
        iam.PolicyStatement(
            sid="AttachOnlyTheBuildPolicy",
            actions=["iam:AttachRolePolicy"],
            resources=[arns.roles],
            conditions={
                "ArnEquals": {"iam:PolicyARN": build_policy_arn},
                **boundary,
            },
        ),
        iam.PolicyStatement(sid="ReadBuildRoles", actions=["iam:GetRole"], resources=[arns.roles]),
        iam.PolicyStatement(
            sid="PassBuildRolesToCodeBuild",
            actions=["iam:PassRole"],
            resources=[arns.roles],
            conditions={"StringEquals": {"iam:PassedToService": "codebuild.amazonaws.com"}},
        ),
        iam.PolicyStatement(
            sid="BuildParameters",
            actions=[
                "ssm:PutParameter",
                "ssm:DeleteParameter",
                "ssm:DeleteParameters",
                "ssm:GetParametersByPath",
            ],
            resources=[arns.every_parameter],
        ),
        iam.PolicyStatement(
            sid="ProjectRepositories",
            actions=["ecr:CreateRepository", "ecr:PutLifecyclePolicy", "ecr:TagResource"],
            resources=[f"{arns.repositories}/*"],
        ),
        # The objects the worker writes for a build: its source ZIP and its record (the cleanup
        # worker deletes records with the artifacts; the workflow stack grants the rest).
        iam.PolicyStatement(
            sid="BuildSources",
            actions=["s3:PutObject"],
            resources=[f"{arns.sources_bucket}/{arns.every_source_prefix}*"],
        ),
        iam.PolicyStatement(
            sid="BuildRecords",
            actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            resources=[f"{arns.artifacts_bucket}/{iso.results_prefix}*"],
        ),
    ]
