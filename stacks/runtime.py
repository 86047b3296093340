"""RuntimeStack: EKS access for the roles that act on a cluster's releases (the deploy worker, and
the sweep that ends live releases: WorkflowStack.cluster_roles), behind the `eksCluster` context
flag (StageContext.eks_cluster_name), so a stage without a cluster deploys too (docs/kubernetes.md,
docs/decisions/0014).

With a cluster: an EKS access entry per role maps it to the Kubernetes group that
docs/kubernetes-rbac.yaml binds to its ClusterRole (read from that file: one fact, one place), and
those roles may call eks:DescribeCluster on that cluster only (the runtime reads its endpoint and CA;
the bearer token is a presigned sts:GetCallerIdentity URL, which needs no permission). The RBAC itself
is applied once per cluster by its administrator with `kubectl apply -f docs/kubernetes-rbac.yaml`
(why not a CDK KubernetesManifest: the ADR).

Without a cluster: a placeholder resource and an output saying so, because CloudFormation refuses a
template without resources and the stack should still deploy (and be linted) like the others.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import Aws, CfnOutput, CfnWaitConditionHandle, Stack
from aws_cdk import aws_eks as eks
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.stage import StageContext

RBAC_FILE = Path(__file__).resolve().parent.parent / "docs" / "kubernetes-rbac.yaml"
OUTPUT_EKS_ACCESS = "EksAccess"


def rbac_groups(path: Path = RBAC_FILE) -> list[str]:
    """The Kubernetes groups the RBAC file's ClusterRoleBindings bind (the access entry's groups)."""
    import yaml

    groups: list[str] = []
    for document in yaml.safe_load_all(path.read_text()):
        if not document or document.get("kind") != "ClusterRoleBinding":
            continue
        for subject in document.get("subjects") or []:
            if subject.get("kind") == "Group" and subject["name"] not in groups:
                groups.append(subject["name"])
    if not groups:
        raise ValueError(f"{path} binds no Kubernetes group: the access entry would grant nothing")
    return groups


class RuntimeStack(Stack):
    """`cluster_roles`: each role that needs the cluster, by the name its access entry's construct id
    starts with ("DeployWorker", "Sweep"). Exposes `access_entries` (empty without a cluster)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: StageContext,
        cluster_roles: dict[str, iam.IRole],
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.access_entries: dict[str, eks.CfnAccessEntry] = {}
        cluster = stage.eks_cluster_name
        if cluster is None:
            CfnWaitConditionHandle(self, "NoCluster")  # a template needs one resource to deploy
            CfnOutput(
                self,
                OUTPUT_EKS_ACCESS,
                value="none: no cluster (-c eksCluster=<name> grants the workers access to one)",
            )
            return
        groups = rbac_groups()
        # The sweep gets the same group as the deploy worker: it lists Deployments cluster-wide, reads
        # pods and scales a Deployment to 0 in the ry- namespaces, which railyard-tenant allows; a
        # narrower group of its own would need its own RoleBinding in every namespace.
        for name, role in cluster_roles.items():
            self.access_entries[name] = eks.CfnAccessEntry(
                self,
                f"{name}Access",
                cluster_name=cluster,
                principal_arn=role.role_arn,
                type="STANDARD",
                kubernetes_groups=groups,  # bound by docs/kubernetes-rbac.yaml, nothing more
            )
        iam.Policy(
            self,
            "DescribeCluster",
            roles=list(cluster_roles.values()),
            statements=[
                iam.PolicyStatement(
                    actions=["eks:DescribeCluster"],
                    resources=[f"arn:{Aws.PARTITION}:eks:{Aws.REGION}:{Aws.ACCOUNT_ID}:cluster/{cluster}"],
                )
            ],
        )
        CfnOutput(
            self,
            OUTPUT_EKS_ACCESS,
            value=f"{cluster}: groups {','.join(groups)}; apply the RBAC once with "
            "kubectl apply -f docs/kubernetes-rbac.yaml",
        )
