"""CodeBuildRunner against moto's in-process CodeBuild, S3, IAM, SSM and ECR.

moto accepts StartBuild but runs nothing, and its build records drop the overrides (its
batch_get_builds shows a canned source and no environment variables). So the request itself is
captured as it leaves the runner's own botocore client (validated against the CodeBuild API model
and serialized), and batch_get_builds is used for what moto does keep: that the build exists, for this
project, with the artifacts override. IAM, SSM and ECR keep what the runner made (the project's role,
its parameters, its repository), and those are read back.
"""

from __future__ import annotations

import io
import json
import stat
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import yaml
from botocore.exceptions import ClientError

from chalicelib.adapters import aws
from chalicelib.adapters.builds.codebuild import (
    CodeBuildRunner,
)
from chalicelib.adapters.builds.isolation import ProjectBuildAccess
from chalicelib.adapters.storage import S3BlobStore
from chalicelib.catalogue import PROJECT_TAG, BuildIsolation
from chalicelib.domain.buildplan import BuildPlan, SourceTree, plan_build
from chalicelib.domain.errors import BuildFailed, NotFound
from chalicelib.domain.models import ServiceSettings
from chalicelib.domain.ports import BuildRequest
from chalicelib.domain.renderings import variables_digest
from tests.support.codebuild_stack import create_build_stack
from tests.support.moto_inprocess import in_process_aws
from tests.support.tarballs import pack

ACCOUNT = "123456789012"
STAGE = "test"
ISOLATION = BuildIsolation(STAGE)
PROJECT = "railyard-test-builds"
SOURCES = "railyard-sources"
ARTIFACTS = "railyard-artifacts"
CACHE = "railyard-cache"
REGISTRY = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com"
POLICY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/{ISOLATION.policy_name}"
SECRET = "s3cr3t-value-that-must-not-leak"


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.flushes = 0

    def write(self, message: str) -> None:
        self.lines.append(message)

    def flush(self) -> None:
        self.flushes += 1


@pytest.fixture(scope="module")
def moto_module() -> Iterator[None]:
    # One moto and one set of clients for the module: a fresh botocore client per test reloads its
    # service model (~0.2 s each); moto's state is reset per test instead.
    with in_process_aws():
        yield


@pytest.fixture
def codebuild_env(moto_module: None) -> Iterator[None]:
    from moto.moto_api._internal.models import moto_api_backend

    moto_api_backend.reset()
    _create_platform_resources()
    yield
    while _registered:  # the shared clients outlive the test
        service, event, handler = _registered.pop()
        aws.client(service).meta.events.unregister(event, handler)


# The botocore event handlers the running test registered on the module's shared clients.
_registered: list[tuple[str, str, Any]] = []


def _on(service: str, event: str, handler: Any) -> None:
    aws.client(service).meta.events.register(event, handler)
    _registered.append((service, event, handler))


def _create_platform_resources() -> None:
    s3 = boto3.client("s3")
    for bucket in (SOURCES, ARTIFACTS, CACHE):
        s3.create_bucket(Bucket=bucket)
    create_build_stack(
        boto3.client("iam"),
        boto3.client("codebuild"),
        project=PROJECT,
        sources_bucket=SOURCES,
        policy_name=ISOLATION.policy_name,
        policy_statement={"Effect": "Deny", "Action": "s3:*", "Resource": "*"},
        artifacts={"type": "S3", "location": ARTIFACTS},
    )


@pytest.fixture
def start_build_calls(codebuild_env: None) -> list[dict[str, Any]]:
    """The JSON body of every StartBuild request the runner's client sends: serialized by botocore
    after it validated the parameters against the CodeBuild API model."""
    calls: list[dict[str, Any]] = []

    def capture(params: dict[str, Any], **_: Any) -> None:
        calls.append(json.loads(params["body"]))

    _on("codebuild", "before-call.codebuild.StartBuild", capture)
    return calls


@pytest.fixture
def iam_calls(codebuild_env: None) -> list[str]:
    calls: list[str] = []
    aws.client("iam").meta.events.register("before-call.iam.*", lambda model, **_: calls.append(model.name))
    return calls


