"""RuntimeStack (stacks/runtime.py) with and without the `eksCluster` flag: with a cluster, the
deploy worker's role and the sweep's each get an access entry in the Kubernetes group
docs/kubernetes-rbac.yaml binds, and eks:DescribeCluster on that cluster only; without one, nothing
cluster-specific (and still a deployable template)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

CLUSTER = "railyard-test"


@pytest.fixture(scope="module")
def templates() -> Iterator[dict[str, dict[str, Any]]]:
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    from aws_cdk import App, Stack
    from aws_cdk import aws_iam as iam
    from aws_cdk.assertions import Template

    from stacks.runtime import RuntimeStack
    from stacks.stage import StageContext

    out: dict[str, dict[str, Any]] = {}
    for label, cluster in (("with", CLUSTER), ("without", None)):
        app = App()
        stage = StageContext(
            stage="test",
            account=None,
            region="us-east-1",
            eks_cluster_name=cluster,
            base_domain="apps.example.com" if cluster else None,
        )
        workers = Stack(app, "workers")  # stands in for WorkflowStack, which owns the roles
        roles: dict[str, iam.IRole] = {
            name: iam.Role(workers, name, assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
            for name in ("DeployWorker", "Sweep")
        }
        runtime = RuntimeStack(app, "runtime", stage=stage, cluster_roles=roles)
        out[label] = dict(Template.from_stack(runtime).to_json())
    yield out


def _of(template: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [r.get("Properties", {}) for r in template["Resources"].values() if r["Type"] == kind]


def test_with_a_cluster_the_deploy_worker_and_the_sweep_get_the_rbac_group_and_describe_cluster_only(
    templates: dict[str, dict[str, Any]],
) -> None:
    import yaml

    from stacks.runtime import RBAC_FILE

    template = templates["with"]
    entries = _of(template, "AWS::EKS::AccessEntry")
    # One per role, each its role's ARN from its stack (the deploy worker's keeps its logical id).
    assert len({json.dumps(e["PrincipalArn"]) for e in entries}) == 2
    assert all("Fn::ImportValue" in e["PrincipalArn"] for e in entries)
    assert {k for k, r in template["Resources"].items() if r["Type"] == "AWS::EKS::AccessEntry"} == {
        "DeployWorkerAccess",
        "SweepAccess",
    }
    (binding,) = [d for d in yaml.safe_load_all(RBAC_FILE.read_text()) if d["kind"] == "ClusterRoleBinding"]
    for entry in entries:
        assert entry["ClusterName"] == CLUSTER
        assert entry["Type"] == "STANDARD"
        # The group the RBAC file binds to its ClusterRole, and no access policy beyond that RBAC.
        assert entry["KubernetesGroups"] == [s["name"] for s in binding["subjects"]] == ["railyard-runtime"]
        assert "AccessPolicies" not in entry

    (policy,) = _of(template, "AWS::IAM::Policy")
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Action"] == "eks:DescribeCluster"
    assert statement["Resource"]["Fn::Join"][1][-1] == f":cluster/{CLUSTER}"
    assert len(policy["Roles"]) == 2  # the deploy worker's and the sweep's


def test_without_a_cluster_nothing_cluster_specific_is_made_and_the_template_still_deploys(
    templates: dict[str, dict[str, Any]],
) -> None:
    template = templates["without"]
    kinds = {r["Type"] for r in template["Resources"].values()}
    assert kinds == {"AWS::CloudFormation::WaitConditionHandle"}  # CloudFormation needs one resource
    (output,) = template["Outputs"].values()
    assert output["Value"].startswith("none: no cluster")


def test_a_rbac_file_that_binds_no_group_is_refused(tmp_path: Any) -> None:
    from stacks.runtime import rbac_groups

    path = tmp_path / "rbac.yaml"
    path.write_text("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: x}\n")
    with pytest.raises(ValueError, match="binds no Kubernetes group"):
        rbac_groups(path)
