"""BuildStack: CodeBuild, the ECR repository creation template and the per-project build isolation
(chalicelib/catalogue.py BuildIsolation). Placeholder signature agreed between the stacks' authors;
the implementation replaces this body."""

from __future__ import annotations

from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.stage import StageContext


class BuildStack(Stack):
    """Exposes `project_name` (the CodeBuild project) and `control_plane_policy`: the managed policy
    the build worker's role needs to start isolated builds (WorkflowStack attaches it)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, stage: StageContext, data: Any, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.control_plane_policy: iam.IManagedPolicy
