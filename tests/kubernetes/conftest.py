"""Fixtures for tests against the in-process Kubernetes API server (see ``apiserver.py`` for the contract).

* ``kube_server``: a started :class:`~tests.kubernetes.apiserver.KubeApiServer`, stopped afterwards
  (autostep thread, watch streams and connections included).
* ``kube_api_client``: a ``kubernetes.client.ApiClient`` pointed at it with its bearer token.
* ``kubeconfig``: a kubeconfig file for kubectl and ``kubernetes.config.load_kube_config``.
* ``server`` (the server with its controllers running), ``runtime`` (a KubernetesRuntime on it whose
  back-off sleeps are recorded in ``sleeps``); modules that need others define their own.
* every module imports the client once before its tests (``client_imported``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from chalicelib.adapters.runtime.kubernetes import KubernetesRuntime
from tests.kubernetes.apiserver import KubeApiServer
from tests.support.kube_runtime import OPTIONS, Sleeps, fast_runtime


@pytest.fixture
def kube_server() -> Iterator[KubeApiServer]:
    before = set(threading.enumerate())
    server = KubeApiServer().start()
    try:
        yield server
    finally:
        server.stop()
        assert not server.controller_errors, (
            f"the simulated controllers crashed: {server.controller_errors!r}"
        )
        # Request threads are joined by stop(); anything else still alive is a leak worth failing on.
        leaked = [
            t
            for t in threading.enumerate()
            if t not in before and t.is_alive() and t.name.startswith(("kube-", "Thread-", "process_request"))
        ]
        for thread in leaked:
            thread.join(timeout=2)
        assert not [t for t in leaked if t.is_alive()], f"kube_server left threads running: {leaked}"


@pytest.fixture
def kube_api_client(kube_server: KubeApiServer) -> Iterator[object]:
    from kubernetes import client

    configuration = client.Configuration(
        host=kube_server.url,
        api_key={"BearerToken": kube_server.token or ""},
        api_key_prefix={"BearerToken": "Bearer"},
    )
    api_client = client.ApiClient(configuration)
    try:
        yield api_client
    finally:
        api_client.close()


@pytest.fixture
def kubeconfig(kube_server: KubeApiServer, tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "railyard-test", "cluster": {"server": kube_server.url}}],
        "users": [{"name": "railyard-test", "user": {"token": kube_server.token}}],
        "contexts": [
            {
                "name": "railyard-test",
                "context": {"cluster": "railyard-test", "user": "railyard-test", "namespace": "default"},
            }
        ],
        "current-context": "railyard-test",
    }
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module", autouse=True)
def client_imported() -> None:
    # The client's API modules take ~2 s to import (pydantic models); pay it once, outside the tests.
    from kubernetes import client, watch  # noqa: F401

    for name in ("CoreV1Api", "AppsV1Api", "NetworkingV1Api", "AutoscalingV2Api", "PolicyV1Api"):
        getattr(client, name)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def runtime(kube_api_client: Any, sleeps: Sleeps) -> KubernetesRuntime:
    return fast_runtime(OPTIONS, kube_api_client, sleep=sleeps)


@pytest.fixture
def server(kube_server: KubeApiServer) -> Iterator[KubeApiServer]:
    """The server with its controllers running, as a cluster's would."""
    kube_server.autostep(0.005)
    yield kube_server
    kube_server.stop_autostep()