NODE_APP = {
    "package.json": json.dumps({"name": "web", "version": "1.0.0"}),
    "server.js": "require('http').createServer((q, s) => s.end('ok')).listen(process.env.PORT)",
    "Procfile": "web: node server.js\n",
    "bin/start.sh": "#!/bin/sh\nexec node server.js\n",
}


def _upload(key: str = "sources/svc_01/abc.tar.gz", files: dict[str, str] | None = None) -> None:
    boto3.client("s3").put_object(
        Bucket=SOURCES, Key=key, Body=pack(files or NODE_APP, executable=("bin/start.sh",))
    )


def _request(
    deployment_id: str = "dep_01", project_id: str = "prj_01", service_id: str = "svc_01", **variables: str
) -> BuildRequest:
    return BuildRequest(
        deployment_id=deployment_id,
        service_id=service_id,
        source_key="sources/svc_01/abc.tar.gz",
        settings=ServiceSettings(build_timeout=1500),
        variables=dict(variables),
        project_id=project_id,
    )


def _runner(
    registry: str | None = REGISTRY, sleeps: list[float] | None = None, **kwargs: Any
) -> CodeBuildRunner:
    access = ProjectBuildAccess(ISOLATION, ACCOUNT, "us-east-1", PROJECT)
    sleep = sleeps.append if sleeps is not None else (lambda _: None)
    return CodeBuildRunner(
        PROJECT, S3BlobStore(), SOURCES, ARTIFACTS, registry, access=access, sleep=sleep, **kwargs
    )


def _keys(bucket: str) -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])
    return sorted(o["Key"] for o in listed)


def test_start_plans_the_source_and_starts_a_build_with_the_rendered_buildspec(
    start_build_calls: list[dict[str, Any]],
) -> None:
    _upload()
    seen_trees: list[list[str]] = []

    def planner(tree: SourceTree, override: str | None) -> Any:
        seen_trees.append(tree.list_dir("."))
        return plan_build(tree, override)

    log = Log()
    runner = _runner(planner=planner, cache_bucket=CACHE)
    build_id = runner.start(_request(AWS_SECRET_ACCESS_KEY="nope"), log)

    # Planned from the extracted upload.
    assert seen_trees == [["Procfile", "bin/", "package.json", "server.js"]]
    assert build_id.startswith(f"{PROJECT}:")
    assert any(build_id in line for line in log.lines)
    assert log.flushes >= 1

    (call,) = start_build_calls
    assert call["projectName"] == PROJECT
    assert call["sourceTypeOverride"] == "S3"
    assert call["sourceLocationOverride"] == f"{SOURCES}/codebuild-sources/prj_01/dep_01.zip"
    assert call["idempotencyToken"] == "dep_01"
    assert call["timeoutInMinutesOverride"] == 25
    env = {v["name"]: v["value"] for v in call["environmentVariablesOverride"]}
    assert env["RAILYARD_DEPLOYMENT_ID"] == "dep_01"
    assert env["RAILYARD_SERVICE_ID"] == "svc_01"
    assert env["RAILYARD_PROJECT_ID"] == "prj_01"
    # the dependency key in the buildspec covers the build's variables, as the local runner's does
    assert env["RAILYARD_VARIABLES_SHA256"] == variables_digest({})
    # A user's AWS_* would hijack the buildspec's own aws calls; it is withheld, and said so.
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert any("AWS_SECRET_ACCESS_KEY" in line for line in log.lines)
    assert call["artifactsOverride"] == {
        "type": "S3",
        "location": ARTIFACTS,
        "path": "artifacts/codebuild/prj_01",
        "name": "dep_01",
        "namespaceType": "NONE",
        "packaging": "NONE",
    }
    # The project's log streams and the project's own CodeBuild cache.
    assert call["logsConfigOverride"]["cloudWatchLogs"] == {"status": "ENABLED", "streamName": "prj_01"}
    assert call["cacheOverride"] == {"type": "S3", "location": f"{CACHE}/deps-cache/prj_01/codebuild"}

    spec = yaml.safe_load(call["buildspecOverride"])
    assert spec["version"] == 0.2
    image = f"{REGISTRY}/railyard-{STAGE}/prj_01:dep_01"
    assert spec["env"]["variables"]["IMAGE_URI"] == image
    assert spec["phases"]["post_build"]["commands"] == ['docker push "$IMAGE_URI"']
    assert spec["phases"]["build"]["commands"][-1] == 'docker build -f .railyard/Dockerfile -t "$IMAGE_URI" .'

    # What moto keeps of the build.
    (build,) = boto3.client("codebuild").batch_get_builds(ids=[build_id])["builds"]
    assert build["projectName"] == PROJECT
    assert build["artifacts"]["location"] == ARTIFACTS
    assert boto3.client("codebuild").list_builds_for_project(projectName=PROJECT)["ids"] == [build_id]

    # CodeBuild reads a ZIP under the project's source prefix, with start.sh still executable.
    body = boto3.client("s3").get_object(Bucket=SOURCES, Key="codebuild-sources/prj_01/dep_01.zip")["Body"]
    with zipfile.ZipFile(io.BytesIO(body.read())) as archive:
        assert sorted(archive.namelist()) == ["Procfile", "bin/start.sh", "package.json", "server.js"]
        assert (archive.getinfo("bin/start.sh").external_attr >> 16) & stat.S_IXUSR
        assert archive.read("Procfile") == b"web: node server.js\n"
    # The build's record is outside every prefix the build may write (it cannot rewrite it).
    assert _keys(ARTIFACTS) == ["codebuild-results/dep_01.json"]

    # After the success event, the step's result comes from what start() recorded.
    result = _runner().result("dep_01")
    assert result.artifact_key == runner.artifact_key("prj_01", "dep_01")
    assert result.artifact_key == "artifacts/codebuild/prj_01/dep_01/artifact.tar.gz"
    assert result.start_command == "node server.js"
    assert result.provider == "node"
    assert result.cached is False
    assert result.image == image  # what the buildspec pushed; releases carry it


