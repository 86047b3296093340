"""Settings: the runtime is chosen by configuration, and combinations that cannot work are refused
when the container reads them, naming the variable to set."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib import wiring
from chalicelib.config import ENVIRONMENT_VARIABLES, Settings


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ENVIRONMENT_VARIABLES:  # every setting at its default unless a test sets it
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def kubernetes_env(env: pytest.MonkeyPatch, **extra: str) -> None:
    env.setenv("RAILYARD_RUNTIME", "kubernetes")
    env.setenv("RAILYARD_EKS_CLUSTER", "railyard-prod")
    env.setenv("RAILYARD_BASE_DOMAIN", "apps.example.com")
    for name, value in extra.items():
        env.setenv(name, value)


def test_the_local_runtime_is_the_default(env: pytest.MonkeyPatch) -> None:
    settings = Settings.from_env()

    assert settings.runtime == "local"
    assert settings.public_url("web-production-shop") == "http://web-production-shop.localhost:8080"


def test_kubernetes_settings_are_read_from_the_environment(env: pytest.MonkeyPatch) -> None:
    kubernetes_env(
        env,
        RAILYARD_K8S_CONTEXT="admin@prod",
        RAILYARD_ACM_CERTIFICATE_ARN="arn:aws:acm:us-east-1:123456789012:certificate/abc",
        RAILYARD_K8S_LB_CIDRS=" 10.0.0.0/24, 10.0.1.0/24 ,,",
        RAILYARD_ALB_GROUP="shared",
        RAILYARD_K8S_BLOCKED_EGRESS_CIDRS="10.100.0.0/16, 172.20.0.0/16",
        RAILYARD_K8S_ALLOWED_EGRESS_CIDRS="10.100.8.0/24",
    )

    settings = Settings.from_env()

    assert settings.runtime == "kubernetes"
    assert settings.eks_cluster == "railyard-prod"
    assert settings.kubeconfig is None
    assert settings.kube_context == "admin@prod"
    assert settings.base_domain == "apps.example.com"
    assert settings.certificate_arn == "arn:aws:acm:us-east-1:123456789012:certificate/abc"
    assert settings.load_balancer_cidrs == ("10.0.0.0/24", "10.0.1.0/24")
    assert settings.load_balancer_group == "shared"
    assert settings.blocked_egress_cidrs == ("10.100.0.0/16", "172.20.0.0/16")
    assert settings.allowed_egress_cidrs == ("10.100.8.0/24",)


def test_apps_egress_defaults_to_every_private_range(env: pytest.MonkeyPatch) -> None:
    kubernetes_env(env)
    settings = Settings.from_env()
    assert (settings.blocked_egress_cidrs, settings.allowed_egress_cidrs) == (None, ())


def test_the_alb_group_defaults_to_railyard(env: pytest.MonkeyPatch) -> None:
    kubernetes_env(env)
    assert Settings.from_env().load_balancer_group == "railyard"


@pytest.mark.parametrize(
    ("unset", "variables"),
    [
        (("RAILYARD_EKS_CLUSTER",), ("RAILYARD_EKS_CLUSTER", "RAILYARD_K8S_KUBECONFIG")),
        (("RAILYARD_BASE_DOMAIN",), ("RAILYARD_BASE_DOMAIN",)),
    ],
)
def test_kubernetes_without_a_cluster_or_a_base_domain_fails_the_container_naming_the_variable(
    env: pytest.MonkeyPatch, unset: tuple[str, ...], variables: tuple[str, ...]
) -> None:
    kubernetes_env(env)
    for name in unset:
        env.delenv(name)

    with pytest.raises(ValueError) as refused:
        wiring.Container()

    for name in variables:
        assert name in str(refused.value)


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("RAILYARD_RUNTIME", "ecs", "RAILYARD_RUNTIME='ecs'"),
        ("RAILYARD_BASE_DOMAIN", "https://apps.example.com/", "RAILYARD_BASE_DOMAIN"),
        ("RAILYARD_BASE_DOMAIN", "localhost", "RAILYARD_BASE_DOMAIN"),
        ("RAILYARD_K8S_LB_CIDRS", "10.0.0.0/24,public-subnets", "RAILYARD_K8S_LB_CIDRS: 'public-subnets'"),
        ("RAILYARD_K8S_BLOCKED_EGRESS_CIDRS", "vpc", "RAILYARD_K8S_BLOCKED_EGRESS_CIDRS: 'vpc'"),
        (
            "RAILYARD_K8S_ALLOWED_EGRESS_CIDRS",
            "10.1.2.3/99",
            "RAILYARD_K8S_ALLOWED_EGRESS_CIDRS: '10.1.2.3/99'",
        ),
    ],
)
def test_invalid_values_are_refused_naming_the_variable(
    env: pytest.MonkeyPatch, variable: str, value: str, named: str
) -> None:
    kubernetes_env(env, **{variable: value})

    with pytest.raises(ValueError, match=re.escape(named)):
        Settings.from_env()


def test_a_kubeconfig_alone_is_enough_and_wins_over_a_cluster_name(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from chalicelib.adapters.runtime.kubernetes import KubernetesRuntime

    kubernetes_env(env, RAILYARD_K8S_KUBECONFIG=str(tmp_path / "kubeconfig"))
    env.delenv("RAILYARD_EKS_CLUSTER")
    container = wiring.Container()

    runtime = container.runtime

    # Built without touching the file or a cluster: the client comes on the first request.
    assert isinstance(runtime, KubernetesRuntime)
    assert runtime.options.base_domain == "apps.example.com"
    assert runtime.options.load_balancer_group == "railyard"


def test_an_eks_runtime_is_wired_with_the_manifest_options_and_no_client_yet(
    env: pytest.MonkeyPatch,
) -> None:
    from chalicelib.adapters.runtime.kubernetes import KubernetesRuntime

    kubernetes_env(
        env,
        RAILYARD_ACM_CERTIFICATE_ARN="arn:aws:acm:us-east-1:123456789012:certificate/abc",
        RAILYARD_K8S_LB_CIDRS="10.0.0.0/24",
        RAILYARD_ALB_GROUP="shared",
    )

    runtime = wiring.Container().runtime

    assert isinstance(runtime, KubernetesRuntime)
    options = runtime.options
    assert options.certificate_arn == "arn:aws:acm:us-east-1:123456789012:certificate/abc"
    assert options.load_balancer_cidrs == ("10.0.0.0/24",)
    assert options.load_balancer_group == "shared"
    assert not runtime.kube.connected  # eks:DescribeCluster waits for the first request


def test_the_public_url_on_kubernetes_is_the_runtimes_https_url(env: pytest.MonkeyPatch) -> None:
    kubernetes_env(env, RAILYARD_PUBLIC_URL="http://{hostname}.localhost:9999")  # the local runtime's
    container = wiring.Container()
    long_hostname = "a-very-long-service-name-production-a-very-long-project-name-indeed"
    assert len(long_hostname) > 63

    for hostname in ("web-production-shop", long_hostname):
        url = container.settings.public_url(hostname)
        assert url == container.runtime.url_for(hostname)
        assert url.startswith("https://") and url.endswith(".apps.example.com")
        assert len(url.removeprefix("https://").split(".")[0]) <= 63
    assert (
        container.settings.public_url("web-production-shop") == "https://web-production-shop.apps.example.com"
    )


def test_choosing_kubernetes_imports_no_kubernetes_client_until_a_request() -> None:
    """Cold starts: the container, its settings and the runtime object cost no client import."""
    code = (
        "import os, sys\n"
        "os.environ.update(RAILYARD_RUNTIME='kubernetes', RAILYARD_EKS_CLUSTER='c',"
        " RAILYARD_BASE_DOMAIN='apps.example.com')\n"
        "from chalicelib import wiring\n"
        "c = wiring.Container()\n"
        "c.runtime\n"
        "c.settings.public_url('web')\n"
        "print(sorted(m for m in sys.modules if m == 'kubernetes' or m.startswith('kubernetes.')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[2],
        timeout=60,
    )
    assert out.stdout.strip() == "[]"


def test_the_dashboard_is_an_absolute_url_a_path_on_the_apis_origin_or_absent(
    env: pytest.MonkeyPatch,
) -> None:
    assert Settings.from_env().dashboard_url is None  # no dashboard: the API's own approval page
    env.setenv("RAILYARD_DASHBOARD_URL", "/dashboard")
    assert Settings.from_env().dashboard_url == "/dashboard"

    env.setenv("RAILYARD_DASHBOARD_URL", "d1.cloudfront.net/dashboard")
    with pytest.raises(ValueError, match=re.escape("RAILYARD_DASHBOARD_URL='d1.cloudfront.net/dashboard'")):
        Settings.from_env()
