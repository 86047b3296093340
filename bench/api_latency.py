"""`make bench`: how long the local API takes to answer the CLI's own HTTP client.

The platform runs as `railyard dev` in its own process (its own RAILYARD_HOME in a temp dir), as a
user runs it; this script is the client. Each client is a `requests.Session` (what railyard/client.py
uses, so connections are kept alive) and, per round, times one request of each kind in turn, so a
burst of load from elsewhere on the machine lands on every kind alike:

- bare:    GET /v1/health, public, no DynamoDB call: the cost of HTTP + Chalice routing;
- 1-read:  GET /v1/projects, one read (a Query of the org's projects): the bearer token's GetItem is
           made once per TOKEN_CACHE_SECONDS per container (chalicelib/domain/services.py); the
           cheapest authenticated route (its calls and the bare route's are pinned by
           tests/integration/test_api_server.py);
- 2-read:  GET /v1/projects/{id}, the project GetItem + the environments Query (reported, no target);
- GetItem: one raw strongly consistent GetItem of the project's item with boto3 against the same
           DynamoDB backend the platform uses (dev.json's dynamodb_url when present, else moto).

With 1 client, then 8 concurrent clients: WARMUP requests of each kind, then REQUESTS timed ones.
Target, for both: p99(1-read) <= p99(bare) + 2 * p99(GetItem). Prints the figures with PASS/FAIL,
writes bench/api_latency.json and exits non-zero on a FAIL. Everything runs on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from dev_platform import aws_client, forget_platform, start_platform, stop_platform

ROOT = Path(__file__).resolve().parents[1]
WARMUP = int(os.environ.get("BENCH_WARMUP", "50"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "400"))
CLIENTS = (1, 8)
KINDS = ("bare", "1-read", "2-read", "GetItem")


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def dynamodb_get_item(state: dict[str, Any], project_id: str) -> Callable[[], None]:
    """One raw GetItem of the project's item, as the dynamo adapter reads it (consistent)."""
    from chalicelib.catalogue import Catalogue

    client = aws_client(state, "dynamodb")
    table = Catalogue("dev").table.name
    key = {"pk": {"S": f"PROJECT#{project_id}"}, "sk": {"S": "PROJECT"}}

    def get_item() -> None:
        assert "Item" in client.get_item(TableName=table, Key=key, ConsistentRead=True)

    return get_item


def client_rounds(state: dict[str, Any], token: str, project_id: str) -> dict[str, list[float]]:
    """One client: its own Session and boto3 client, WARMUP + REQUESTS rounds of every kind."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"

    def getter(path: str) -> Callable[[], None]:
        def get() -> None:
            response = session.get(state["api_url"] + path, timeout=30)
            response.raise_for_status()

        return get

    calls = {
        "bare": getter("/v1/health"),
        "1-read": getter("/v1/projects"),
        "2-read": getter(f"/v1/projects/{project_id}"),
        "GetItem": dynamodb_get_item(state, project_id),
    }
    samples: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for index in range(WARMUP + REQUESTS):
        for kind in KINDS:
            started = time.perf_counter()
            calls[kind]()
            if index >= WARMUP:
                samples[kind].append((time.perf_counter() - started) * 1000)
    session.close()
    return samples


def measure(clients: int, state: dict[str, Any], token: str, project_id: str) -> dict[str, Any]:
    results: list[dict[str, list[float]]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(clients)

    def run() -> None:
        try:
            start.wait()
            results.append(client_rounds(state, token, project_id))
        except BaseException as error:  # reported below; a client's failure must not hang the bench
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    figures: dict[str, Any] = {"clients": clients, "requests_per_client": REQUESTS}
    for kind in KINDS:
        samples = [ms for result in results for ms in result[kind]]
        figures[kind] = {f"p{p}_ms": round(percentile(samples, p), 2) for p in (50, 99)}
    budget = figures["bare"]["p99_ms"] + 2 * figures["GetItem"]["p99_ms"]
    figures["target_p99_ms"] = round(budget, 2)
    figures["pass"] = figures["1-read"]["p99_ms"] <= budget
    return figures


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="railyard-bench-api-"))
    dev, state = start_platform(home)
    try:
        token = json.loads((home / "config.json").read_text())["token"]
        endpoint = state.get("dynamodb_url") or f"http://127.0.0.1:{state['moto_port']}"
        created = requests.post(
            state["api_url"] + "/v1/projects",
            json={"name": "bench"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        created.raise_for_status()
        project_id = created.json()["project"]["id"]
        runs = [measure(n, state, token, project_id) for n in CLIENTS]
    finally:
        stop_platform(dev)

    print(f"DynamoDB backend: {endpoint}; {WARMUP} warm-up + {REQUESTS} timed requests per client and kind")
    print(f"{'clients':>7}  " + "  ".join(f"{kind + ' p50/p99 ms':>24}" for kind in KINDS))
    for run in runs:
        cells = "  ".join(f"{run[k]['p50_ms']:>11.2f} / {run[k]['p99_ms']:>8.2f}" for k in KINDS)
        print(f"{run['clients']:>7}  {cells}")
    for run in runs:
        verdict = "PASS" if run["pass"] else "FAIL"
        print(
            f"{verdict}  {run['clients']} client(s): p99(1-read) {run['1-read']['p99_ms']:.2f} ms"
            f" <= p99(bare) + 2 * p99(GetItem) = {run['target_p99_ms']:.2f} ms"
        )
    results = {"dynamodb_backend": "dynamodb_url" if state.get("dynamodb_url") else "moto", "runs": runs}
    (ROOT / "bench" / "api_latency.json").write_text(json.dumps(results, indent=2) + "\n")
    forget_platform(home)
    shutil.rmtree(home, ignore_errors=True)  # kept when a step above failed: its logs say why
    return 0 if all(run["pass"] for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
