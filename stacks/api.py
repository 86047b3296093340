"""ApiStack: the Chalice app (app.py + chalicelib) on Lambda, packaged by `chalice.cdk.Chalice`, behind
an API Gateway HTTP API (docs/decisions/0018): one route per route of the Chalice app, each a
payload-format-1.0 proxy to the Chalice handler, every non-public one behind the Lambda authorizer
Chalice packages for the app's built-in authorizer (docs/decisions/0026), throttled on its `api`
stage; the settings chalicelib/config.py reads and the grants the routes need. Output OUTPUT_API_URL:
the base URL the CLI takes as --api-url (`https://<id>.execute-api.<region>.amazonaws.com/api`).

Chalice names its stage after the construct path of the stack (`scope.to_string()`), so the stack's
construct id is the Railyard stage (`prod-<region>` in a replica region); its whole configuration is
passed in (`stage_config`), so .chalice/config.json needs no entry per stage. Chalice generates a
REST API too (it knows no other); it is removed from the template, so the HTTP API is the one door.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Duration, Fn, Stack
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from aws_cdk.aws_apigatewayv2_authorizers import HttpLambdaAuthorizer, HttpLambdaResponseType
from aws_cdk.aws_apigatewayv2_integrations import HttpLambdaIntegration
from chalice.utils import to_cfn_resource_name
from constructs import Construct

from chalicelib.api.authorizer import AUTHORIZER_CACHE_SECONDS, AUTHORIZER_HEADER, authenticate
from chalicelib.catalogue import API_THROTTLE_BURST, API_THROTTLE_RATE, OUTPUT_API_URL, Catalogue
from stacks.environment import lambda_environment
from stacks.keys import grant_open_git_link_secrets, grant_seal, grant_session_keys
from stacks.live import (
    URL_VARIABLE,
    WEBSOCKET_API,
    WEBSOCKET_FUNCTIONS,
    grant_manage_connections,
    websocket_url,
)
from stacks.packaging import REPO, require_offline_cache
from stacks.refs import DataRefs, StateMachineRefs, grant_data
from stacks.stage import StageContext

API_STAGE = "api"  # the URL's path prefix: https://<id>.execute-api.<region>.amazonaws.com/api
API_FUNCTION = "APIHandler"  # the logical ids `chalice package` gives
API_ROLE = "DefaultRole"
# Chalice makes one function per built-in authorizer, named after it (chalicelib/api/authorizer.py).
AUTHORIZER_FUNCTION = to_cfn_resource_name(authenticate.name)
# What `chalice package` adds for its REST API: the API and its invoke permissions (resources of the
# included template), and the outputs that name it (under the include's "$Outputs").
CHALICE_REST_API = {
    ".": ("RestAPI", "APIHandlerInvokePermission", f"{AUTHORIZER_FUNCTION}InvokePermission"),
    "$Outputs": ("RestAPIId", "EndpointURL"),
}
# The handler waits on DynamoDB and S3; memory buys CPU it barely uses (bench/cost.py prints the
# per-request cost by memory size: less is cheaper), and 512 MB leaves room for botocore,
# PynamoDB and Powertools and a cold start's imports.
API_MEMORY_MB = 512
HTTP_API_ID_OUTPUT = "HttpApiId"


def http_api_id_export(catalogue: Catalogue) -> str:
    """The export the observability stack reads the HTTP API's id from (its metrics are keyed by it)."""
    return f"{catalogue.stack_name('api')}:{HTTP_API_ID_OUTPUT}"


def chalice_routes() -> dict[str, dict[str, bool]]:
    """The Chalice app's own route table: path template -> method -> whether the route is declared
    with the authorizer (every non-public route is). Importing app.py is cheap."""
    from app import app

    return {
        path: {method: entry.authorizer is not None for method, entry in sorted(methods.items())}
        for path, methods in app.routes.items()
    }


class ApiStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, stage: StageContext, workdir: Path, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        from chalice.cdk import Chalice

        catalogue = stage.catalogue
        require_offline_cache()
        stage_config = {
            "api_gateway_stage": API_STAGE,
            "automatic_layer": True,
            "lambda_timeout": 30,  # an HTTP API gives up on its integration after 30 s anyway
            "lambda_memory_size": API_MEMORY_MB,
            "environment_variables": {},
        }
        # Chalice writes its packaging output under the working directory (keep it in `workdir`),
        # and asks botocore for the region (AWS service principals differ per partition).
        with _working_directory(workdir), _region(stage.region):
            self.chalice = Chalice(self, "Chalice", source_dir=str(REPO), stage_config=stage_config)
        self._remove_chalice_rest_api()
        # The live-updates WebSocket API Chalice packages for app.py's handlers (stacks/live.py).
        self.websocket_api_id = self.chalice.sam_template.get_resource(WEBSOCKET_API).ref
        environment = {
            **lambda_environment(stage),
            URL_VARIABLE: websocket_url(self.websocket_api_id, API_STAGE),
        }
        for name, value in environment.items():
            self.add_environment(name, value)
        role = self.chalice.get_role(API_ROLE)
        grant_manage_connections(role, self.websocket_api_id, API_STAGE)
        data = DataRefs.imported(self, stage.catalogue)
        # Presigned uploads to sources; logs and artifacts are read (a log tail, an artifact check).
        grant_data(role, data, read_write=("sources",), read=("artifacts", "logs"))
        StateMachineRefs.of(self, catalogue.deploy_state_machine).grant_control(role)
        grant_seal(role, stage)  # sealed variables: encrypt only, never decrypt
        grant_open_git_link_secrets(role, stage)  # decrypt Git links' webhook secrets only (ADR 0035)
        grant_session_keys(role, stage)  # session signing keys (JWTs) and the MFA sealing key
        # Every change is audited: an entry in the table and an event on the stage's bus.
        events.EventBus.from_event_bus_name(self, "Bus", catalogue.event_bus).grant_put_events_to(role)

        self.api_name = catalogue.stack_name("api")
        self.http_api = apigwv2.HttpApi(
            self,
            "HttpApi",
            api_name=self.api_name,
            description="Railyard's API: every route of the Chalice app, proxied to its handler",
            create_default_stage=False,  # the named stage keeps the REST API's URL (/api)
        )
        self.stage = apigwv2.HttpStage(
            self,
            "Stage",
            http_api=self.http_api,
            stage_name=API_STAGE,
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(rate_limit=API_THROTTLE_RATE, burst_limit=API_THROTTLE_BURST),
        )
        # An imported function that may get a resource policy (it is in this stack): one permission
        # for the whole API rather than one per route (Lambda's policy is limited to 20 KB).
        handler = lambda_.Function.from_function_attributes(
            self,
            "Handler",
            function_arn=self.chalice.sam_template.get_resource(API_FUNCTION).get_att("Arn").to_string(),
            same_environment=True,
        )
        # Payload format 1.0 is the REST proxy event Chalice dispatches on
        # (requestContext.resourcePath + httpMethod); 2.0 has neither.
        integration = HttpLambdaIntegration(
            "Chalice",
            handler,
            payload_format_version=apigwv2.PayloadFormatVersion.VERSION_1_0,
            scope_permission_to_route=False,
        )
        authorizer = self._authorizer()
        for path, methods in chalice_routes().items():
            for authorized in sorted(set(methods.values())):
                self.http_api.add_routes(
                    path=path,
                    methods=[apigwv2.HttpMethod(m) for m, a in methods.items() if a is authorized],
                    integration=integration,
                    authorizer=authorizer if authorized else None,
                )
        self.function_name = handler.function_name
        self.api_url = Fn.sub(
            f"https://${{Api}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{API_STAGE}",
            {"Api": self.http_api.api_id},
        )
        CfnOutput(self, OUTPUT_API_URL, value=self.api_url)
        CfnOutput(
            self,
            HTTP_API_ID_OUTPUT,
            value=self.http_api.api_id,
            export_name=http_api_id_export(catalogue),
        )

    def add_environment(self, name: str, value: str) -> None:
        """A variable for every function of the app (the authorizer builds the same Settings)."""
        for function in (API_FUNCTION, AUTHORIZER_FUNCTION, *WEBSOCKET_FUNCTIONS):
            self.chalice.add_environment_variable(name, value, function)

    def _authorizer(self) -> HttpLambdaAuthorizer:
        """The front door's authenticator (docs/decisions/0026): the function Chalice made for the
        app's built-in authorizer, as a REQUEST authorizer on the Authorization header. An IAM-policy
        response means payload format 1.0, the REST shape Chalice's AuthResponse answers in; its
        answer is cached per header value for AUTHORIZER_CACHE_SECONDS (the revocation bound)."""
        function = lambda_.Function.from_function_attributes(
            self,
            "AuthorizerFunction",
            function_arn=self.chalice.sam_template.get_resource(AUTHORIZER_FUNCTION)
            .get_att("Arn")
            .to_string(),
            same_environment=True,  # so the authorizer may add the API's invoke permission to it
        )
        return HttpLambdaAuthorizer(
            "Authenticate",
            function,
            authorizer_name=authenticate.name,
            identity_source=[f"$request.header.{AUTHORIZER_HEADER}"],
            response_types=[HttpLambdaResponseType.IAM],
            results_cache_ttl=Duration.seconds(AUTHORIZER_CACHE_SECONDS),
        )

    def _remove_chalice_rest_api(self) -> None:
        included = self.chalice.sam_template
        for holder, logical_ids in CHALICE_REST_API.items():
            parent = included if holder == "." else included.node.find_child(holder)
            for logical_id in logical_ids:
                if not parent.node.try_remove_child(logical_id):
                    raise RuntimeError(f"chalice package made no {logical_id}: review stacks/api.py")


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