def test_a_build_runs_as_its_projects_role_created_once_with_tag_boundary_and_policy(
    start_build_calls: list[dict[str, Any]], iam_calls: list[str]
) -> None:
    _upload()
    runner = _runner()
    runner.start(_request("dep_01"), Log())
    runner.start(_request("dep_02"), Log())

    iam = boto3.client("iam")
    role = iam.get_role(RoleName="railyard-test-build-prj_01")["Role"]
    assert [c["serviceRoleOverride"] for c in start_build_calls] == [role["Arn"], role["Arn"]]
    assert iam_calls.count("CreateRole") == 1  # once per container, not per build
    assert iam_calls.count("GetRole") == 1
    assert {"Key": PROJECT_TAG, "Value": "prj_01"} in role["Tags"]
    assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == POLICY_ARN
    attached = iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [POLICY_ARN]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "codebuild.amazonaws.com"}
    assert trust["Condition"]["ArnLike"]["aws:SourceArn"] == (
        f"arn:aws:codebuild:*:{ACCOUNT}:project/{PROJECT}"
    )

    # A new container finds the role instead of creating it again.
    _runner().start(_request("dep_03"), Log())
    assert iam_calls.count("CreateRole") == 1


def test_a_second_project_gets_its_own_role_keys_repository_and_parameters(
    start_build_calls: list[dict[str, Any]],
) -> None:
    _upload()
    runner = _runner(cache_bucket=CACHE)
    runner.start(_request("dep_01", "prj_01", TOKEN="a"), Log())
    runner.start(_request("dep_02", "prj_02", TOKEN="b"), Log())

    first, second = start_build_calls
    assert first["serviceRoleOverride"].endswith(":role/railyard-test-build-prj_01")
    assert second["serviceRoleOverride"].endswith(":role/railyard-test-build-prj_02")
    assert second["sourceLocationOverride"] == f"{SOURCES}/codebuild-sources/prj_02/dep_02.zip"
    assert second["artifactsOverride"]["path"] == "artifacts/codebuild/prj_02"
    assert yaml.safe_load(second["buildspecOverride"])["env"]["variables"]["IMAGE_URI"] == (
        f"{REGISTRY}/railyard-test/prj_02:dep_02"
    )
    (token,) = [v for v in second["environmentVariablesOverride"] if v["name"] == "TOKEN"]
    assert token["value"] == "/railyard/test/builds/prj_02/dep_02/TOKEN"
    repositories = boto3.client("ecr").describe_repositories()["repositories"]
    assert sorted(r["repositoryName"] for r in repositories) == [
        "railyard-test/prj_01",
        "railyard-test/prj_02",
    ]


