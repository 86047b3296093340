"""CodeBuildRunner against moto's in-process CodeBuild, S3 and IAM.

moto accepts StartBuild but runs nothing, and its build records drop the overrides (its
batch_get_builds shows a canned source and no environment variables). So the request itself is
captured as it leaves the runner's own botocore client (validated against the CodeBuild API model
and serialized), and batch_get_builds is used for what moto does keep: that the build exists, for this
project, with the artifacts override.
"""

from __future__ import annotations

import io
import json
import stat
import tarfile
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws

from chalicelib.adapters import aws
from chalicelib.adapters.builds.codebuild import (
    CodeBuildRunner,
    artifact_key,
    build_outcome,
    build_state_change,
    event_deployment_id,
)
from chalicelib.adapters.storage import S3BlobStore
from chalicelib.domain.buildplan import BuildPlan, SourceTree, plan_build
from chalicelib.domain.errors import BuildFailed, NotFound
from chalicelib.domain.models import ServiceSettings
from chalicelib.domain.ports import BuildRequest
from chalicelib.domain.renderings import variables_digest

ACCOUNT = "123456789012"
PROJECT = "railyard-builds"
SOURCES = "railyard-sources"
ARTIFACTS = "railyard-artifacts"
CACHE = "railyard-cache"
ECR_REPO = f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/railyard/svc_01"


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.flushes = 0

    def write(self, message: str) -> None:
        self.lines.append(message)

    def flush(self) -> None:
        self.flushes += 1


@pytest.fixture
def codebuild_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    # Anything pointing elsewhere would bypass the in-process mock.
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_CODEBUILD", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    aws.reset_clients()
    with mock_aws():
        iam = boto3.client("iam")
        role = iam.create_role(
            RoleName="railyard-codebuild",
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "codebuild.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
        )["Role"]
        assert role["Arn"].startswith(f"arn:aws:iam::{ACCOUNT}:")
        s3 = boto3.client("s3")
        for bucket in (SOURCES, ARTIFACTS, CACHE):
            s3.create_bucket(Bucket=bucket)
        boto3.client("codebuild").create_project(
            name=PROJECT,
            source={"type": "S3", "location": f"{SOURCES}/placeholder.zip"},
            artifacts={"type": "S3", "location": ARTIFACTS},
            environment={
                "type": "LINUX_CONTAINER",
                "image": "aws/codebuild/standard:7.0",
                "computeType": "BUILD_GENERAL1_SMALL",
                "privilegedMode": True,
            },
            serviceRole=role["Arn"],
        )
        yield
    aws.reset_clients()


@pytest.fixture
def start_build_calls(codebuild_env: None) -> list[dict[str, Any]]:
    """The JSON body of every StartBuild request the runner's client sends: serialized by botocore
    after it validated the parameters against the CodeBuild API model."""
    calls: list[dict[str, Any]] = []

    def capture(params: dict[str, Any], **_: Any) -> None:
        calls.append(json.loads(params["body"]))

    aws.client("codebuild").meta.events.register("before-call.codebuild.StartBuild", capture)
    return calls


