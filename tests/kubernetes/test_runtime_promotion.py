"""KubernetesRuntime and the promotion (docs/decisions/0010) against the in-process API server: the
promotion is checked before anything is applied and committed once the rollout completed; a refused
commit rolls the service back to the release that served before."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.adapters.runtime import manifests as m
from chalicelib.adapters.runtime.kubernetes import KubernetesRuntime
from chalicelib.domain.errors import Superseded, TaskExpired
from chalicelib.domain.models import ServiceSettings
from chalicelib.domain.ports import ReleaseSpec
from chalicelib.domain.workloads import Workload
from tests.fakes import FakeLog
from tests.kubernetes.apiserver import KubeApiServer
from tests.support.kube_runtime import NAMESPACE, fast_runtime, shop_release

pytestmark = pytest.mark.timeout(20)

OPTIONS = m.ManifestOptions(base_domain="apps.example.com", load_balancer_cidrs=("10.0.0.0/24",))


class RecordingPromotion:
    """Records what the cluster ran when it was asked, and may refuse."""

    def __init__(
        self, server: KubeApiServer, refuse_check: bool = False, refuse_commit: bool = False
    ) -> None:
        self.server = server
        self.refuse_check = refuse_check
        self.refuse_commit = refuse_commit
        self.calls: list[tuple[str, str | None]] = []

    def check(self) -> None:
        self.calls.append(("check", running_image(self.server)))
        if self.refuse_check:
            raise TaskExpired("the workflow gave the step up")

    def commit(self, workload: Workload = Workload.WEB) -> None:
        self.calls.append(("commit", running_image(self.server)))
        if self.refuse_commit:
            raise Superseded("superseded by dep_9 (created later), which is live")


@pytest.fixture
def server(kube_server: KubeApiServer) -> Iterator[KubeApiServer]:
    kube_server.autostep(0.005)
    yield kube_server
    kube_server.stop_autostep()


@pytest.fixture
def runtime(kube_api_client: Any) -> KubernetesRuntime:
    from kubernetes import client

    for name in ("CoreV1Api", "AppsV1Api", "NetworkingV1Api", "AutoscalingV2Api", "PolicyV1Api"):
        getattr(client, name)  # imported outside the timed part
    return fast_runtime(OPTIONS, kube_api_client)


def spec(release: int) -> ReleaseSpec:
    return shop_release(
        "web",
        release,
        f"123456789012.dkr.ecr.us-east-1.amazonaws.com/web:{release}",
        ServiceSettings(num_replicas=1, healthcheck_path="/"),
        {"GREETING": f"hello {release}"},
    )


def running_image(server: KubeApiServer) -> str | None:
    found = server.get_object("apps/v1", "deployments", NAMESPACE, "web")
    if found is None:
        return None
    image: str = found["spec"]["template"]["spec"]["containers"][0]["image"]
    return image


def no_progress() -> None:
    pass


def test_the_promotion_is_checked_before_applying_and_committed_after_the_rollout(
    server: KubeApiServer, runtime: KubernetesRuntime
) -> None:
    runtime.activate(spec(1), FakeLog(), no_progress)
    promotion = RecordingPromotion(server)

    runtime.activate(spec(2), FakeLog(), no_progress, promotion)

    assert promotion.calls == [("check", spec(1).image), ("commit", spec(2).image)]


def test_a_refused_check_applies_nothing(server: KubeApiServer, runtime: KubernetesRuntime) -> None:
    runtime.activate(spec(1), FakeLog(), no_progress)

    with pytest.raises(TaskExpired):
        runtime.activate(spec(2), FakeLog(), no_progress, RecordingPromotion(server, refuse_check=True))

    assert running_image(server) == spec(1).image


def test_a_refused_commit_rolls_the_service_back_to_the_release_that_served_before(
    server: KubeApiServer, runtime: KubernetesRuntime
) -> None:
    # GIVEN release 1 serving
    runtime.activate(spec(1), FakeLog(), no_progress)
    log = FakeLog()

    # WHEN release 2 rolls out but loses at the commit point
    with pytest.raises(Superseded):
        runtime.activate(spec(2), log, no_progress, RecordingPromotion(server, refuse_commit=True))

    # THEN the Deployment runs release 1 again, and the log says why
    assert running_image(server) == spec(1).image
    text = "\n".join(log.lines)
    assert "lost at the commit point: superseded by dep_9" in text
    assert "rollback: re-applied release rel_1" in text
