"""KubernetesRuntime's errors: what it cannot run, RBAC refusals, server errors and an unreachable
API, each with a clear reason and the previous release left as it was."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest

from chalicelib.adapters.runtime.kubernetes import KubernetesRuntime
from chalicelib.domain.errors import (
    ImageMissing,
    ReleaseNotRunnable,
    RuntimeRefused,
    RuntimeUnavailable,
)
from tests.kubernetes.apiserver import KubeApiServer
from tests.support.kube_runtime import (
    NAMESPACE,
    OPTIONS,
    RecordingLog,
    Sleeps,
    deployment,
    image_of,
    make_spec,
    no_progress,
    wait_until,
)

# A hang guard, not a speed bound: the first test also pays the client's one-off import (~2 s idle,
# over 20 s measured with the Kubernetes suite running twice beside a busy loop on 2 cores).
pytestmark = pytest.mark.timeout(60)


def test_release_without_an_image_fails_with_a_clear_error(
    kube_server: KubeApiServer, runtime: KubernetesRuntime
) -> None:
    spec = dataclasses.replace(make_spec(), image=None)
    with pytest.raises(ImageMissing, match="release rel_1 has no container image: it was built by the local"):
        runtime.activate(spec, RecordingLog(), no_progress)
    assert not kube_server.requests  # nothing was sent


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({"cron_schedule": "*/5 * * * *"}, "cron service"),
        ({"pre_deploy_command": "rake db:migrate"}, "preDeploy"),
    ],
)
def test_what_the_runtime_cannot_do_yet_is_refused_before_touching_the_cluster(
    kube_server: KubeApiServer, runtime: KubernetesRuntime, settings: dict[str, Any], reason: str
) -> None:
    with pytest.raises(ReleaseNotRunnable, match=reason):
        runtime.activate(make_spec(**settings), RecordingLog(), no_progress)
    assert not kube_server.requests


def test_rbac_refusal_names_the_verb_and_resource_without_retrying(
    server: KubeApiServer, runtime: KubernetesRuntime, sleeps: Sleeps
) -> None:
    server.forbid("patch", "deployments")

    with pytest.raises(RuntimeRefused) as refused:
        runtime.activate(make_spec(), RecordingLog(), no_progress)

    message = str(refused.value)
    assert message.startswith("kubernetes refused: cannot patch deployments.apps in namespace ry-env-01prod")
    assert "(forbidden:" in message and 'cannot patch resource "deployments"' in message
    # (the server records a request just after answering it)
    patches = wait_until(lambda: [r for r in server.requests if r[0] == "PATCH" and "/deployments/" in r[1]])
    time.sleep(0.05)
    assert patches == [r for r in server.requests if r[0] == "PATCH" and "/deployments/" in r[1]]
    assert len(patches) == 1 and patches[0][2] == 403
    assert sleeps.calls == []


def test_refusal_half_way_puts_the_previous_release_back_and_leaves_its_pods_alone(
    server: KubeApiServer, runtime: KubernetesRuntime
) -> None:
    # GIVEN release 1 serving, and RBAC that lets railyard change everything but Deployments
    runtime.activate(make_spec(1), RecordingLog(), no_progress)
    generation = deployment(server)["metadata"]["generation"]
    server.forbid("patch", "deployments")

    # WHEN release 2 (with a new custom domain) is activated
    with pytest.raises(RuntimeRefused) as refused:
        runtime.activate(make_spec(2, custom_domains=("shop.example.org",)), RecordingLog(), no_progress)

    # THEN the error names the refusal and the rollback, and release 1's objects are back
    message = str(refused.value)
    assert message.startswith("kubernetes refused: cannot patch deployments.apps in namespace ry-env-01prod")
    assert message.endswith("rolled back to release rel_1")
    ingress = server.get_object("networking.k8s.io/v1", "ingresses", NAMESPACE, "web")
    assert ingress is not None
    assert [r["host"] for r in ingress["spec"]["rules"]] == ["web-production-shop.apps.example.com"]
    assert deployment(server)["metadata"]["generation"] == generation


def test_server_errors_are_retried_then_succeed(
    server: KubeApiServer, runtime: KubernetesRuntime, sleeps: Sleeps
) -> None:
    server.inject_error("patch", "deployments", code=500, times=2)

    runtime.activate(make_spec(), RecordingLog(), no_progress)

    assert sleeps.calls == [0.01, 0.02]
    assert image_of(deployment(server)) == make_spec().image


def test_unreachable_api_is_retried_a_bounded_number_of_times_then_fails_with_the_reason(
    kube_server: KubeApiServer, runtime: KubernetesRuntime, sleeps: Sleeps
) -> None:
    kube_server.unreachable = True

    started = time.monotonic()
    with pytest.raises(RuntimeUnavailable) as failure:
        runtime.activate(make_spec(), RecordingLog(), no_progress)

    message = str(failure.value)
    # (the first request: whether the namespace is Railyard's)
    assert message.startswith("kubernetes API unavailable: get namespaces failed")
    assert "failed 3 times" in message
    assert "Error" in message  # the connection failure's own name, e.g. ProtocolError / RemoteDisconnected
    assert sleeps.calls == [0.01, 0.02]
    assert time.monotonic() - started < 5


def test_refused_connections_fail_with_the_reason(kube_api_client: Any, kube_server: KubeApiServer) -> None:
    kube_server.stop()
    runtime = KubernetesRuntime(OPTIONS, kube_api_client, attempts=2, sleep=Sleeps())
    with pytest.raises(RuntimeUnavailable, match=r"failed 2 times: .*(refused|Connection)"):
        runtime.stop("svc_01web")


def test_kubeconfig_client_runs_a_release(server: KubeApiServer, kubeconfig: Any) -> None:
    runtime = KubernetesRuntime.for_kubeconfig(str(kubeconfig), OPTIONS, sleep=Sleeps())
    runtime.activate(make_spec(), RecordingLog(), no_progress)
    assert deployment(server)["status"]["availableReplicas"] == 2
