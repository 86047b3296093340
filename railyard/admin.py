"""`railyard admin`: operator commands against a deployed Railyard (issue 9: `admin bootstrap`).

These commands use the operator's own AWS credentials (boto3's default chain: environment, profile,
SSO, instance role), never a Railyard token: they make the first token. They find a stage's
resources through its CloudFormation stacks' outputs (the stack names and output keys are declared
once, in chalicelib/catalogue.py), so they work against any account and region the stacks were
deployed to, and against LocalStack when AWS_ENDPOINT_URL points there.

Every failure prints `error: <reason>` on stderr and exits 1 having written nothing: all checks
(credentials, region, stacks, outputs, an existing first admin) come before the one write.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from chalicelib.domain.accounts import Bootstrapped, Installation

admin_app = typer.Typer(
    help="Operate a deployed Railyard (needs the operator's AWS credentials).", no_args_is_help=True
)


class AdminError(Exception):
    """A reason to stop before anything was written; printed as `error: <reason>`."""


@dataclass(frozen=True)
class DeployedStage:
    """What a deployed stage's stacks say about it."""

    stage: str
    region: str
    table_name: str
    api_url: str


def deploy_hint(stage: str) -> str:
    return f"deploy with `cd stacks && npx cdk deploy --all -c stage={stage}` (docs/deploy-aws.md)"


@admin_app.command()
def bootstrap(
    stage: Annotated[str, typer.Option(help="The deployed stage (the `-c stage=` given to cdk deploy).")],
    region: Annotated[
        str | None, typer.Option(help="The stage's region [default: your AWS profile's or AWS_REGION].")
    ] = None,
    workspace: Annotated[str, typer.Option(help="The first workspace's name.")] = "default",
    email: Annotated[str | None, typer.Option(help="The first admin's email address.")] = None,
) -> None:
    """Create the first workspace and its admin token in a deployed stage (once per install)."""
    try:
        deployed = find_stage(stage, region)
        made = _make_first_admin(deployed, workspace, email)
    except AdminError as error:
        _fail(str(error))
    admin = made.first_admin
    who = f"{admin.user.email} ({admin.user.id})" if admin.user.email else admin.user.id
    typer.secho(f"Bootstrapped Railyard {stage} in {deployed.region}", fg="green")
    typer.echo(f"  Workspace: {admin.workspace.name} ({admin.workspace.id})")
    typer.echo(f"  Admin:     {who}, role {admin.membership.role}")
    typer.echo(f"  API:       {deployed.api_url}")
    typer.echo(f"  Token:     {made.token}")
    typer.echo("The token is shown only this once (Railyard stores its hash). Log in with:")
    typer.echo(f"  railyard login --api-url {deployed.api_url} --token {made.token}")


@admin_app.command()
def token(
    stage: Annotated[str, typer.Option(help="The deployed stage (the `-c stage=` given to cdk deploy).")],
    region: Annotated[
        str | None, typer.Option(help="The stage's region [default: your AWS profile's or AWS_REGION].")
    ] = None,
) -> None:
    """Break glass: a new token for the first admin, when the bootstrap's token is lost."""
    try:
        deployed = find_stage(stage, region)
        installation, secret = _issue_break_glass_token(deployed)
    except AdminError as error:
        _fail(str(error))
    typer.secho(
        f"New token for the first admin of workspace {installation.workspace_name} "
        f"({installation.workspace_id}); earlier tokens keep working",
        fg="green",
    )
    typer.echo(f"  Token:     {secret}")
    typer.echo(f"  railyard login --api-url {deployed.api_url} --token {secret}")


