"""A KubernetesRuntime for the tests against the in-process API server (tests/kubernetes/apiserver),
and the releases they roll out: one service of project "shop" in its production environment (the
namespace `NAMESPACE`), release n being deployment dep_<n> of image `<registry>:<tag>`."""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.runtime import manifests as m
from chalicelib.adapters.runtime.kubernetes import KubernetesRuntime
from chalicelib.domain.models import ServiceSettings
from chalicelib.domain.ports import ReleaseSpec

NAMESPACE = "ry-env-01prod"  # the namespace of environment env_01prod


def fast_runtime(options: m.ManifestOptions, api_client: Any, **kwargs: Any) -> KubernetesRuntime:
    """The runtime with the short retry and request times a local API server allows."""
    return KubernetesRuntime(options, api_client, backoff_seconds=0.01, request_timeout=5, **kwargs)


def shop_release(
    service: str,
    release: int,
    image: str,
    settings: ServiceSettings,
    variables: dict[str, str] | None = None,
) -> ReleaseSpec:
    """Release `release` of `service` (svc_01<service>, running `python <service>.py`) in shop's
    production environment."""
    return ReleaseSpec(
        service_id=f"svc_01{service}",
        hostname=f"{service}-production-shop",
        deployment_id=f"dep_{release}",
        release_id=f"rel_{release}",
        artifact_key=f"artifacts/{service}-{release}.tar.gz",
        start_command=f"python {service}.py",
        variables=dict(variables or {}),
        settings=settings,
        image=image,
        project="shop",
        environment="production",
        service=service,
        environment_id="env_01prod",
    )
