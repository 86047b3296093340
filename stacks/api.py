"""ApiStack: the Chalice app (app.py + chalicelib) on API Gateway + Lambda, through
`chalice.cdk.Chalice`, with stage throttling, the settings chalicelib/config.py reads, and the
grants its routes need. Output OUTPUT_API_URL: the base URL the CLI takes as --api-url.

Chalice names its stage after the construct path of the stack (`scope.to_string()`), so the stack's
construct id is the Railyard stage (`prod-<region>` in a replica region); its whole configuration is
passed in (`stage_config`), so .chalice/config.json needs no entry per stage.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Fn, Stack
from constructs import Construct

from chalicelib.catalogue import API_THROTTLE_BURST, API_THROTTLE_RATE, OUTPUT_API_URL
from stacks.environment import lambda_environment
from stacks.packaging import REPO, require_offline_cache
from stacks.refs import DataRefs, StateMachineRefs, grant_data
from stacks.stage import StageContext

API_GATEWAY_STAGE = "api"  # the URL's path prefix: https://<id>.execute-api.<region>.amazonaws.com/api
API_FUNCTION = "APIHandler"  # the logical ids `chalice package` gives
API_ROLE = "DefaultRole"
REST_API = "RestAPI"


class ApiStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, stage: StageContext, workdir: Path, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        from chalice.cdk import Chalice

        catalogue = stage.catalogue
        require_offline_cache()
        stage_config = {
            "api_gateway_stage": API_GATEWAY_STAGE,
            "automatic_layer": True,
            "lambda_timeout": 30,  # API Gateway answers 504 after 29 s anyway
            "lambda_memory_size": 1024,  # CPU scales with memory: cold starts and p99 (bench/)
            "environment_variables": {},
        }
        # Chalice writes its packaging output under the working directory (keep it in `workdir`),
        # and asks botocore for the region (AWS service principals differ per partition).
        with _working_directory(workdir), _region(stage.region):
            self.chalice = Chalice(self, "Chalice", source_dir=str(REPO), stage_config=stage_config)
        for name, value in lambda_environment(stage).items():
            self.chalice.add_environment_variable(name, value, API_FUNCTION)
        rest_api = self.chalice.get_resource(REST_API)
        # One API name per stage: API Gateway's metrics (the 5xx alarm) are keyed by it.
        rest_api.add_property_override("Name", catalogue.stack_name("api"))
        rest_api.add_property_override(
            "MethodSettings",
            [
                {
                    "ResourcePath": "/*",
                    "HttpMethod": "*",
                    "ThrottlingRateLimit": API_THROTTLE_RATE,
                    "ThrottlingBurstLimit": API_THROTTLE_BURST,
                    "MetricsEnabled": True,
                }
            ],
        )
        role = self.chalice.get_role(API_ROLE)
        data = DataRefs.imported(self, stage.catalogue)
        # Presigned uploads to sources; logs and artifacts are read (a log tail, an artifact check).
        grant_data(role, data, read_write=("sources",), read=("artifacts", "logs"))
        StateMachineRefs.of(self, catalogue.deploy_state_machine).grant_control(role)
        self.api_name = catalogue.stack_name("api")
        self.function_name = self.chalice.get_function(API_FUNCTION).function_name
        self.api_url = Fn.sub(
            f"https://${{{REST_API}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{API_GATEWAY_STAGE}"
        )
        CfnOutput(self, OUTPUT_API_URL, value=self.api_url)


@contextlib.contextmanager
def _region(region: str) -> Iterator[None]:
    before = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = region
    try:
        yield
    finally:
        if before is None:
            del os.environ["AWS_DEFAULT_REGION"]
        else:
            os.environ["AWS_DEFAULT_REGION"] = before


@contextlib.contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)
