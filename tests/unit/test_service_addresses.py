"""Where the injected RAILYARD_*_DOMAIN variables point (chalicelib/adapters/addresses.py): the
public host the router or the Ingress serves, and the private name the Kubernetes runtime's Service
object really has; and docs/variables.md lists every injected variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.adapters.addresses import SettingsAddresses
from chalicelib.adapters.runtime import manifests as m
from chalicelib.config import ENVIRONMENT_VARIABLES, Settings
from chalicelib.domain.injected_variables import INJECTED, names_of
from chalicelib.domain.models import Service, ServiceSettings
from tests.support.kube_runtime import shop_release

SERVICE = Service("svc_01web", "prj_1", "env_01prod", "web", "web-production-shop", "2026-12-01T00:00:00Z")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ENVIRONMENT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_locally_both_domains_are_the_routers_host_for_the_service(env: pytest.MonkeyPatch) -> None:
    addresses = SettingsAddresses(Settings.from_env())
    assert addresses.public_domain(SERVICE) == "web-production-shop.localhost"
    assert addresses.private_domain(SERVICE) == "web-production-shop.localhost"
    assert addresses.public_url(SERVICE) == "http://web-production-shop.localhost:8080"


def test_on_kubernetes_the_private_domain_is_the_services_cluster_dns_name(env: pytest.MonkeyPatch) -> None:
    env.setenv("RAILYARD_RUNTIME", "kubernetes")
    env.setenv("RAILYARD_EKS_CLUSTER", "railyard-prod")
    env.setenv("RAILYARD_BASE_DOMAIN", "apps.example.com")
    addresses = SettingsAddresses(Settings.from_env())
    spec = shop_release("web", 1, "registry/web:1", ServiceSettings())
    service = m.service(spec, m.ManifestOptions(base_domain="apps.example.com"))
    name, namespace = service["metadata"]["name"], m.namespace_name(spec)
    assert addresses.private_domain(SERVICE) == f"{name}.{namespace}.svc.cluster.local"
    assert addresses.public_domain(SERVICE) == "web-production-shop.apps.example.com"


def test_the_docs_list_every_injected_variable() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "variables.md").read_text()
    missing = [name for entry in INJECTED for name in names_of(entry) if f"`{name}`" not in docs]
    assert missing == []
