"""KubernetesRuntime rolls back to the last release that completed its rollout, whatever failed or
died on the way, and keeps each environment in a namespace of its own."""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

import pytest

from chalicelib.adapters.runtime import manifests as m
from chalicelib.adapters.runtime.kubernetes import KubernetesRuntime
from chalicelib.adapters.runtime.kubernetes_rollout import MAX_ROLLOUT_SECONDS, rollout_backstop_seconds
from chalicelib.domain.errors import (
    HealthCheckFailed,
    RuntimeRefused,
    RuntimeUnavailable,
)
from chalicelib.domain.models import ServiceSettings
from tests.kubernetes.apiserver import KubeApiServer
from tests.support.kube_runtime import (
    APPLIED_PLURALS,
    NAMESPACE,
    OPTIONS,
    RecordingLog,
    Sleeps,
    deployment,
    image_of,
    make_spec,
    no_progress,
    replica_sets,
    wait_until,
)

# A hang guard, not a speed bound: the first test also pays the client's one-off import (~2 s idle,
# over 20 s measured with the Kubernetes suite running twice beside a busy loop on 2 cores).
pytestmark = pytest.mark.timeout(60)


def test_retried_activation_of_a_failing_release_still_rolls_back_to_the_one_before(
    server: KubeApiServer, kube_api_client: Any
) -> None:
    # GIVEN release 1 serving and release 2 applied by an activation that timed out on our side
    runtime = KubernetesRuntime(OPTIONS, kube_api_client, rollout_timeout=0.2, sleep=Sleeps())
    KubernetesRuntime(OPTIONS, kube_api_client).activate(make_spec(1), RecordingLog(), no_progress)
    broken = make_spec(2, image="web:never-ready")
    live_before = deployment(server)
    with pytest.raises(HealthCheckFailed):
        runtime.activate(broken, RecordingLog(), no_progress)
    assert image_of(deployment(server)) == make_spec(1).image
    assert live_before["metadata"]["annotations"][m.RELEASE_ANNOTATION] == m.release_record(make_spec(1))

    # WHEN the same failing release is activated again (the worker retried the step)
    with pytest.raises(HealthCheckFailed) as failure:
        runtime.activate(broken, RecordingLog(), no_progress)

    # THEN it rolls back to release 1 again
    assert "rolled back to release rel_1" in str(failure.value)
    assert image_of(deployment(server)) == make_spec(1).image


class WorkerKilled(BaseException):
    """The worker process dying mid-step: nothing in the runtime gets to handle it."""


def killed() -> None:
    raise WorkerKilled()


def test_rollback_goes_to_the_last_release_that_completed_its_rollout(
    server: KubeApiServer, kube_api_client: Any
) -> None:
    # GIVEN release 1 live, and release 2 applied by a worker that died before its rollout finished
    KubernetesRuntime(OPTIONS, kube_api_client).activate(make_spec(1), RecordingLog(), no_progress)
    with pytest.raises(WorkerKilled):
        KubernetesRuntime(OPTIONS, kube_api_client).activate(
            make_spec(2, image="web:never-ready-2"), RecordingLog(), killed
        )
    assert image_of(deployment(server)) == "web:never-ready-2"

    # WHEN release 3 fails its rollout
    impatient = KubernetesRuntime(OPTIONS, kube_api_client, rollout_timeout=0.3, sleep=Sleeps())
    with pytest.raises(HealthCheckFailed) as failure:
        impatient.activate(make_spec(3, image="web:never-ready-3"), RecordingLog(), no_progress)

    # THEN it rolls back to release 1, the last one that was available, not to the broken release 2
    assert "rolled back to release rel_1" in str(failure.value)
    live = deployment(server)
    assert image_of(live) == make_spec(1).image
    assert live["metadata"]["annotations"][m.LIVE_RELEASE_ANNOTATION] == m.release_record(make_spec(1))
    # AND release 1's variables were still there to roll back with
    assert server.get_object("v1", "secrets", NAMESPACE, m.variables_secret_name(make_spec(1))) is not None


def test_failure_with_no_release_ever_available_removes_the_service(
    server: KubeApiServer, kube_api_client: Any
) -> None:
    # GIVEN a first release applied by a worker that died mid-rollout (it never served)
    with pytest.raises(WorkerKilled):
        KubernetesRuntime(OPTIONS, kube_api_client).activate(
            make_spec(1, image="web:never-ready-1"), RecordingLog(), killed
        )

    # WHEN the next release fails too
    impatient = KubernetesRuntime(OPTIONS, kube_api_client, rollout_timeout=0.3, sleep=Sleeps())
    with pytest.raises(HealthCheckFailed, match="no previous release to roll back to"):
        impatient.activate(make_spec(2, image="web:never-ready-2"), RecordingLog(), no_progress)

    # THEN the service is removed rather than left running a release that never worked
    wait_until(lambda: server.get_object("apps/v1", "deployments", NAMESPACE, "web") is None)
    assert server.get_object("v1", "services", NAMESPACE, "web") is None