def test_variables_reach_the_build_only_as_parameter_store_references(
    start_build_calls: list[dict[str, Any]],
) -> None:
    _upload()
    _runner().start(_request(API_KEY=SECRET, NEXT_PUBLIC_API="https://api.example.com", EMPTY=""), Log())

    (call,) = start_build_calls
    # No value of a user's variable is anywhere in the StartBuild call (nor the buildspec in it).
    assert SECRET not in json.dumps(call) and "api.example.com" not in json.dumps(call)
    user = {
        v["name"]: v for v in call["environmentVariablesOverride"] if not v["name"].startswith("RAILYARD_")
    }
    assert user["API_KEY"] == {
        "name": "API_KEY",
        "value": "/railyard/test/builds/prj_01/dep_01/API_KEY",
        "type": "PARAMETER_STORE",
    }
    assert user["NEXT_PUBLIC_API"]["type"] == "PARAMETER_STORE"
    assert user["EMPTY"] == {"name": "EMPTY", "value": "", "type": "PLAINTEXT"}  # SSM refuses ""
    bookkeeping = [v for v in call["environmentVariablesOverride"] if v["name"].startswith("RAILYARD_")]
    assert {v["type"] for v in bookkeeping} == {"PLAINTEXT"}
    assert {v["name"]: v["value"] for v in bookkeeping}["RAILYARD_VARIABLES_SHA256"] == variables_digest(
        {"API_KEY": SECRET, "NEXT_PUBLIC_API": "https://api.example.com", "EMPTY": ""}
    )

    ssm = boto3.client("ssm")
    stored = ssm.get_parameter(Name=user["API_KEY"]["value"], WithDecryption=True)["Parameter"]
    assert (stored["Type"], stored["Value"]) == ("SecureString", SECRET)


def test_stale_parameters_of_the_project_are_swept_and_other_projects_kept(codebuild_env: None) -> None:
    access = ProjectBuildAccess(ISOLATION, ACCOUNT, "us-east-1", PROJECT)
    access.put_variables("prj_01", "dep_01", {"A": "1", "B": "2"})
    access.put_variables("prj_02", "dep_09", {"A": "1"})
    later = datetime.now(UTC) + timedelta(days=2)

    assert access.sweep_parameters("prj_01") == 0  # fresh: a build may still read them
    assert access.sweep_parameters("prj_01", now=later) == 2

    ssm = boto3.client("ssm")
    left = ssm.get_parameters_by_path(Path="/railyard/test/builds", Recursive=True)["Parameters"]
    assert [p["Name"] for p in left] == ["/railyard/test/builds/prj_02/dep_09/A"]


def test_the_projects_repository_scans_on_push_and_has_a_lifecycle(
    start_build_calls: list[dict[str, Any]],
) -> None:
    _upload()
    _runner().start(_request(), Log())
    _runner().start(_request("dep_02"), Log())  # another container: the repository exists already

    ecr = boto3.client("ecr")
    (repository,) = ecr.describe_repositories()["repositories"]
    assert repository["repositoryName"] == "railyard-test/prj_01"
    assert repository["imageScanningConfiguration"] == {"scanOnPush": True}
    lifecycle = json.loads(
        ecr.get_lifecycle_policy(repositoryName="railyard-test/prj_01")["lifecyclePolicyText"]
    )
    counts = [r["selection"] for r in lifecycle["rules"]]
    assert {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 100} in counts


