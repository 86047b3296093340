"""KubernetesRuntime through the official client against the in-process API server.

The server's controllers only move when stepped (`kube_server.autostep()` or `.step()`), and its
clock only when advanced, so rollouts, stalls and progress deadlines are deterministic and fast.
Rollbacks, scaling and errors have their own files (test_runtime_rollbacks.py, _scaling.py,
_errors.py).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from chalicelib.adapters.runtime import manifests as m
from chalicelib.adapters.runtime.kubernetes import KubernetesRuntime
from chalicelib.adapters.runtime.kubernetes_api import FIELD_MANAGER
from chalicelib.domain.errors import (
    DeploymentCancelled,
    HealthCheckFailed,
)
from tests.kubernetes.apiserver import KubeApiServer
from tests.support.kube_runtime import (
    APPLIED_PLURALS,
    NAMESPACE,
    OPTIONS,
    Background,
    RecordingLog,
    Sleeps,
    deployment,
    image_of,
    make_spec,
    new_replica_set_with,
    no_progress,
    push_past_progress_deadline,
    replica_sets,
    wait_until,
)

# A hang guard, not a speed bound: the first test also pays the client's one-off import (~2 s idle,
# over 20 s measured with the Kubernetes suite running twice beside a busy loop on 2 cores).
pytestmark = pytest.mark.timeout(60)


def test_first_rollout_applies_every_object_and_returns_once_all_replicas_are_available(
    server: KubeApiServer, runtime: KubernetesRuntime
) -> None:
    # GIVEN an empty cluster
    spec, log = make_spec(), RecordingLog()

    # WHEN the first release is activated
    runtime.activate(spec, log, no_progress)

    # THEN every object exists, applied by the "railyard" field manager
    namespace = server.get_object("v1", "namespaces", None, NAMESPACE)
    assert namespace is not None
    assert namespace["metadata"]["labels"]["railyard.dev/project"] == "shop"
    for group_version, plural, name in [
        ("v1", "secrets", m.variables_secret_name(spec)),
        ("v1", "services", "web"),
        ("networking.k8s.io/v1", "ingresses", "web"),
        ("networking.k8s.io/v1", "networkpolicies", m.NETWORK_POLICY_NAME),
        ("policy/v1", "poddisruptionbudgets", "web"),
    ]:
        assert server.get_object(group_version, plural, NAMESPACE, name) is not None, plural
    assert server.get_object("autoscaling/v2", "horizontalpodautoscalers", NAMESPACE, "web") is None
    live = deployment(server)
    managers = {(f["manager"], f["operation"]) for f in live["metadata"]["managedFields"]}
    assert (FIELD_MANAGER, "Apply") in managers
    assert image_of(live) == spec.image
    # AND it returned only once the rollout was complete
    status = live["status"]
    assert status["observedGeneration"] >= live["metadata"]["generation"]
    assert status["updatedReplicas"] == status["availableReplicas"] == status["replicas"] == 2
    text = log.text()
    assert "applied Deployment ry-env-01prod/web (generation 1)" in text
    assert "rollout: 1/2 new replicas available" in text or "rollout: 0/2 replicas updated" in text
    assert log.lines[-1] == "rollout: release rel_1 is available"


def test_activation_waits_for_the_controller_and_reports_progress(
    kube_server: KubeApiServer, runtime: KubernetesRuntime
) -> None:
    # GIVEN a cluster whose controllers only move when stepped
    log, beats = RecordingLog(), []
    activation = Background(lambda: runtime.activate(make_spec(), log, lambda: beats.append(1)))

    # WHEN nothing reconciles yet
    wait_until(lambda: "rollout: waiting for the controller to observe generation 1" in log.text())
    time.sleep(0.1)

    # THEN the activation is still waiting (a new generation is never taken for a finished rollout)
    assert activation.alive()

    # AND once the controllers run, it finishes, having called progress() while it waited
    while activation.alive():
        kube_server.step()
        time.sleep(0.01)
    activation.result()
    assert beats
    assert "rollout: 2/2 replicas available" in log.text()


def step_until_first_generation_rolled_out(kube_server: KubeApiServer) -> None:
    """Run the controllers until generation 1 is complete, and not one round more: what the
    runtime writes next stays unobserved until the test steps again."""

    def complete() -> bool:
        status = deployment(kube_server).get("status", {})
        counts = [status.get(key) for key in ("updatedReplicas", "availableReplicas", "replicas")]
        return status.get("observedGeneration") == 1 and counts == [2, 2, 2]

    wait_until(lambda: kube_server.get_object("apps/v1", "deployments", NAMESPACE, "web"))
    while not complete():
        kube_server.step()


def test_activation_returns_only_once_the_controller_observed_the_live_record(
    kube_server: KubeApiServer, runtime: KubernetesRuntime
) -> None:
    # GIVEN a stepped cluster where the first release's rollout has just completed
    log, beats = RecordingLog(), []
    activation = Background(lambda: runtime.activate(make_spec(), log, lambda: beats.append(1)))
    step_until_first_generation_rolled_out(kube_server)

    # WHEN the live-release record is written (an annotation: a new generation, as on a real cluster)
    wait_until(lambda: deployment(kube_server)["metadata"]["generation"] == 2)
    beats_before = len(beats)
    time.sleep(1.5)  # longer than one watch (1 s): the wait goes on, and keeps the heartbeat going

    # THEN the activation has not returned while the Deployment reads as an unfinished rollout
    assert activation.alive()
    assert deployment(kube_server)["status"]["observedGeneration"] == 1
    assert len(beats) > beats_before

    # AND one controller round later it returns, the Deployment reading complete
    kube_server.step()
    activation.result()
    live = deployment(kube_server)
    assert live["metadata"]["annotations"][m.LIVE_RELEASE_ANNOTATION] == m.release_record(make_spec())
    assert live["status"]["observedGeneration"] == live["metadata"]["generation"] == 2
    assert live["status"]["updatedReplicas"] == live["status"]["availableReplicas"] == 2


def test_a_controller_that_never_observes_the_live_record_does_not_hold_the_activation(
    kube_server: KubeApiServer, runtime: KubernetesRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a bound of half a second for the controller to observe the live-release record
    monkeypatch.setattr("chalicelib.adapters.runtime.kubernetes_rollout.MARK_LIVE_OBSERVE_SECONDS", 0.5)
    log = RecordingLog()
    activation = Background(lambda: runtime.activate(make_spec(), log, no_progress))

    # WHEN the rollout completes and the controller then stops
    step_until_first_generation_rolled_out(kube_server)

    # THEN the activation still succeeds (the release is live), saying what it did not see
    activation.result(timeout=5)
    assert "the controller has not observed generation 2 of ry-env-01prod/web in 0.5s" in log.text()
    assert "rollout: release rel_1 is available" in log.text()


def test_new_release_rolls_out_a_new_replica_set_as_revision_2(
    server: KubeApiServer, runtime: KubernetesRuntime
) -> None:
    # GIVEN release 1 serving
    first, second = make_spec(1), make_spec(2)
    runtime.activate(first, RecordingLog(), no_progress)

    # WHEN release 2 (new image, new variables) is activated
    runtime.activate(second, RecordingLog(), no_progress)

    # THEN a second ReplicaSet (revision 2) runs both replicas and the first is scaled to zero
    live = deployment(server)
    assert image_of(live) == second.image
    assert live["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    new, old = new_replica_set_with(server, second.image), new_replica_set_with(server, first.image)
    assert new is not None and old is not None
    assert new["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    assert new["spec"]["replicas"] == 2 and old["spec"]["replicas"] == 0
    # AND the pods get the new variables through a new Secret; the previous one is kept for rollback
    env_from = live["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    assert env_from == [{"secretRef": {"name": m.variables_secret_name(second)}}]
    secrets = {s["metadata"]["name"] for s in server.objects("secrets", NAMESPACE)}
    assert {m.variables_secret_name(first), m.variables_secret_name(second)} <= secrets

    # AND a third release drops the first release's variables, which nothing can roll back to
    runtime.activate(make_spec(3), RecordingLog(), no_progress)
    secrets = {s["metadata"]["name"] for s in server.objects("secrets", NAMESPACE)}
    assert m.variables_secret_name(first) not in secrets
    assert m.variables_secret_name(second) in secrets


def test_stalled_rollout_fails_after_the_progress_deadline_and_rolls_back(
    server: KubeApiServer, runtime: KubernetesRuntime
) -> None:
    # GIVEN release 1 serving, and release 2 whose pods never become ready
    first = make_spec(1)
    runtime.activate(first, RecordingLog(), no_progress)
    broken, log = make_spec(2, image="registry.example.com/web:never-ready"), RecordingLog()
    activation = Background(lambda: runtime.activate(broken, log, no_progress))

    # WHEN the new ReplicaSet's pods stay unready past the progress deadline
    push_past_progress_deadline(server, activation, broken)

    # THEN the activation fails, naming the deployment and the reason, after rolling back
    with pytest.raises(HealthCheckFailed) as failure:
        activation.result()
    message = str(failure.value)
    assert "deployment ry-env-01prod/web exceeded its progress deadline" in message
    assert "not ready" in message
    assert "rolled back to release rel_1" in message
    assert "rollback: re-applied release rel_1" in log.text()
    # AND the Deployment runs release 1 again, from its old ReplicaSet (no third one)
    live = deployment(server)
    assert image_of(live) == first.image
    assert live["spec"]["template"]["metadata"]["annotations"][m.RELEASE_ID_ANNOTATION] == "rel_1"
    assert len(replica_sets(server)) == 2

    def old_serving() -> bool:
        old, new = new_replica_set_with(server, first.image), new_replica_set_with(server, broken.image)
        assert old is not None and new is not None
        return bool(old["status"].get("availableReplicas") == 2 and new["spec"]["replicas"] == 0)

    wait_until(old_serving)


def test_failed_first_release_leaves_nothing_running(
    server: KubeApiServer, runtime: KubernetesRuntime
) -> None:
    # GIVEN no release yet, and one whose pods never become ready
    broken = make_spec(1, image="registry.example.com/web:never-ready")
    activation = Background(lambda: runtime.activate(broken, RecordingLog(), no_progress))

    # WHEN its progress deadline passes
    push_past_progress_deadline(server, activation, broken)

    # THEN it fails and its objects are removed: nothing served before it
    with pytest.raises(HealthCheckFailed, match="no previous release to roll back to"):
        activation.result()
    wait_until(lambda: server.get_object("apps/v1", "deployments", NAMESPACE, "web") is None)
    assert server.get_object("v1", "services", NAMESPACE, "web") is None
    assert server.get_object("networking.k8s.io/v1", "ingresses", NAMESPACE, "web") is None


def test_rollout_backstop_timeout_fails_even_without_a_deadline_condition(
    server: KubeApiServer, kube_api_client: Any
) -> None:
    # GIVEN a runtime whose own rollout timeout is short, and release 1 serving
    runtime = KubernetesRuntime(OPTIONS, kube_api_client, rollout_timeout=0.3, sleep=Sleeps())
    KubernetesRuntime(OPTIONS, kube_api_client).activate(make_spec(1), RecordingLog(), no_progress)

    # WHEN a release never becomes ready and the cluster never reports a deadline
    with pytest.raises(HealthCheckFailed) as failure:
        runtime.activate(make_spec(2, image="web:never-ready"), RecordingLog(), no_progress)

    # THEN it fails on the backstop and rolls back
    assert "did not finish rolling out in 0.3s" in str(failure.value)
    assert "rolled back to release rel_1" in str(failure.value)
    assert image_of(deployment(server)) == make_spec(1).image


def test_cancellation_during_the_rollout_rolls_back_and_propagates(
    server: KubeApiServer, runtime: KubernetesRuntime
) -> None:
    # GIVEN release 1 serving and release 2 that never becomes ready
    runtime.activate(make_spec(1), RecordingLog(), no_progress)
    broken = make_spec(2, image="web:never-ready")
    cancelled = threading.Event()

    def progress() -> None:
        if cancelled.is_set():
            raise DeploymentCancelled("deployment dep_2 was cancelled")

    activation = Background(lambda: runtime.activate(broken, RecordingLog(), progress))
    wait_until(lambda: new_replica_set_with(server, broken.image))

    # WHEN the deployment is cancelled while waiting
    cancelled.set()

    # THEN the cancellation propagates and release 1 is back
    with pytest.raises(DeploymentCancelled):
        activation.result()
    assert image_of(deployment(server)) == make_spec(1).image


def test_activating_the_same_release_twice_changes_nothing(
    server: KubeApiServer, runtime: KubernetesRuntime
) -> None:
    # GIVEN release 1 live, with autoscaling and a disruption budget
    spec = make_spec(1, autoscale_min_replicas=2, autoscale_max_replicas=4)
    runtime.activate(spec, RecordingLog(), no_progress)
    server.stop_autostep()
    server.step(3)  # let the controllers settle: nothing below may come from them
    before = {
        (plural, o["metadata"]["name"]): o["metadata"]["resourceVersion"]
        for plural in APPLIED_PLURALS
        for o in server.objects(plural, NAMESPACE)
    }
    generation = deployment(server)["metadata"]["generation"]

    # WHEN the same release is activated again (a retried worker step)
    runtime.activate(spec, RecordingLog(), no_progress)

    # THEN no object changed: same resourceVersion, same generation
    after = {
        (plural, o["metadata"]["name"]): o["metadata"]["resourceVersion"]
        for plural in APPLIED_PLURALS
        for o in server.objects(plural, NAMESPACE)
    }
    assert after == before
    assert deployment(server)["metadata"]["generation"] == generation
