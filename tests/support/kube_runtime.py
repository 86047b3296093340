"""A KubernetesRuntime for the tests against the in-process API server (tests/kubernetes/apiserver),
and the releases they roll out: one service of project "shop" in its production environment (the
namespace `NAMESPACE`), release n being deployment dep_<n> of image `<registry>:<tag>`. Also what
tests of KubernetesRuntime share (tests/kubernetes/test_runtime*.py): a release spec, reading what
the cluster stores, waiting, and running an activation in the background."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from chalicelib.adapters.runtime import manifests as m
from chalicelib.adapters.runtime.kubernetes import KubernetesRuntime
from chalicelib.domain.models import ServiceSettings
from chalicelib.domain.ports import ReleaseSpec
from tests.kubernetes.apiserver import KubeApiServer

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


APPLIED_PLURALS = (
    "deployments",
    "services",
    "secrets",
    "ingresses",
    "networkpolicies",
    "horizontalpodautoscalers",
    "poddisruptionbudgets",
)
OPTIONS = m.ManifestOptions(base_domain="apps.example.com", load_balancer_cidrs=("10.0.0.0/24",))


class RecordingLog:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()

    def write(self, message: str) -> None:
        with self._lock:
            self.lines.append(message)

    def flush(self) -> None:
        pass

    def text(self) -> str:
        with self._lock:
            return "\n".join(self.lines)


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def no_progress() -> None:
    return None


def make_spec(release: int = 1, image: str | None = None, **settings: Any) -> ReleaseSpec:
    settings.setdefault("num_replicas", 2)
    variables = settings.pop("variables", {"GREETING": f"hello {release}"})
    domains = settings.pop("custom_domains", ())  # verified domains travel on the spec
    return ReleaseSpec(
        service_id="svc_01web",
        hostname="web-production-shop",
        deployment_id=f"dep_{release}",
        release_id=f"rel_{release}",
        artifact_key=f"artifacts/web-{release}.tar.gz",
        start_command="python app.py",
        variables=variables,
        settings=ServiceSettings(**{"healthcheck_path": "/", **settings}),
        image=image or f"123456789012.dkr.ecr.us-east-1.amazonaws.com/web:{release}",
        project="shop",
        environment="production",
        service="web",
        environment_id="env_01prod",
        domains=domains,
    )


def deployment(server: KubeApiServer) -> dict[str, Any]:
    found = server.get_object("apps/v1", "deployments", NAMESPACE, "web")
    assert found is not None
    return found


def replica_sets(server: KubeApiServer) -> list[dict[str, Any]]:
    return server.objects("replicasets", NAMESPACE)


def image_of(obj: dict[str, Any]) -> str:
    image: str = obj["spec"]["template"]["spec"]["containers"][0]["image"]
    return image


def wait_until(predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.005)
    raise AssertionError("condition not reached in time")


class Background:
    """Runs a function in a thread; `result()` joins it and re-raises what it raised."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self._error: BaseException | None = None
        self._value: Any = None
        self._thread = threading.Thread(target=self._run, args=(fn,), name="test-activate", daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[[], Any]) -> None:
        try:
            self._value = fn()
        except BaseException as error:
            self._error = error

    def alive(self) -> bool:
        return self._thread.is_alive()

    def result(self, timeout: float = 10.0) -> Any:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "activation did not finish"
        if self._error is not None:
            raise self._error
        return self._value


def push_past_progress_deadline(server: KubeApiServer, activation: Background, spec: ReleaseSpec) -> None:
    """Advance the cluster's clock past the deadline until the activation notices. Progress the
    controller still makes (a pod created) restarts the deadline, as in a real cluster, so one jump
    right after the ReplicaSet appears is not always enough."""
    wait_until(lambda: new_replica_set_with(server, spec.image or ""))
    deadline = time.monotonic() + 10
    while activation.alive() and time.monotonic() < deadline:
        server.clock.advance(m.progress_deadline_seconds(spec.settings) + 1)
        time.sleep(0.05)


def new_replica_set_with(server: KubeApiServer, image: str) -> dict[str, Any] | None:
    return next((rs for rs in replica_sets(server) if image_of(rs) == image), None)