def test_a_role_widened_by_someone_else_is_refused(start_build_calls: list[dict[str, Any]]) -> None:
    _upload()
    iam = boto3.client("iam")
    wide = iam.create_policy(
        PolicyName="wide",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
            }
        ),
    )["Policy"]["Arn"]
    iam.create_role(
        RoleName="railyard-test-build-prj_01", AssumeRolePolicyDocument="{}", PermissionsBoundary=wide
    )
    with pytest.raises(BuildFailed, match="permissions boundary"):
        _runner().start(_request(), Log())
    assert start_build_calls == []


def test_without_the_build_stacks_policy_the_build_fails_saying_what_to_deploy(
    start_build_calls: list[dict[str, Any]],
) -> None:
    _upload()
    boto3.client("iam").delete_policy(PolicyArn=POLICY_ARN)
    with pytest.raises(BuildFailed, match=f"{ISOLATION.policy_name} does not exist.*build stack"):
        _runner().start(_request(), Log())
    assert start_build_calls == []


def _refuse_start_build(times: int) -> list[int]:
    """Makes the runner's StartBuild fail `times` times as CodeBuild does with a role IAM has not
    propagated yet, then pass; returns the attempt counter."""
    attempts = [0]

    def refuse(**_: Any) -> Any:
        attempts[0] += 1
        if attempts[0] <= times:
            error = {"Error": {"Code": "InvalidInputException", "Message": "CodeBuild is not authorized"}}
            raise ClientError(error, "StartBuild")
        return None  # botocore goes on and sends the call

    _on("codebuild", "before-call.codebuild.StartBuild", refuse)
    return attempts


def test_a_just_created_role_is_retried_a_bounded_number_of_times(codebuild_env: None) -> None:
    _upload()
    attempts = _refuse_start_build(2)
    sleeps: list[float] = []
    log = Log()

    build_id = _runner(sleeps=sleeps).start(_request(), log)

    assert build_id.startswith(f"{PROJECT}:") and attempts[0] == 3
    assert sleeps == [2.0, 4.0]
    assert sum("IAM propagates it" in line for line in log.lines) == 2


def test_a_refusal_that_outlasts_the_retries_fails_the_build(codebuild_env: None) -> None:
    _upload()
    _refuse_start_build(99)
    sleeps: list[float] = []
    with pytest.raises(BuildFailed, match="InvalidInputException"):
        _runner(sleeps=sleeps).start(_request(), Log())
    assert sleeps == [2.0, 4.0, 8.0, 16.0]  # about 30 s in all, then the refusal stands


def test_an_old_role_is_not_retried(codebuild_env: None) -> None:
    _upload()
    _runner().start(_request("dep_00"), Log())  # the role exists from an earlier container
    _refuse_start_build(1)
    sleeps: list[float] = []
    with pytest.raises(BuildFailed, match="InvalidInputException"):
        _runner(sleeps=sleeps).start(_request(), Log())
    assert sleeps == []


def test_retention_deletes_the_record_then_the_artifact_of_that_project_only(
    start_build_calls: list[dict[str, Any]],
) -> None:
    _upload()
    runner = _runner()
    runner.start(_request("dep_01", "prj_01"), Log())
    runner.start(_request("dep_02", "prj_02"), Log())
    s3, blobs = boto3.client("s3"), S3BlobStore()
    for project, deployment in (("prj_01", "dep_01"), ("prj_02", "dep_02")):  # what CodeBuild uploads
        s3.put_object(Bucket=ARTIFACTS, Key=runner.artifact_key(project, deployment), Body=b"tar")

    key = runner.result("dep_01").artifact_key
    objects = runner.artifact_objects(key)
    assert objects == ["codebuild-results/dep_01.json", "artifacts/codebuild/prj_01/dep_01/artifact.tar.gz"]
    blobs.delete_keys(ARTIFACTS, objects)

    assert _keys(ARTIFACTS) == [
        "artifacts/codebuild/prj_02/dep_02/artifact.tar.gz",
        "codebuild-results/dep_02.json",
    ]
    with pytest.raises(NotFound):
        runner.result("dep_01")
    assert runner.artifact_objects("artifacts/other/x.tar.gz") == ["artifacts/other/x.tar.gz"]


