"""What `make synth` / `cdk synth` does with bad context (names the value, exits non-zero, synthesizes
nothing), and the one list of environment variables Settings.from_env reads, held to from_env."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib.config import ENVIRONMENT_VARIABLES, Settings
from stacks.stage import ContextError, StageContext

REPO = Path(__file__).resolve().parents[2]
CERT_US = "arn:aws:acm:us-east-1:123456789012:certificate/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
CERT_EU = "arn:aws:acm:eu-west-1:123456789012:certificate/1b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
CLUSTER = {"stage": "prod", "eksCluster": "apps", "baseDomain": "apps.example.com"}


def _context(**values: Any) -> StageContext:
    return StageContext.from_context(values.get)


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({}, "'stage' is missing"),
        ({"stage": "Prod"}, "'stage'='Prod' is wrong"),
        ({"stage": "a-very-long-stage-name"}, "'stage'"),
        ({"stage": "prod", "region": "mars-1"}, "'region'='mars-1'"),
        ({"stage": "prod", "account": "12345"}, "'account'='12345'"),
        ({"stage": "prod", "regions": "us-east-1,nowhere"}, "'regions'='nowhere'"),
        ({"stage": "prod", "regions": "us-east-1,us-east-1"}, "names a region twice"),
        (
            {"stage": "prod", "region": "eu-west-1", "regions": "us-east-1,eu-west-1"},
            "not the first of 'regions'",
        ),
        # railyard-<15>-artifacts-<12 digits>-<18> is 66 characters: S3 allows 63.
        ({"stage": "fifteen-letters", "region": "ap-northwesterly-1"}, "exceed S3's 63 characters"),
        ({"stage": "prod", "eksCluster": "apps"}, "'baseDomain' is missing"),
        ({"stage": "prod", "certificateArn": CERT_US}, "needs -c eksCluster"),
        ({"stage": "prod", "loadBalancerCidrs": "10.0.0.0/24"}, "needs -c eksCluster"),
        ({**CLUSTER, "certificateArn": "arn:aws:acm:us-east-1:123:certificate/x"}, "'certificateArn'="),
        ({**CLUSTER, "certificateArn": CERT_US, "account": "210987654321"}, "is not in account"),
        (
            {**CLUSTER, "regions": "us-east-1,eu-west-1", "certificateArn": CERT_US},
            "0 certificates in eu-west-1",
        ),
        ({**CLUSTER, "certificateArn": f"{CERT_US},{CERT_EU}"}, "outside the stage's regions"),
        ({**CLUSTER, "loadBalancerCidrs": "10.0.0.0/24,10.0.1/33"}, "'10.0.1/33' is not a CIDR block"),
        ({**CLUSTER, "allowedEgressCidrs": "db-subnet"}, "'allowedEgressCidrs': 'db-subnet' is not a CIDR"),
        ({"stage": "prod", "blockedEgressCidrs": "10.0.0.0/8"}, "needs -c eksCluster"),
        ({"stage": "prod", "eksCluster": "apps", "baseDomain": "https://x"}, "'baseDomain'"),
    ],
)
def test_a_missing_or_wrong_context_value_is_named(values: dict[str, str], named: str) -> None:
    with pytest.raises(ContextError, match=named.replace("(", r"\(")):
        _context(**values)


def test_a_good_context_gives_the_primary_region_first() -> None:
    stage = _context(
        stage="prod", regions="eu-west-1, us-east-1", eksCluster="apps", baseDomain="apps.example.com"
    )
    assert (stage.region, stage.regions, stage.replica_regions) == (
        "eu-west-1",
        ("eu-west-1", "us-east-1"),
        ("us-east-1",),
    )
    assert stage.is_prod and stage.is_primary and not stage.in_region("us-east-1").is_primary
    assert _context(stage="dev").regions == ("us-east-1",)
    # The longest stage with today's longest region names still fits S3's bucket names.
    longest = _context(stage="fifteen-letters", region="ap-southeast-2", account="123456789012")
    assert max(len(b.name) for b in longest.catalogue.buckets) == 62


def test_the_kubernetes_context_reaches_each_regions_workers_as_the_settings_config_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from stacks.environment import lambda_environment

    stage = _context(
        **CLUSTER,
        regions="us-east-1,eu-west-1",
        certificateArn=f" {CERT_EU} , {CERT_US} ",
        loadBalancerCidrs="10.0.0.0/24, 10.0.1.0/24",
        blockedEgressCidrs="10.0.0.0/8",
        allowedEgressCidrs="10.20.0.0/16",
    )
    for region, certificate in (("us-east-1", CERT_US), ("eu-west-1", CERT_EU)):
        for name in ENVIRONMENT_VARIABLES:
            monkeypatch.delenv(name, raising=False)
        for name, value in lambda_environment(stage.in_region(region)).items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("AWS_REGION", region)  # Lambda's own
        settings = Settings.from_env()
        assert (settings.runtime, settings.eks_cluster, settings.base_domain) == (
            "kubernetes",
            "apps",
            "apps.example.com",
        )
        assert settings.certificate_arn == certificate  # the ALB's own region's
        assert settings.load_balancer_cidrs == ("10.0.0.0/24", "10.0.1.0/24")
        assert settings.blocked_egress_cidrs == ("10.0.0.0/8",)
        assert settings.allowed_egress_cidrs == ("10.20.0.0/16",)
    # Without them the workers get neither (the ALB controller discovers a certificate by host).
    bare = lambda_environment(_context(**CLUSTER))
    assert "RAILYARD_ACM_CERTIFICATE_ARN" not in bare and "RAILYARD_K8S_LB_CIDRS" not in bare


def test_the_app_exits_non_zero_naming_the_missing_stage(tmp_path: Path) -> None:
    env = dict(
        os.environ, JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20", CDK_OUTDIR=str(tmp_path / "out")
    )
    env.pop("CDK_CONTEXT_JSON", None)
    done = subprocess.run(
        [sys.executable, "-m", "stacks.app"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    assert "context 'stage' is missing" in done.stderr
    assert not list((tmp_path / "out").glob("*.template.json"))  # nothing synthesized


class _Recording(dict[str, str]):
    def __init__(self) -> None:
        super().__init__()
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return super().__getitem__(key)


@pytest.fixture
def recorded_environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Recording]:
    recording = _Recording()
    monkeypatch.setattr(os, "environ", recording)
    yield recording


def test_environment_variables_lists_exactly_what_settings_from_env_reads(
    recorded_environ: _Recording,
) -> None:
    Settings.from_env()
    read = set(recorded_environ.read)  # before pytest's own reads (CI, BUILD_NUMBER) on a failure
    assert read == set(ENVIRONMENT_VARIABLES)
