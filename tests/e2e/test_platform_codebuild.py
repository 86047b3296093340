"""End to end: `railyard dev` with the CodeBuild builder (moto's CodeBuild builds nothing; the
state-change events end the builds)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from chalicelib.catalogue import Catalogue
from railyard.localdev.emulator_auth import ensure_credentials
from tests.support.codebuild_stack import create_build_stack
from tests.support.platform import RAILYARD, running_dev, write_app

pytestmark = pytest.mark.e2e


def test_dev_with_the_codebuild_builder_ends_builds_from_codebuild_state_change_events(
    tmp_path: Path,
) -> None:
    import boto3

    home = tmp_path / "home"
    home.mkdir()
    with running_dev(home, {"RAILYARD_BUILDER": "codebuild"}) as cb:
        # GIVEN the platform with the CodeBuild builder (infrastructure creates the project on AWS;
        # here the test does, on the platform's embedded AWS)
        key_id, secret = ensure_credentials(cb.data_dir / "aws")  # the only ones it answers
        aws = {
            "endpoint_url": f"http://127.0.0.1:{cb.moto_port}",
            "region_name": "us-east-1",
            "aws_access_key_id": key_id,
            "aws_secret_access_key": secret,
        }
        # What the build stack creates in AWS (the project, its base role, the per-project policy).
        catalogue = Catalogue("dev", account="123456789012", region="us-east-1")
        project = catalogue.codebuild_project
        codebuild = boto3.client("codebuild", **aws)
        create_build_stack(
            boto3.client("iam", **aws),
            codebuild,
            project=project,
            sources_bucket=catalogue.bucket("sources").name,
            policy_name=catalogue.build_isolation.policy_name,
        )
        app = write_app(tmp_path / "built-elsewhere", {"main.py": "print('hi')\n"})
        cb.cli("init", "--project", "elsewhere", "--name", "web", cwd=app)

        # WHEN `railyard up` starts a CodeBuild build and CodeBuild then reports it FAILED
        up = subprocess.Popen(
            [*RAILYARD, "up"],
            cwd=app,
            env=cb.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 30
            builds: list[str] = []
            while not builds and time.monotonic() < deadline and up.poll() is None:
                builds = codebuild.list_builds_for_project(projectName=project)["ids"]
                time.sleep(0.2)
            assert builds, "no CodeBuild build was started"
            (build,) = codebuild.batch_get_builds(ids=builds)["builds"]
            detail = {
                "build-status": "FAILED",
                "project-name": project,
                "build-id": build["arn"],
                "current-phase": "COMPLETED",
                "additional-information": {
                    "build-complete": True,
                    "phases": [
                        {
                            "phase-type": "BUILD",
                            "phase-status": "FAILED",
                            "phase-context": ["COMMAND_EXECUTION_ERROR: exit status 2"],
                        }
                    ],
                },
            }
            sent = boto3.client("events", **aws).put_events(
                Entries=[
                    {
                        "Source": "aws.codebuild",
                        "DetailType": "CodeBuild Build State Change",
                        "Detail": json.dumps(detail),
                        "Resources": [build["arn"]],
                    }
                ]
            )
            assert sent["FailedEntryCount"] == 0
            out, _ = up.communicate(timeout=30)
        finally:
            if up.poll() is None:
                up.kill()
                up.communicate()
        # THEN the build-events poller handed the event to functions/build_events and `up` ends
        # with CodeBuild's reason
        assert f"started CodeBuild build {build['id']}" in out
        assert up.returncode == 1, out
        assert f"CodeBuild build {build['id']} FAILED in phase BUILD" in out
        assert "COMMAND_EXECUTION_ERROR: exit status 2" in out
