"""The environment of every Railyard Lambda (the API's and the workers'): the settings
chalicelib/config.py reads, and nothing it does not read (tests/cdk hold both to that)."""

from __future__ import annotations

from aws_cdk import Aws

from stacks.keys import variables_key_arn
from stacks.stage import StageContext

# Lambda's only writable directory; the local build and runtime dirs are never used in AWS, but
# Settings wants a data dir and its default (~/.railyard) is read-only there.
LAMBDA_DATA_DIR = "/tmp/railyard"


def lambda_environment(stage: StageContext) -> dict[str, str]:
    """AWS_REGION is Lambda's own (reserved) variable; the account comes from CloudFormation, so
    an environment-agnostic synth still gets the right one (and so do the bucket names Settings
    derives from it and from RAILYARD_PRIMARY_REGION)."""
    isolation = stage.catalogue.build_isolation
    registry = f"{Aws.ACCOUNT_ID}.dkr.ecr.{Aws.REGION}.{Aws.URL_SUFFIX}"
    env = {
        "RAILYARD_STAGE": stage.stage,
        "RAILYARD_ACCOUNT_ID": Aws.ACCOUNT_ID,
        # The buckets live in the primary region only, and their names say which (catalogue).
        "RAILYARD_PRIMARY_REGION": stage.primary_region,
        "RAILYARD_DATA_DIR": LAMBDA_DATA_DIR,
        "RAILYARD_BUILDER": "codebuild",
        # The registry host is what the build runner uses; each project pushes to its own
        # repository under the prefix (catalogue.BuildIsolation.ecr_repository).
        "RAILYARD_ECR_REPOSITORY_URI": f"{registry}/{isolation.ecr_repository_prefix}",
        "RAILYARD_RUNTIME": "kubernetes" if stage.eks_cluster_name else "local",
        "RAILYARD_KMS_KEY_ID": variables_key_arn(stage),  # the primary region's, from every region
    }
    if stage.eks_cluster_name:
        assert stage.base_domain is not None  # StageContext refuses a cluster without a domain
        env["RAILYARD_EKS_CLUSTER"] = stage.eks_cluster_name
        env["RAILYARD_BASE_DOMAIN"] = stage.base_domain
        if stage.certificate_arn:  # none: the ALB controller discovers a certificate by host
            env["RAILYARD_ACM_CERTIFICATE_ARN"] = stage.certificate_arn
        for name, cidrs in (
            ("RAILYARD_K8S_LB_CIDRS", stage.load_balancer_cidrs),  # none: the ALB cannot reach the pods
            ("RAILYARD_K8S_BLOCKED_EGRESS_CIDRS", stage.blocked_egress_cidrs),  # none: the defaults
            ("RAILYARD_K8S_ALLOWED_EGRESS_CIDRS", stage.allowed_egress_cidrs),
        ):
            if cidrs:
                env[name] = ",".join(cidrs)
    return env
