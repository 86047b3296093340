"""KubernetesRuntime through the official client against the in-process API server.

The server's controllers only move when stepped (`kube_server.autostep()` or `.step()`), and its
clock only when advanced, so rollouts, stalls and progress deadlines are deterministic and fast.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chalicelib.adapters.runtime import manifests as m
from chalicelib.adapters.runtime.kubernetes import KubernetesRuntime
from chalicelib.adapters.runtime.kubernetes_api import FIELD_MANAGER
from chalicelib.adapters.runtime.kubernetes_rollout import MAX_ROLLOUT_SECONDS, rollout_backstop_seconds
from chalicelib.domain.errors import (
    Conflict,
    DeploymentCancelled,
    HealthCheckFailed,
    ImageMissing,
    ReleaseNotRunnable,
    RuntimeRefused,
    RuntimeUnavailable,
)
from chalicelib.domain.models import ServiceSettings
from chalicelib.domain.ports import ReleaseSpec
from tests.kubernetes.apiserver import KubeApiServer

# A hang guard, not a speed bound: the first test also pays the client's one-off import (~2 s idle,
# over 20 s measured with the Kubernetes suite running twice beside a busy loop on 2 cores).
pytestmark = pytest.mark.timeout(60)

NS = "ry-env-01prod"
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


@pytest.fixture(scope="module", autouse=True)
def client_imported() -> None:
    # The client's API modules take ~2 s to import (pydantic models); pay it once, outside the tests.
    from kubernetes import client, watch  # noqa: F401

    for name in ("CoreV1Api", "AppsV1Api", "NetworkingV1Api", "AutoscalingV2Api", "PolicyV1Api"):
        getattr(client, name)


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


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def runtime(kube_api_client: Any, sleeps: Sleeps) -> KubernetesRuntime:
    return KubernetesRuntime(OPTIONS, kube_api_client, backoff_seconds=0.01, request_timeout=5, sleep=sleeps)


@pytest.fixture
def server(kube_server: KubeApiServer) -> Iterator[KubeApiServer]:
    """The server with its controllers running, as a cluster's would."""
    kube_server.autostep(0.005)
    yield kube_server
    kube_server.stop_autostep()


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
    found = server.get_object("apps/v1", "deployments", NS, "web")
    assert found is not None
    return found


def replica_sets(server: KubeApiServer) -> list[dict[str, Any]]:
    return server.objects("replicasets", NS)


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


# --- rollouts ----------------------------------------------------------------------------------------


