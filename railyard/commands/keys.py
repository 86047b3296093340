"""`railyard admin rotate-keys`: a new session signing key for a deployed stage (docs/decisions/0021).

With the operator's AWS credentials, it rotates the stage's key ring in Secrets Manager: new sign-ins
and refreshes get tokens of the new key (within the 5 minutes each API container keeps its cached
ring), and tokens of the previous key keep verifying until every one of them has expired.
"""

from __future__ import annotations

from typing import Annotated

import typer

from railyard.admin import admin_app


@admin_app.command("rotate-keys")
def rotate_keys(
    stage: Annotated[str, typer.Option(help="The deployed stage (the `-c stage=` given to cdk deploy).")],
    region: Annotated[
        str | None, typer.Option(help="The stage's region [default: your AWS profile's or AWS_REGION].")
    ] = None,
) -> None:
    """Rotate the stage's session signing keys; the previous key keeps verifying its tokens."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from chalicelib.adapters.session_keys import SecretsManagerKeyStore
    from chalicelib.config import session_keys_secret
    from chalicelib.domain.errors import NotFound

    session = boto3.session.Session(region_name=region)
    if not session.region_name:
        typer.secho("error: no AWS region: pass --region or set AWS_REGION", fg="red", err=True)
        raise typer.Exit(1)
    store = SecretsManagerKeyStore(session_keys_secret(stage), client=session.client("secretsmanager"))
    try:
        ring = store.rotate()
    except (NotFound, BotoCoreError, ClientError) as error:
        typer.secho(f"error: {error}", fg="red", err=True)
        raise typer.Exit(1) from None
    retired = ", ".join(key.kid for key in ring.keys[1:]) or "none"
    typer.secho(f"Rotated the session keys of {stage} in {session.region_name}", fg="green")
    typer.echo(f"  Signing key:     {ring.current.kid}")
    typer.echo(f"  Still verifying: {retired}")
