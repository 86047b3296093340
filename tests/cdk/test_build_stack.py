"""BuildStack (stacks/build.py) synthesized with the real DataStack: the CodeBuild project, the one
build policy every project role gets (and is bounded by), and the build worker's policy.

The strongest check here is the contract with the adapter: every object key, repository, parameter
and log stream the CodeBuild runner uses for a project is granted by the build policy once the
principal tag is that project, and is not granted for another project."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.catalogue import PROJECT_TAG, PROJECT_TAG_VARIABLE, Catalogue

STAGE = "test"
ACCOUNT, REGION, PARTITION = "123456789012", "us-east-1", "aws"
# The stack is environment-agnostic: its bucket names hold AWS::AccountId, which _text fills with ACCOUNT.
CATALOGUE = Catalogue(STAGE, account=ACCOUNT, region=REGION)
ISOLATION = CATALOGUE.build_isolation


@pytest.fixture(scope="module")
def template() -> Iterator[dict[str, Any]]:
    import os

    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from aws_cdk import App
    from aws_cdk.assertions import Template

    from stacks.build import BuildStack
    from stacks.data import DataStack
    from stacks.stage import StageContext

    app = App()
    stage = StageContext(stage=STAGE, account=None, region=REGION)
    data = DataStack(app, "data", stage=stage)
    build = BuildStack(app, "build", stage=stage, data=data)
    assert build.control_plane_policy is not None  # what WorkflowStack attaches
    assert build.project_name == CATALOGUE.codebuild_project
    yield dict(Template.from_stack(build).to_json())


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in template["Resources"].items() if v["Type"] == kind}


def _text(value: Any, template: dict[str, Any]) -> str:
    """A policy value as the string IAM sees, CloudFormation's pseudo parameters filled in."""
    if isinstance(value, str):
        return value
    if "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(_text(part, template) for part in parts)
    if "Ref" in value:
        pseudo = {"AWS::Partition": PARTITION, "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}
        pseudo["AWS::URLSuffix"] = "amazonaws.com"
        if value["Ref"] in pseudo:
            return pseudo[value["Ref"]]
        return f"<ref {value['Ref']}>"
    if "Fn::GetAtt" in value:
        return f"<{'.'.join(value['Fn::GetAtt'])}>"
    raise AssertionError(f"unexpected value {value}")


def _value(value: Any, template: dict[str, Any]) -> Any:
    if isinstance(value, list):
        return [_value(v, template) for v in value]
    return _text(value, template) if isinstance(value, dict) else value


def _statements(document: dict[str, Any], template: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for statement in document["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        conditions = json.loads(json.dumps(statement.get("Condition", {}), default=str))
        out.append(
            {
                "sid": statement.get("Sid"),
                "actions": actions,
                "resources": [_text(r, template) for r in resources],
                "conditions": {
                    op: {k: _value(v, template) for k, v in c.items()} for op, c in conditions.items()
                },
            }
        )
    return out


def _managed_policy(
    template: dict[str, Any], name: str | None = None, sid: str | None = None
) -> list[dict[str, Any]]:
    for props in _resources(template, "AWS::IAM::ManagedPolicy").values():
        statements = _statements(props["PolicyDocument"], template)
        if (name and props.get("ManagedPolicyName") == name) or (
            sid and any(s["sid"] == sid for s in statements)
        ):
            return statements
    raise AssertionError(f"no managed policy {name or sid}")


def _allows(statements: list[dict[str, Any]], action: str, resource: str, project: str) -> bool:
    """Whether a statement allows `action` on `resource` for a role tagged with `project`
    (conditions aside: the checks below name the ones that matter)."""
    for statement in statements:
        if not any(fnmatch.fnmatchcase(action, a) for a in statement["actions"]):
            continue
        for pattern in statement["resources"]:
            if fnmatch.fnmatchcase(resource, pattern.replace(PROJECT_TAG_VARIABLE, project)):
                return True
    return False


def test_the_codebuild_project_is_privileged_and_its_own_role_can_only_log(template: dict[str, Any]) -> None:
    (project,) = _resources(template, "AWS::CodeBuild::Project").values()
    assert project["Name"] == CATALOGUE.codebuild_project
    assert project["Environment"]["PrivilegedMode"] is True
    assert project["Source"]["Type"] == "S3"
    assert project["LogsConfig"]["CloudWatchLogs"]["Status"] == "ENABLED"
    (log_group,) = _resources(template, "AWS::Logs::LogGroup").values()
    assert log_group["LogGroupName"] == CATALOGUE.codebuild_log_group
    role_id = project["ServiceRole"]["Fn::GetAtt"][0]
    role_policies = [
        p for p in _resources(template, "AWS::IAM::Policy").values() if {"Ref": role_id} in p["Roles"]
    ]
    actions = {
        a for p in role_policies for s in _statements(p["PolicyDocument"], template) for a in s["actions"]
    }
    assert actions == {"logs:CreateLogStream", "logs:PutLogEvents"}
    assert "ManagedPolicyArns" not in template["Resources"][role_id]["Properties"]


def test_the_build_policy_reaches_exactly_what_the_runner_uses_for_its_own_project(
    template: dict[str, Any],
) -> None:
    policy = _managed_policy(template, name=ISOLATION.policy_name)
    sources, artifacts = CATALOGUE.bucket("sources").name, CATALOGUE.bucket("artifacts").name
    here = f"{REGION}:{ACCOUNT}"

    def used_by(project: str) -> list[tuple[str, str]]:
        # What CodeBuildRunner.start() hands a build of `project` (chalicelib/adapters/builds).
        parameter = f"{ISOLATION.parameter_prefix(project)}dep_1/API_KEY"
        return [
            ("s3:GetObject", f"arn:aws:s3:::{sources}/{ISOLATION.source_prefix(project)}dep_1.zip"),
            (
                "s3:PutObject",
                f"arn:aws:s3:::{artifacts}/{ISOLATION.artifact_prefix(project)}dep_1/artifact.tar.gz",
            ),
            (
                "s3:GetObject",
                f"arn:aws:s3:::{artifacts}/{ISOLATION.cache_prefix(project)}svc_1/deps/k.tar.gz",
            ),
            ("s3:PutObject", f"arn:aws:s3:::{artifacts}/{ISOLATION.cache_prefix(project)}codebuild/c.zip"),
            ("ecr:PutImage", f"arn:aws:ecr:{here}:repository/{ISOLATION.ecr_repository(project)}"),
            ("ecr:InitiateLayerUpload", f"arn:aws:ecr:{here}:repository/{ISOLATION.ecr_repository(project)}"),
            ("ssm:GetParameters", f"arn:aws:ssm:{here}:parameter{parameter}"),
            (
                "logs:PutLogEvents",
                f"arn:aws:logs:{here}:log-group:{CATALOGUE.codebuild_log_group}:log-stream:"
                f"{ISOLATION.log_stream_prefix(project)}0b7c",
            ),
        ]

    for action, resource in used_by("prj_a"):
        assert _allows(policy, action, resource, project="prj_a"), (action, resource)
        assert not _allows(policy, action, resource, project="prj_b"), (action, resource)
    # Nothing else of the platform: not the uploads, the records, the logs bucket, the table.
    for action, resource in [
        ("s3:GetObject", f"arn:aws:s3:::{sources}/sources/svc_1/x.tar.gz"),
        ("s3:PutObject", f"arn:aws:s3:::{artifacts}/{ISOLATION.results_prefix}dep_1.json"),
        ("s3:GetObject", f"arn:aws:s3:::{CATALOGUE.bucket('logs').name}/logs/dep_1/build/0"),
        ("dynamodb:GetItem", f"arn:aws:dynamodb:{here}:table/{CATALOGUE.table.name}"),
    ]:
        assert not _allows(policy, action, resource, project="prj_a"), (action, resource)
    # SecureStrings are decrypted only through SSM and only for the project's parameters.
    (decrypt,) = [s for s in policy if s["actions"] == ["kms:Decrypt"]]
    assert decrypt["conditions"]["StringEquals"] == {"kms:ViaService": [f"ssm.{REGION}.amazonaws.com"]}
    (parameters,) = decrypt["conditions"]["StringLike"]["kms:EncryptionContext:PARAMETER_ARN"]
    assert PROJECT_TAG_VARIABLE in parameters


def test_the_only_star_resource_is_the_registry_login(template: dict[str, Any]) -> None:
    every = [
        s
        for props in _resources(template, "AWS::IAM::ManagedPolicy").values()
        for s in _statements(props["PolicyDocument"], template)
    ]
    assert every
    assert not [s for s in every if any(a == "*" or a.endswith(":*") for a in s["actions"])]
    assert [s["actions"] for s in every if "*" in s["resources"]] == [["ecr:GetAuthorizationToken"]]


def test_the_build_worker_can_only_make_roles_bounded_by_the_build_policy(template: dict[str, Any]) -> None:
    control = _managed_policy(template, sid="CreateBoundedBuildRoles")
    by_sid = {s["sid"]: s for s in control}
    # The build policy by its ARN, as the worker forms it (isolation.py policy_arn) in every region.
    boundary = f"arn:aws:iam::{ACCOUNT}:policy/{ISOLATION.policy_name}"
    roles = f"arn:aws:iam::{ACCOUNT}:role/{ISOLATION.role_prefix}*"
    for sid in ("CreateBoundedBuildRoles", "TagBuildRolesWithTheirProject", "AttachOnlyTheBuildPolicy"):
        assert by_sid[sid]["resources"] == [roles]
    assert by_sid["CreateBoundedBuildRoles"]["conditions"] == {
        "StringEquals": {"iam:PermissionsBoundary": boundary}
    }
    assert by_sid["AttachOnlyTheBuildPolicy"]["conditions"]["ArnEquals"] == {"iam:PolicyARN": boundary}
    assert by_sid["TagBuildRolesWithTheirProject"]["conditions"] == {
        "ForAllValues:StringEquals": {"aws:TagKeys": [PROJECT_TAG]}
    }
    assert by_sid["PassBuildRolesToCodeBuild"]["conditions"] == {
        "StringEquals": {"iam:PassedToService": "codebuild.amazonaws.com"}
    }
    # Every IAM action of the worker is on the build roles only.
    iam_resources = {r for s in control if s["actions"][0].startswith("iam:") for r in s["resources"]}
    assert iam_resources == {roles}
    # What the runner calls is allowed (isolation.py / codebuild.py).
    project = "prj_a"
    here = f"{REGION}:{ACCOUNT}"
    for action, resource in [
        ("codebuild:StartBuild", f"arn:aws:codebuild:{here}:project/{CATALOGUE.codebuild_project}"),
        ("iam:GetRole", f"arn:aws:iam::{ACCOUNT}:role/{ISOLATION.role_name(project)}"),
        ("ssm:PutParameter", f"arn:aws:ssm:{here}:parameter{ISOLATION.parameter_prefix(project)}dep_1/A"),
        (
            "ssm:GetParametersByPath",
            f"arn:aws:ssm:{here}:parameter{ISOLATION.parameter_prefix(project)}".rstrip("/"),
        ),
        ("ssm:DeleteParameters", f"arn:aws:ssm:{here}:parameter{ISOLATION.parameter_prefix(project)}dep_1/A"),
        ("ecr:CreateRepository", f"arn:aws:ecr:{here}:repository/{ISOLATION.ecr_repository(project)}"),
        ("ecr:PutLifecyclePolicy", f"arn:aws:ecr:{here}:repository/{ISOLATION.ecr_repository(project)}"),
        (
            "s3:PutObject",
            f"arn:aws:s3:::{CATALOGUE.bucket('sources').name}/{ISOLATION.source_prefix(project)}d.zip",
        ),
        (
            "s3:GetObject",
            f"arn:aws:s3:::{CATALOGUE.bucket('artifacts').name}/{ISOLATION.results_prefix}d.json",
        ),
    ]:
        assert _allows(control, action, resource, project=project), (action, resource)
