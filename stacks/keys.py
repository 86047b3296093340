"""The KMS key of sealed variables (docs/decisions/0023), and who may use it for what.

One customer-managed key per stage, with yearly rotation, in the data stack (the primary region),
named by the catalogue's alias. Every stack finds it by that alias, never through an export, as
with the table and buckets (stacks/refs.py). The API may only GenerateDataKey (seal); the deploy
worker may only Decrypt (open, right before the runtime starts a release); both only with an
encryption context naming a service and a variable (chalicelib/domain/sealing.py). No other role
of the stage gets either: builds never see sealed values.
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from chalicelib.catalogue import Catalogue
from chalicelib.domain.git import WEBHOOK_SECRET_NAME
from chalicelib.domain.sealing import CONTEXT_SERVICE, CONTEXT_VARIABLE
from stacks.stage import StageContext

SEAL = "kms:GenerateDataKey"
OPEN = "kms:Decrypt"


def variables_key(scope: Construct, catalogue: Catalogue, removal_policy: RemovalPolicy) -> kms.Key:
    return kms.Key(
        scope,
        "VariablesKey",
        alias=catalogue.variables_key_alias,
        description=f"Railyard {catalogue.stage}: sealed variables (envelope encryption of their data keys)",
        enable_key_rotation=True,
        removal_policy=removal_policy,
        pending_window=Duration.days(30),  # a deleted key takes every sealed value with it
    )


def variables_key_arn(stage: StageContext) -> str:
    """The alias's ARN in the primary region: RAILYARD_KMS_KEY_ID of every function, in every region."""
    alias = stage.catalogue.variables_key_alias
    return f"arn:{Aws.PARTITION}:kms:{stage.primary_region}:{Aws.ACCOUNT_ID}:{alias}"


def grant_seal(role: iam.IRole, stage: StageContext) -> None:
    """What KmsSealer.seal calls (the API)."""
    role.add_to_principal_policy(_statement(SEAL, stage))


def grant_open(role: iam.IRole, stage: StageContext) -> None:
    """What KmsSealer.open calls (the deploy worker only)."""
    role.add_to_principal_policy(_statement(OPEN, stage))


def grant_open_webhook_secrets(role: iam.IRole, stage: StageContext) -> None:
    """What the API's GitHub webhook opens: Git links' webhook secrets, and only those (their
    context's name is one no sealed variable can have; docs/decisions/0035)."""
    statement = _statement(OPEN, stage)
    statement.add_condition(
        "StringEquals", {f"kms:EncryptionContext:{CONTEXT_VARIABLE}": WEBHOOK_SECRET_NAME}
    )
    role.add_to_principal_policy(statement)


def _statement(action: str, stage: StageContext) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        actions=[action],
        # Any key of the primary region, but only the one behind the stage's alias.
        resources=[f"arn:{Aws.PARTITION}:kms:{stage.primary_region}:{Aws.ACCOUNT_ID}:key/*"],
        conditions={
            "ForAnyValue:StringEquals": {"kms:ResourceAliases": stage.catalogue.variables_key_alias},
            "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": [CONTEXT_SERVICE, CONTEXT_VARIABLE]},
            "Null": {
                f"kms:EncryptionContext:{CONTEXT_SERVICE}": "false",
                f"kms:EncryptionContext:{CONTEXT_VARIABLE}": "false",
            },
        },
    )


def grant_session_keys(role: iam.IRole, stage: StageContext) -> None:
    """The API signs sessions and seals MFA secrets with keys it keeps in one Secrets Manager secret
    per stage, created on first use (docs/decisions/0021): read, create and rotate that one only.
    The `-??????` is the random suffix Secrets Manager adds to a secret's ARN."""
    from chalicelib.config import session_keys_secret

    name = session_keys_secret(stage.catalogue.stage)
    role.add_to_principal_policy(
        iam.PolicyStatement(
            actions=[
                "secretsmanager:GetSecretValue",
                "secretsmanager:CreateSecret",
                "secretsmanager:PutSecretValue",
            ],
            resources=[
                f"arn:{Aws.PARTITION}:secretsmanager:{Aws.REGION}:{Aws.ACCOUNT_ID}:secret:{name}-??????"
            ],
        )
    )