def find_stage(stage: str, region: str | None) -> DeployedStage:
    """The stage's table and API URL, read from its data and api stacks' outputs."""
    import boto3
    from botocore.exceptions import BotoCoreError, NoCredentialsError, ProfileNotFound

    from chalicelib.catalogue import OUTPUT_API_URL, OUTPUT_TABLE_NAME, Catalogue

    try:
        session = boto3.session.Session(region_name=region)
    except ProfileNotFound as error:
        raise AdminError(f"no AWS credentials: {error}") from None
    if not session.region_name:
        raise AdminError("no AWS region: pass --region, or set AWS_REGION or a region in your AWS profile")
    if session.get_credentials() is None:
        raise AdminError(
            "no AWS credentials: configure them (`aws configure`, `aws sso login`, AWS_PROFILE or "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) for the account the stacks are deployed to"
        )
    catalogue = Catalogue(stage)
    cloudformation = session.client("cloudformation")
    try:
        data = _outputs(cloudformation, catalogue.stack_name("data"), session.region_name, stage)
        api = _outputs(cloudformation, catalogue.stack_name("api"), session.region_name, stage)
    except NoCredentialsError as error:
        raise AdminError(f"no AWS credentials: {error}") from None
    except BotoCoreError as error:  # unreachable endpoint, expired SSO session, ...
        raise AdminError(f"cannot read the stacks of stage {stage}: {error}") from None
    return DeployedStage(
        stage=stage,
        region=session.region_name,
        table_name=_output(data, catalogue.stack_name("data"), OUTPUT_TABLE_NAME, stage),
        api_url=_output(api, catalogue.stack_name("api"), OUTPUT_API_URL, stage).rstrip("/"),
    )


def _outputs(cloudformation: Any, stack: str, region: str, stage: str) -> dict[str, Any]:
    """The stack as DescribeStacks reports it; AdminError when it does not exist or cannot be read."""
    from botocore.exceptions import ClientError

    try:
        found: dict[str, Any] = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", "")
        if code == "ValidationError" and "does not exist" in message:  # CloudFormation's only signal
            raise AdminError(f"stack {stack} not found in {region}: {deploy_hint(stage)}") from None
        raise AdminError(f"cannot read stack {stack} in {region}: {code}: {message}") from None
    return found


def _output(stack: dict[str, Any], name: str, key: str, stage: str) -> str:
    for output in stack.get("Outputs") or []:
        if output.get("OutputKey") == key and output.get("OutputValue"):
            return str(output["OutputValue"])
    raise AdminError(
        f"stack {name} has no output {key} (status {stack.get('StackStatus', '?')}): it was not "
        f"deployed by this Railyard release or did not finish; {deploy_hint(stage)}"
    )


def _make_first_admin(deployed: DeployedStage, workspace: str, email: str | None) -> Bootstrapped:
    from chalicelib.adapters.accounts import DynamoAccountStore
    from chalicelib.domain.accounts import FirstAdminBootstrap
    from chalicelib.domain.ids import new_id, utcnow

    with _table_errors(deployed):
        store = DynamoAccountStore(deployed.table_name, deployed.region)
        return FirstAdminBootstrap(store, utcnow, new_id).run(workspace, email)


@contextlib.contextmanager
def _table_errors(deployed: DeployedStage) -> Iterator[None]:
    """The domain's refusals and the table's failures, as AdminError."""
    from botocore.exceptions import BotoCoreError
    from pynamodb.exceptions import PynamoDBException

    from chalicelib.domain.errors import BadRequest, Conflict, NotFound

    try:
        yield
    except (BadRequest, Conflict, NotFound) as error:
        raise AdminError(str(error)) from None
    except PynamoDBException as error:
        code = error.cause_response_code
        cause = f"{code}: {error.cause_response_message}" if code else str(error.cause or error)
        raise AdminError(
            f"cannot write to table {deployed.table_name} in {deployed.region}: {cause}"
        ) from None
    except BotoCoreError as error:
        raise AdminError(f"cannot reach table {deployed.table_name} in {deployed.region}: {error}") from None


def _issue_break_glass_token(deployed: DeployedStage) -> tuple[Installation, str]:
    from chalicelib.adapters.accounts import DynamoAccountStore
    from chalicelib.domain.accounts import BreakGlassToken
    from chalicelib.domain.ids import utcnow

    with _table_errors(deployed):
        return BreakGlassToken(DynamoAccountStore(deployed.table_name, deployed.region), utcnow).issue()


def _fail(message: str) -> NoReturn:
    typer.secho(f"error: {message}", fg="red", err=True)
    raise typer.Exit(1)