def _source_tar(files: dict[str, tuple[str, int]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path, (content, mode) in files.items():
            data = content.encode()
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = mode
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


NODE_APP = {
    "package.json": (json.dumps({"name": "web", "version": "1.0.0"}), 0o644),
    "server.js": ("require('http').createServer((q, s) => s.end('ok')).listen(process.env.PORT)", 0o644),
    "Procfile": ("web: node server.js\n", 0o644),
    "bin/start.sh": ("#!/bin/sh\nexec node server.js\n", 0o755),
}


def _request(deployment_id: str = "dep_01", **variables: str) -> BuildRequest:
    return BuildRequest(
        deployment_id=deployment_id,
        service_id="svc_01",
        source_key="sources/svc_01/abc.tar.gz",
        settings=ServiceSettings(build_timeout=1500),
        variables=dict(variables),
    )


def _runner(**kwargs: Any) -> CodeBuildRunner:
    return CodeBuildRunner(PROJECT, S3BlobStore(), SOURCES, ARTIFACTS, ECR_REPO, **kwargs)


def test_start_plans_the_source_and_starts_a_build_with_the_rendered_buildspec(
    start_build_calls: list[dict[str, Any]],
) -> None:
    boto3.client("s3").put_object(Bucket=SOURCES, Key="sources/svc_01/abc.tar.gz", Body=_source_tar(NODE_APP))
    seen_trees: list[list[str]] = []

    def planner(tree: SourceTree, override: str | None) -> Any:
        seen_trees.append(tree.list_dir("."))
        return plan_build(tree, override)

    log = Log()
    build_id = _runner(planner=planner, cache_bucket=CACHE).start(
        _request(NEXT_PUBLIC_API="https://api.example.com", AWS_SECRET_ACCESS_KEY="nope"), log
    )

    # Planned from the extracted upload.
    assert seen_trees == [["Procfile", "bin/", "package.json", "server.js"]]
    assert build_id.startswith(f"{PROJECT}:")
    assert any(build_id in line for line in log.lines)
    assert log.flushes >= 1

    (call,) = start_build_calls
    assert call["projectName"] == PROJECT
    assert call["sourceTypeOverride"] == "S3"
    assert call["sourceLocationOverride"] == f"{SOURCES}/codebuild-sources/dep_01.zip"
    assert call["idempotencyToken"] == "dep_01"
    assert call["timeoutInMinutesOverride"] == 25
    env = {v["name"]: v["value"] for v in call["environmentVariablesOverride"]}
    assert env["RAILYARD_DEPLOYMENT_ID"] == "dep_01"
    assert env["RAILYARD_SERVICE_ID"] == "svc_01"
    # the dependency key in the buildspec covers the build's variables, as the local runner's does
    assert env["RAILYARD_VARIABLES_SHA256"] == variables_digest(
        {"NEXT_PUBLIC_API": "https://api.example.com"}
    )
    assert env["NEXT_PUBLIC_API"] == "https://api.example.com"
    # A user's AWS_* would hijack the buildspec's own aws calls; it is withheld, and said so.
    assert "AWS_SECRET_ACCESS_KEY" not in env
    assert any("AWS_SECRET_ACCESS_KEY" in line for line in log.lines)
    assert call["artifactsOverride"] == {
        "type": "S3",
        "location": ARTIFACTS,
        "path": "artifacts/codebuild",
        "name": "dep_01",
        "namespaceType": "NONE",
        "packaging": "NONE",
    }

    spec = yaml.safe_load(call["buildspecOverride"])
    assert spec["version"] == 0.2
    assert spec["env"]["variables"]["IMAGE_URI"] == f"{ECR_REPO}:dep_01"
    assert spec["phases"]["post_build"]["commands"] == ['docker push "$IMAGE_URI"']
    assert spec["phases"]["build"]["commands"][-1] == 'docker build -f .railyard/Dockerfile -t "$IMAGE_URI" .'

    # What moto keeps of the build.
    (build,) = boto3.client("codebuild").batch_get_builds(ids=[build_id])["builds"]
    assert build["projectName"] == PROJECT
    assert build["artifacts"]["location"] == ARTIFACTS
    assert boto3.client("codebuild").list_builds_for_project(projectName=PROJECT)["ids"] == [build_id]

    # CodeBuild reads a ZIP, with the executable bit of bin/start.sh intact.
    body = boto3.client("s3").get_object(Bucket=SOURCES, Key="codebuild-sources/dep_01.zip")["Body"].read()
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert sorted(archive.namelist()) == ["Procfile", "bin/start.sh", "package.json", "server.js"]
        assert (archive.getinfo("bin/start.sh").external_attr >> 16) & stat.S_IXUSR
        assert archive.read("Procfile") == b"web: node server.js\n"

    # After the success event, the step's result comes from what start() recorded.
    result = _runner().result("dep_01")
    assert result.artifact_key == artifact_key("dep_01") == "artifacts/codebuild/dep_01/artifact.tar.gz"
    assert result.start_command == "node server.js"
    assert result.provider == "node"
    assert result.cached is False
    assert result.image == f"{ECR_REPO}:dep_01"  # what the buildspec pushed; releases carry it


def test_dependency_layer_is_kept_per_service_in_the_cache_bucket(
    start_build_calls: list[dict[str, Any]],
) -> None:
    boto3.client("s3").put_object(Bucket=SOURCES, Key="sources/svc_01/abc.tar.gz", Body=_source_tar(NODE_APP))
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
    assert '"s3://railyard-cache/deps-cache/svc_01/deps/$RAILYARD_DEPS_KEY.tar.gz"' in restore


def test_start_without_ecr_builds_no_image(start_build_calls: list[dict[str, Any]]) -> None:
    boto3.client("s3").put_object(Bucket=SOURCES, Key="sources/svc_01/abc.tar.gz", Body=_source_tar(NODE_APP))
    runner = CodeBuildRunner(PROJECT, S3BlobStore(), SOURCES, ARTIFACTS, None)
    runner.start(_request("dep_02"), Log())
    spec = yaml.safe_load(start_build_calls[0]["buildspecOverride"])
    assert "post_build" not in spec["phases"]
    assert "IMAGE_URI" not in spec["env"]["variables"]
    assert runner.result("dep_02").image is None


def test_missing_source_is_a_build_failure(start_build_calls: list[dict[str, Any]]) -> None:
    with pytest.raises(BuildFailed, match="was not found"):
        _runner().start(_request(), Log())
    assert start_build_calls == []


def test_a_missing_codebuild_project_fails_the_build_saying_what_to_do(codebuild_env: None) -> None:
    boto3.client("s3").put_object(Bucket=SOURCES, Key="sources/svc_01/abc.tar.gz", Body=_source_tar(NODE_APP))
    runner = CodeBuildRunner("no-such-project", S3BlobStore(), SOURCES, ARTIFACTS, None)

    with pytest.raises(BuildFailed, match=r"'no-such-project' does not exist.*RAILYARD_BUILDER=local"):
        runner.start(_request(), Log())


def test_unplannable_source_fails_before_codebuild(start_build_calls: list[dict[str, Any]]) -> None:
    tar = _source_tar({"README.md": ("hello", 0o644)})
    boto3.client("s3").put_object(Bucket=SOURCES, Key="sources/svc_01/abc.tar.gz", Body=tar)
    with pytest.raises(BuildFailed):
        _runner().start(_request(), Log())
    assert start_build_calls == []


def test_unsafe_deployment_id_is_refused(codebuild_env: None) -> None:
    with pytest.raises(ValueError, match="unsafe deployment id"):
        _runner().start(_request("../x"), Log())


def test_result_before_start_is_not_found(codebuild_env: None) -> None:
    with pytest.raises(NotFound):
        _runner().result("dep_never")


def test_build_is_not_synchronous_on_aws() -> None:
    runner = CodeBuildRunner(PROJECT, S3BlobStore(), SOURCES, ARTIFACTS, None)
    with pytest.raises(NotImplementedError, match="state-change event"):
        runner.build(_request(), Log(), lambda: None)


# -- build_outcome --------------------------------------------------------------------------------


def _event(status: str, build_id: str | None = None) -> dict[str, Any]:
    """The shape of a real "CodeBuild Build State Change" event (trimmed)."""
    return {
        "version": "0",
        "id": "bfdc1220-60ff-44f2-b3b5-8e1e2a4f6d1c",
        "detail-type": "CodeBuild Build State Change",
        "source": "aws.codebuild",
        "account": ACCOUNT,
        "time": "2026-11-22T10:00:00Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:codebuild:us-east-1:{ACCOUNT}:build/{PROJECT}:8d1c"],
        "detail": {
            "build-status": status,
            "project-name": PROJECT,
            "build-id": build_id or f"arn:aws:codebuild:us-east-1:{ACCOUNT}:build/{PROJECT}:8d1c",
            "additional-information": {
                "environment": {
                    "image": "aws/codebuild/standard:7.0",
                    "environment-variables": [
                        {"name": "RAILYARD_DEPLOYMENT_ID", "value": "dep_01", "type": "PLAINTEXT"}
                    ],
                },
                "build-complete": status != "IN_PROGRESS",
            },
            "current-phase": "COMPLETED",
            "version": "1",
        },
    }


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("SUCCEEDED", "SUCCEEDED"),
        ("FAILED", "FAILED"),
        ("STOPPED", "STOPPED"),
        ("IN_PROGRESS", "IN_PROGRESS"),
        ("TIMED_OUT", "FAILED"),
        ("FAULT", "FAILED"),
    ],
)
def test_build_outcome_reads_the_state_change_event(status: str, expected: str) -> None:
    # The id comes back in start()'s form, not the event's ARN.
    assert build_outcome(_event(status)) == (f"{PROJECT}:8d1c", expected)


