"""Faults: traffic while the platform works.

Five redeploys while a client sends 50 requests a second to the app through the router: not one
request fails (any answer but 200, any socket error), and the last release is the one answering at
the end. Then 64 clients, each on its own kept-alive connection, hit the API at the same instant:
no connection is reset or refused, no answer is a 5xx.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable

import pytest
import requests

from tests.support.faults import Load, echo_app, figures, hostname, percentile, router_json, wait_status
from tests.support.platform import Dev

pytestmark = [pytest.mark.faults, pytest.mark.timeout(240)]

REDEPLOYS = 5
RATE = 50.0  # requests per second through the router
DEPLOY_SECONDS = 30  # bound per redeploy (five of them within ~60 s on an idle machine)
API_CLIENTS = 64
REQUESTS_PER_CLIENT = 5  # the first opens the connection, the others reuse it


@pytest.fixture(scope="module")
def service_id(dev: Dev, tmp_path_factory: pytest.TempPathFactory) -> str:
    app, service = echo_app(dev, tmp_path_factory.mktemp("apps"), "busy")
    dev.cli("up", cwd=app)
    return service


def test_five_redeploys_under_50_requests_a_second_fail_no_request(
    dev: Dev, service_id: str, record_property: Callable[[str, object], None]
) -> None:
    # GIVEN a client sending 50 requests a second to the live app through the router
    load = Load(dev, hostname("busy"), RATE).start()
    releases: list[str] = []
    redeploy_seconds: list[float] = []
    try:
        time.sleep(1)
        # WHEN the service is redeployed five times, one after the other
        for _ in range(REDEPLOYS):
            started = time.monotonic()
            created = dev.api("POST", f"/v1/services/{service_id}/deployments", json={"redeploy": True})
            done = wait_status(
                dev, created["deployment"]["id"], {"SUCCESS", "FAILED", "CRASHED"}, DEPLOY_SECONDS
            )
            assert done["status"] == "SUCCESS", done
            releases.append(done["releaseId"])
            redeploy_seconds.append(round(time.monotonic() - started, 1))
        time.sleep(1)  # and the old release drains while requests keep coming
    finally:
        load.stop()
    figures(
        record_property,
        f"{REDEPLOYS} redeploys under {RATE:g} req/s",
        redeploy_seconds=redeploy_seconds,
        **load.summary(),
    )
    # THEN not one request failed, the client kept its pace, and every release answered in turn
    assert load.failures == []
    assert load.sent >= RATE * load.elapsed * 0.5, "the client fell far behind its rate"
    answered = {json.loads(body)["release"] for body in load.bodies}
    assert set(releases) <= answered, "a release never answered while it was live"
    assert router_json(dev, "busy")["release"] == releases[-1]


def test_64_concurrent_keep_alive_api_clients_get_no_reset_and_no_5xx(
    dev: Dev, service_id: str, record_property: Callable[[str, object], None]
) -> None:
    barrier = threading.Barrier(API_CLIENTS)
    lock = threading.Lock()
    statuses: dict[int, int] = {}
    errors: list[str] = []
    latencies: list[float] = []

    def client() -> None:
        with requests.Session() as session:
            session.headers["Authorization"] = f"Bearer {dev.token}"
            barrier.wait(timeout=30)
            for _ in range(REQUESTS_PER_CLIENT):
                began = time.perf_counter()
                try:
                    response = session.get(f"{dev.api_url}/v1/services/{service_id}", timeout=30)
                except requests.RequestException as error:
                    with lock:
                        errors.append(repr(error))
                    continue
                with lock:
                    latencies.append(time.perf_counter() - began)
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    # WHEN 64 clients open their connections at the same instant and each sends five requests on it
    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(API_CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    elapsed = time.monotonic() - started
    figures(
        record_property,
        f"{API_CLIENTS} concurrent keep-alive API clients",
        requests=sum(statuses.values()) + len(errors),
        errors=len(errors),
        statuses=dict(sorted(statuses.items())),
        seconds=round(elapsed, 1),
        p50_ms=round(percentile(latencies, 0.5) * 1000, 1),
        p99_ms=round(percentile(latencies, 0.99) * 1000, 1),
    )
    # THEN every request got an answer, and every answer was a 200
    assert errors == []
    assert statuses == {200: API_CLIENTS * REQUESTS_PER_CLIENT}