def test_first_rollout_applies_every_object_and_returns_once_all_replicas_are_available(
    server: KubeApiServer, runtime: KubernetesRuntime
) -> None:
    # GIVEN an empty cluster
    spec, log = make_spec(), RecordingLog()

    # WHEN the first release is activated
    runtime.activate(spec, log, no_progress)

    # THEN every object exists, applied by the "railyard" field manager
    namespace = server.get_object("v1", "namespaces", None, NS)
    assert namespace is not None
    assert namespace["metadata"]["labels"]["railyard.dev/project"] == "shop"
    for group_version, plural, name in [
        ("v1", "secrets", m.variables_secret_name(spec)),
        ("v1", "services", "web"),
        ("networking.k8s.io/v1", "ingresses", "web"),
        ("networking.k8s.io/v1", "networkpolicies", m.NETWORK_POLICY_NAME),
        ("policy/v1", "poddisruptionbudgets", "web"),
    ]:
        assert server.get_object(group_version, plural, NS, name) is not None, plural
    assert server.get_object("autoscaling/v2", "horizontalpodautoscalers", NS, "web") is None
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

    wait_until(lambda: kube_server.get_object("apps/v1", "deployments", NS, "web"))
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
    secrets = {s["metadata"]["name"] for s in server.objects("secrets", NS)}
    assert {m.variables_secret_name(first), m.variables_secret_name(second)} <= secrets

    # AND a third release drops the first release's variables, which nothing can roll back to
    runtime.activate(make_spec(3), RecordingLog(), no_progress)
    secrets = {s["metadata"]["name"] for s in server.objects("secrets", NS)}
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
    wait_until(lambda: server.get_object("apps/v1", "deployments", NS, "web") is None)
    assert server.get_object("v1", "services", NS, "web") is None
    assert server.get_object("networking.k8s.io/v1", "ingresses", NS, "web") is None


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
        for o in server.objects(plural, NS)
    }
    generation = deployment(server)["metadata"]["generation"]

    # WHEN the same release is activated again (a retried worker step)
    runtime.activate(spec, RecordingLog(), no_progress)

    # THEN no object changed: same resourceVersion, same generation
    after = {
        (plural, o["metadata"]["name"]): o["metadata"]["resourceVersion"]
        for plural in APPLIED_PLURALS
        for o in server.objects(plural, NS)
    }
    assert after == before
    assert deployment(server)["metadata"]["generation"] == generation


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
    assert server.get_object("v1", "secrets", NS, m.variables_secret_name(make_spec(1))) is not None


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
    wait_until(lambda: server.get_object("apps/v1", "deployments", NS, "web") is None)
    assert server.get_object("v1", "services", NS, "web") is None


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
    server.create_object({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})

    # WHEN a release is activated into it
    with pytest.raises(RuntimeRefused, match=f"namespace {NS} exists and is not managed by Railyard"):
        runtime.activate(make_spec(1), RecordingLog(), no_progress)

    # THEN nothing was written into it, nor to the namespace itself
    namespace = server.get_object("v1", "namespaces", None, NS)
    assert namespace is not None
    assert m.MANAGED_BY_LABEL not in (namespace["metadata"].get("labels") or {})
    for plural in APPLIED_PLURALS:
        assert server.objects(plural, NS) == []


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


# --- autoscaling and scale ----------------------------------------------------------------------------


def test_autoscaling_leaves_replicas_to_the_hpa_and_turning_it_off_deletes_it(
    server: KubeApiServer, runtime: KubernetesRuntime
) -> None:
    # GIVEN release 1 with three fixed replicas
    runtime.activate(make_spec(1, num_replicas=3), RecordingLog(), no_progress)
    assert deployment(server)["spec"]["replicas"] == 3

    # WHEN release 2 turns autoscaling on (2..5)
    runtime.activate(
        make_spec(2, autoscale_min_replicas=2, autoscale_max_replicas=5), RecordingLog(), no_progress
    )

    # THEN an HPA owns the count: railyard no longer applies replicas, and the count was handed
    # over without dropping to the default of 1
    hpa = server.get_object("autoscaling/v2", "horizontalpodautoscalers", NS, "web")
    assert hpa is not None
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 5)
    assert hpa["spec"]["scaleTargetRef"]["name"] == "web"
    live = deployment(server)
    applied = [f for f in live["metadata"]["managedFields"] if f["manager"] == FIELD_MANAGER]
    assert applied and all("f:replicas" not in f["fieldsV1"].get("f:spec", {}) for f in applied)
    assert live["spec"]["replicas"] == 3
    assert live["status"]["availableReplicas"] == 3

    # AND the HPA scales within its bounds
    server.set_hpa_recommendation(NS, "web", 5)
    wait_until(lambda: deployment(server)["spec"]["replicas"] == 5)

    # WHEN release 3 turns autoscaling off with two replicas
    runtime.activate(make_spec(3, num_replicas=2), RecordingLog(), no_progress)

    # THEN the HPA is gone and the Deployment has the configured count again
    assert server.get_object("autoscaling/v2", "horizontalpodautoscalers", NS, "web") is None
    assert deployment(server)["spec"]["replicas"] == 2
    assert deployment(server)["status"]["availableReplicas"] == 2