def test_live_release_is_recorded_in_metadata_without_a_new_rollout(
    server: KubeApiServer, runtime: KubernetesRuntime
) -> None:
    runtime.activate(make_spec(1), RecordingLog(), no_progress)
    live = deployment(server)
    assert live["metadata"]["annotations"][m.LIVE_RELEASE_ANNOTATION] == m.release_record(make_spec(1))
    # (A Deployment's generation counts annotation changes too; the pod template is untouched, so
    # no ReplicaSet is added.)
    assert len(replica_sets(server)) == 1
    # The next apply (another field manager) leaves it until that release is available in turn.
    runtime.activate(make_spec(2), RecordingLog(), no_progress)
    live = deployment(server)
    assert live["metadata"]["annotations"][m.LIVE_RELEASE_ANNOTATION] == m.release_record(make_spec(2))
    assert len(replica_sets(server)) == 2


def test_namespace_not_managed_by_railyard_is_refused_untouched(
    server: KubeApiServer, runtime: KubernetesRuntime
) -> None:
    # GIVEN a namespace of the same name that someone else created
    server.create_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})

    # WHEN a release is activated into it
    with pytest.raises(RuntimeRefused, match=f"namespace {NAMESPACE} exists and is not managed by Railyard"):
        runtime.activate(make_spec(1), RecordingLog(), no_progress)

    # THEN nothing was written into it, nor to the namespace itself
    namespace = server.get_object("v1", "namespaces", None, NAMESPACE)
    assert namespace is not None
    assert m.MANAGED_BY_LABEL not in (namespace["metadata"].get("labels") or {})
    for plural in APPLIED_PLURALS:
        assert server.objects(plural, NAMESPACE) == []


def test_environments_with_colliding_names_get_namespaces_of_their_own(
    server: KubeApiServer, runtime: KubernetesRuntime
) -> None:
    # GIVEN "a-b"/"c" and "a"/"b-c" (and a "kube"/"system"), which used to share a namespace
    one = dataclasses.replace(
        make_spec(1), project="a-b", environment="c", environment_id="env_01one", service_id="svc_one"
    )
    two = dataclasses.replace(
        make_spec(2), project="a", environment="b-c", environment_id="env_01two", service_id="svc_two"
    )
    kube = dataclasses.replace(
        make_spec(3), project="kube", environment="system", environment_id="env_01kube", service_id="svc_k"
    )

    # WHEN each is activated
    for spec in (one, two, kube):
        runtime.activate(spec, RecordingLog(), no_progress)

    # THEN each service lives in its environment's namespace, none in kube-system
    for spec, namespace in ((one, "ry-env-01one"), (two, "ry-env-01two"), (kube, "ry-env-01kube")):
        found = server.get_object("apps/v1", "deployments", namespace, "web")
        assert found is not None and image_of(found) == spec.image
    assert server.objects("deployments", "kube-system") == []


def test_rollout_backstop_fits_in_the_deploy_step_with_room_for_a_rollback() -> None:
    assert rollout_backstop_seconds(ServiceSettings(healthcheck_timeout=60)) == 2 * (60 + 60) + 60
    longest = rollout_backstop_seconds(ServiceSettings(healthcheck_timeout=3600))
    assert longest == MAX_ROLLOUT_SECONDS
    assert MAX_ROLLOUT_SECONDS <= 3600 - 240  # the Deploy step's budget, minus a rollback's time


def test_hung_api_server_fails_in_bounded_time_with_heartbeats(kube_api_client: Any) -> None:
    # GIVEN an API server that accepts connections and never answers
    import socket

    from kubernetes import client

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(50)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    acceptor = threading.Thread(target=accept, name="kube-hung-acceptor", daemon=True)
    acceptor.start()
    configuration = client.Configuration(host=f"http://127.0.0.1:{listener.getsockname()[1]}")
    configuration.retries = 0
    api_client = client.ApiClient(configuration)
    beats: list[float] = []
    runtime = KubernetesRuntime(
        OPTIONS, api_client, connect_timeout=0.2, request_timeout=0.2, backoff_seconds=0.01
    )
    try:
        # WHEN a release is activated
        started = time.monotonic()
        with pytest.raises(RuntimeUnavailable, match="failed 3 times") as failure:
            runtime.activate(make_spec(1), RecordingLog(), lambda: beats.append(time.monotonic()))
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        acceptor.join(2)
        for connection in accepted:
            connection.close()
        listener.close()
        api_client.close()

    # THEN it gives up after 3 attempts of one read timeout each (no hidden transport retries),
    # beating the heartbeat between them
    assert "timed out" in str(failure.value).lower()
    assert elapsed < 0.2 * 3 + 1.0
    assert len(accepted) == 3
    assert len(beats) == 2


def test_autoscaling_after_a_scale_to_zero_starts_from_the_minimum(
    server: KubeApiServer, runtime: KubernetesRuntime
) -> None:
    runtime.activate(make_spec(1), RecordingLog(), no_progress)
    runtime.scale("svc_01web", 0)
    wait_until(lambda: deployment(server)["spec"]["replicas"] == 0)

    runtime.activate(
        make_spec(2, autoscale_min_replicas=2, autoscale_max_replicas=4), RecordingLog(), no_progress
    )

    assert deployment(server)["spec"]["replicas"] >= 2
    assert deployment(server)["status"]["availableReplicas"] >= 2
