"""RuntimeStack: EKS access for the deploy worker (IAM, access entry, RBAC) behind a context flag.
Placeholder signature agreed between the stacks' authors; the implementation replaces this body."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.stage import StageContext


class RuntimeStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: StageContext,
        deploy_worker_role: iam.IRole,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