def test_dependency_layer_is_kept_per_service_under_the_projects_cache_prefix(
    start_build_calls: list[dict[str, Any]],
) -> None:
    _upload()
    plan = BuildPlan(
        provider="node",
        install=("npm ci",),
        build=(),
        start_command="node server.js",
        deps_inputs=("package.json", "package-lock.json"),
        deps_dirs=("node_modules",),
    )
    _runner(planner=lambda tree, override: plan, cache_bucket=CACHE).start(_request(), Log())
    spec = yaml.safe_load(start_build_calls[0]["buildspecOverride"])
    restore = spec["phases"]["pre_build"]["commands"][-1]
    assert '"s3://railyard-cache/deps-cache/prj_01/svc_01/deps/$RAILYARD_DEPS_KEY.tar.gz"' in restore


def test_start_without_a_registry_builds_no_image(start_build_calls: list[dict[str, Any]]) -> None:
    _upload()
    runner = _runner(registry=None)
    runner.start(_request("dep_02"), Log())
    spec = yaml.safe_load(start_build_calls[0]["buildspecOverride"])
    assert "post_build" not in spec["phases"]
    assert "IMAGE_URI" not in spec["env"]["variables"]
    assert start_build_calls[0]["cacheOverride"] == {"type": "NO_CACHE"}
    assert runner.result("dep_02").image is None
    assert boto3.client("ecr").describe_repositories()["repositories"] == []


def test_the_build_log_names_each_config_key_railyard_ignores(
    start_build_calls: list[dict[str, Any]],
) -> None:
    exported = {"build": {"builder": "nixpacks"}, "deploy": {"useLegacyStacker": False}}
    _upload(files={**NODE_APP, "railway.json": json.dumps(exported)})
    log = Log()

    _runner(registry=None).start(_request("dep_03"), log)

    assert "config: ignoring deploy.useLegacyStacker (Railyard has no equivalent)" in log.lines


def test_missing_source_is_a_build_failure(start_build_calls: list[dict[str, Any]]) -> None:
    with pytest.raises(BuildFailed, match="was not found"):
        _runner().start(_request(), Log())
    assert start_build_calls == []


def test_a_missing_codebuild_project_fails_the_build_saying_what_to_do(codebuild_env: None) -> None:
    _upload()
    access = ProjectBuildAccess(ISOLATION, ACCOUNT, "us-east-1", "no-such-project")
    runner = CodeBuildRunner("no-such-project", S3BlobStore(), SOURCES, ARTIFACTS, None, access=access)

    with pytest.raises(BuildFailed, match=r"'no-such-project' does not exist.*RAILYARD_BUILDER=local"):
        runner.start(_request(), Log())


def test_unplannable_source_fails_before_codebuild(start_build_calls: list[dict[str, Any]]) -> None:
    _upload(files={"README.md": "hello"})
    with pytest.raises(BuildFailed):
        _runner().start(_request(), Log())
    assert start_build_calls == []


@pytest.mark.parametrize(
    ("deployment_id", "project_id"), [("../x", "prj_01"), ("dep_01", "../x"), ("dep_01", "")]
)
def test_unsafe_ids_are_refused(codebuild_env: None, deployment_id: str, project_id: str) -> None:
    with pytest.raises(ValueError, match="unsafe"):
        _runner().start(_request(deployment_id, project_id), Log())


def test_result_before_start_is_not_found(codebuild_env: None) -> None:
    with pytest.raises(NotFound):
        _runner().result("dep_never")


def test_build_is_not_synchronous_on_aws() -> None:
    with pytest.raises(NotImplementedError, match="state-change event"):
        _runner().build(_request(), Log(), lambda: None)