def test_build_outcome_keeps_a_plain_build_id() -> None:
    assert build_outcome(_event("SUCCEEDED", build_id=f"{PROJECT}:8d1c")) == (f"{PROJECT}:8d1c", "SUCCEEDED")


@pytest.mark.parametrize(
    "event",
    [
        {"source": "aws.codebuild", "detail-type": "CodeBuild Build Phase Change", "detail": {}},
        {"source": "aws.s3", "detail-type": "CodeBuild Build State Change", "detail": {}},
        {"source": "aws.codebuild", "detail-type": "CodeBuild Build State Change"},
        {
            "source": "aws.codebuild",
            "detail-type": "CodeBuild Build State Change",
            "detail": {"build-id": "p:1"},
        },
        _event("SOMETHING_NEW"),
    ],
)
def test_build_outcome_refuses_other_events(event: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        build_outcome(event)


def test_event_deployment_id() -> None:
    assert event_deployment_id(_event("SUCCEEDED")) == "dep_01"
    assert event_deployment_id({"detail": {}}) is None


# -- build_state_change ----------------------------------------------------------------------------


def _failed_event(status: str = "FAILED") -> dict[str, Any]:
    event = _event(status)
    event["detail"]["additional-information"].update(
        {
            "logs": {
                "group-name": f"/aws/codebuild/{PROJECT}",
                "stream-name": "8d1c",
                "deep-link": "https://console.aws.amazon.com/cloudwatch/home?region=us-east-1#logEvent:x",
            },
            "phases": [
                {"phase-type": "SUBMITTED", "phase-status": "SUCCEEDED", "phase-context": []},
                {"phase-type": "INSTALL", "phase-status": "SUCCEEDED", "phase-context": [": "]},
                {
                    "phase-type": "BUILD",
                    "phase-status": status,
                    "phase-context": [
                        "COMMAND_EXECUTION_ERROR: Error while executing command: npm run build. "
                        "Reason: exit status 2"
                    ],
                },
                {"phase-type": "FINALIZING", "phase-status": "SUCCEEDED", "phase-context": [": "]},
                {"phase-type": "COMPLETED"},
            ],
        }
    )
    return event


def test_build_state_change_says_which_phase_failed_why_and_where_the_log_is() -> None:
    change = build_state_change(_failed_event())
    assert change.build_id == f"{PROJECT}:8d1c"
    assert (change.status, change.reported_status) == ("FAILED", "FAILED")
    assert change.phase == "BUILD (FAILED)"
    assert change.context == (
        "COMMAND_EXECUTION_ERROR: Error while executing command: npm run build. Reason: exit status 2"
    )
    assert change.logs == "https://console.aws.amazon.com/cloudwatch/home?region=us-east-1#logEvent:x"


def test_build_state_change_keeps_the_reported_status_of_a_timeout() -> None:
    change = build_state_change(_failed_event("TIMED_OUT"))
    assert (change.status, change.reported_status, change.phase) == (
        "FAILED",
        "TIMED_OUT",
        "BUILD (TIMED_OUT)",
    )


def test_build_state_change_of_a_success_points_at_the_build_page_without_a_log_link() -> None:
    change = build_state_change(_event("SUCCEEDED"))
    assert (change.status, change.phase, change.context) == ("SUCCEEDED", "COMPLETED", "")
    assert change.logs == (
        f"https://us-east-1.console.aws.amazon.com/codesuite/codebuild/{ACCOUNT}/projects/{PROJECT}"
        f"/build/{PROJECT}%3A8d1c/?region=us-east-1"
    )


def test_build_state_change_refuses_other_events() -> None:
    with pytest.raises(ValueError):
        build_state_change({"source": "aws.s3", "detail-type": "Object Created", "detail": {}})
