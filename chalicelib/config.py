"""One typed settings object, read from the environment once per container.

Resource names come from the catalogue (chalicelib/catalogue.py) for the stage, so the API, the
workers, the local bootstrap and CDK agree on them without passing each name around.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property

from chalicelib.catalogue import Catalogue


@dataclass(frozen=True)
class Settings:
    stage: str
    region: str
    account_id: str
    data_dir: str  # local runtime and build work dirs
    runtime: str  # "local" (default); "kubernetes" comes with the EKS runtime
    public_url_template: str  # e.g. "http://{hostname}.localhost:8080"
    org_id: str  # single-workspace default until accounts arrive
    builder: str = "local"  # "local" | "codebuild" (RAILYARD_BUILDER)
    ecr_repository_uri: str | None = None  # where CodeBuild pushes images; None builds no image

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            stage=env.get("RAILYARD_STAGE", "dev"),
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            account_id=env.get("RAILYARD_ACCOUNT_ID", "123456789012"),
            data_dir=env.get("RAILYARD_DATA_DIR", os.path.expanduser("~/.railyard/data")),
            runtime=env.get("RAILYARD_RUNTIME", "local"),
            public_url_template=env.get("RAILYARD_PUBLIC_URL", "http://{hostname}.localhost:8080"),
            org_id=env.get("RAILYARD_ORG_ID", "org_default"),
            builder=env.get("RAILYARD_BUILDER", "local"),
            ecr_repository_uri=env.get("RAILYARD_ECR_REPOSITORY_URI") or None,
        )

    @cached_property
    def catalogue(self) -> Catalogue:
        return Catalogue(self.stage)

    @property
    def table_name(self) -> str:
        return self.catalogue.table.name

    @property
    def sources_bucket(self) -> str:
        return self.catalogue.bucket("sources").name

    @property
    def artifacts_bucket(self) -> str:
        return self.catalogue.bucket("artifacts").name

    @property
    def logs_bucket(self) -> str:
        return self.catalogue.bucket("logs").name

    @property
    def state_machine_arn(self) -> str:
        name = self.catalogue.state_machines[0].name
        return f"arn:aws:states:{self.region}:{self.account_id}:stateMachine:{name}"

    def public_url(self, hostname: str) -> str:
        return self.public_url_template.format(hostname=hostname)
