"""Stand-ins for what the build stack (stacks/build.py) creates in AWS, made on moto by the tests of
the CodeBuild builder: the CodeBuild project, its base role, and the one managed policy every
project's build role gets (moto enforces no policy, so its document only has to be valid)."""

from __future__ import annotations

import json
from typing import Any

ALLOW_LOGS = {"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "*"}
_CODEBUILD_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "codebuild.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def create_build_stack(
    iam: Any,
    codebuild: Any,
    *,
    project: str,
    sources_bucket: str,
    policy_name: str,
    policy_statement: dict[str, Any] = ALLOW_LOGS,
    artifacts: dict[str, str] | None = None,
) -> None:
    """`iam` and `codebuild` are boto3 clients of the emulator the platform under test uses."""
    iam.create_policy(
        PolicyName=policy_name,
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [policy_statement]}),
    )
    role = iam.create_role(
        RoleName="railyard-codebuild", AssumeRolePolicyDocument=json.dumps(_CODEBUILD_TRUST)
    )["Role"]
    codebuild.create_project(
        name=project,
        source={"type": "S3", "location": f"{sources_bucket}/placeholder.zip"},
        artifacts=artifacts or {"type": "NO_ARTIFACTS"},
        environment={
            "type": "LINUX_CONTAINER",
            "image": "aws/codebuild/standard:7.0",
            "computeType": "BUILD_GENERAL1_SMALL",
            "privilegedMode": True,
        },
        serviceRole=role["Arn"],
    )