def test_first_release_with_autoscaling_waits_for_the_minimum(
    server: KubeApiServer, runtime: KubernetesRuntime
) -> None:
    spec = make_spec(1, autoscale_min_replicas=3, autoscale_max_replicas=6)
    runtime.activate(spec, RecordingLog(), no_progress)
    live = deployment(server)
    assert live["status"]["availableReplicas"] >= 3
    assert server.get_object("policy/v1", "poddisruptionbudgets", NS, "web") is not None


def test_scale_sets_replicas_without_an_autoscaler_and_is_refused_with_one(
    server: KubeApiServer, runtime: KubernetesRuntime
) -> None:
    # GIVEN a service with fixed replicas
    runtime.activate(make_spec(1), RecordingLog(), no_progress)

    # WHEN it is scaled to 4
    runtime.scale("svc_01web", 4)

    # THEN the Deployment runs 4 replicas
    wait_until(lambda: deployment(server)["status"].get("availableReplicas") == 4)

    # AND with an autoscaler, scaling is refused with the reason
    runtime.activate(make_spec(2, autoscale_max_replicas=6), RecordingLog(), no_progress)
    with pytest.raises(Conflict, match="autoscaling owns the replica count of ry-env-01prod/web"):
        runtime.scale("svc_01web", 1)


def test_restart_rolls_every_pod_of_the_live_release(
    server: KubeApiServer, runtime: KubernetesRuntime
) -> None:
    runtime.activate(make_spec(1), RecordingLog(), no_progress)
    runtime.restart("svc_01web")
    annotations = deployment(server)["spec"]["template"]["metadata"]["annotations"]
    assert m.RESTARTED_AT_ANNOTATION in annotations
    assert annotations[m.RELEASE_ID_ANNOTATION] == "rel_1"
    wait_until(lambda: len(replica_sets(server)) == 2)


def test_stop_removes_the_service_objects_and_keeps_the_shared_namespace(
    server: KubeApiServer, runtime: KubernetesRuntime
) -> None:
    runtime.activate(
        make_spec(1, autoscale_min_replicas=2, autoscale_max_replicas=3), RecordingLog(), no_progress
    )

    runtime.stop("svc_01web")

    def gone() -> bool:
        return all(
            not server.objects(plural, NS)
            for plural in (*APPLIED_PLURALS, "replicasets", "pods")
            if plural != "networkpolicies"
        )

    wait_until(gone)
    assert server.get_object("v1", "namespaces", None, NS) is not None
    runtime.stop("svc_01web")  # idempotent
    with pytest.raises(Exception, match="nothing running"):
        runtime.restart("svc_01web")


# --- what is stored ------------------------------------------------------------------------------------


def test_ingress_and_network_policy_as_the_cluster_stores_them(
    server: KubeApiServer, runtime: KubernetesRuntime
) -> None:
    spec = make_spec(1, custom_domains=("shop.example.org",), healthcheck_path="/health")
    runtime.activate(spec, RecordingLog(), no_progress)

    ingress = server.get_object("networking.k8s.io/v1", "ingresses", NS, "web")
    assert ingress is not None
    assert ingress["spec"]["ingressClassName"] == "alb"
    assert [r["host"] for r in ingress["spec"]["rules"]] == [
        "web-production-shop.apps.example.com",
        "shop.example.org",
    ]
    annotations = ingress["metadata"]["annotations"]
    assert annotations["alb.ingress.kubernetes.io/healthcheck-path"] == "/health"
    assert annotations["alb.ingress.kubernetes.io/group.name"] == "railyard"
    assert runtime.url_for(spec.hostname) == "https://web-production-shop.apps.example.com"

    policy = server.get_object("networking.k8s.io/v1", "networkpolicies", NS, m.NETWORK_POLICY_NAME)
    assert policy is not None
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert {"from": [{"podSelector": {}}]} in policy["spec"]["ingress"]
    assert any(
        {"ipBlock": {"cidr": "10.0.0.0/24"}} in rule.get("from", []) for rule in policy["spec"]["ingress"]
    )


# --- errors ----------------------------------------------------------------------------------------------


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
    ingress = server.get_object("networking.k8s.io/v1", "ingresses", NS, "web")
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
