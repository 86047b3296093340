"""`make bench`: how long a log line takes to reach a WebSocket subscriber (issue 12: ≤ 1 s).

The platform runs as `railyard dev` in its own process; this script deploys bench/live_app (it
prints `LIVE <epoch seconds>` every 50 ms), subscribes to the deployment over the platform's
WebSocket (the `websocketUrl` of GET /v1/health) after the lines it has, and times each pushed line
from the time it carries to the time it arrived: the app's stdout, the runtime's log writer, its
flush (every 0.25 s), the S3 PUT to the emulator, the subscribers' query and the post to the
connection. Same machine, same clock. Target: p99 of LINES lines ≤ 1 s. Prints the figures with
PASS/FAIL, writes bench/live_logs.json and exits non-zero on a FAIL.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import requests
from dev_platform import forget_platform, start_platform, stop_platform
from platform_api import Api, pack

BENCH = Path(__file__).resolve().parent
LINES = int(os.environ.get("BENCH_LIVE_LINES", "200"))
TARGET_SECONDS = 1.0


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def measure(api: Api, websocket_url: str, token: str, deployment_id: str) -> list[float]:
    import websocket

    logs = api.call("GET", f"/v1/deployments/{deployment_id}/logs", params={"stream": "deploy"})
    ws = websocket.create_connection(f"{websocket_url}/?token={token}", timeout=10)
    latencies: list[float] = []
    try:
        subscribe = {"action": "subscribe", "deploymentId": deployment_id, "streams": ["deploy"]}
        ws.send(json.dumps({**subscribe, "after": {"deploy": logs["next"]}}))
        subscribed = time.time()  # lines written before it may come as the backfill: not counted
        deadline = time.monotonic() + 120
        while len(latencies) < LINES and time.monotonic() < deadline:
            message = json.loads(ws.recv())
            if message["type"] != "log":
                continue
            arrived = time.time()
            for row in message["lines"]:
                if row["line"].startswith("LIVE ") and float(row["line"].split()[1]) > subscribed:
                    latencies.append(arrived - float(row["line"].split()[1]))
    finally:
        ws.close()
    return latencies


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="railyard-bench-live-"))
    dev, state = start_platform(home)
    try:
        token = json.loads((home / "config.json").read_text())["token"]
        api = Api(state["api_url"], token)
        websocket_url = requests.get(f"{state['api_url']}/v1/health", timeout=10).json()["websocketUrl"]
        service = api.service("benchlive")
        deployment_id, _ = api.deploy(service["id"], pack(BENCH / "live_app"))
        assert api.wait(deployment_id)["status"] == "SUCCESS"
        measure(api, websocket_url, token, deployment_id)  # warm-up: first connection, caches
        latencies = measure(api, websocket_url, token, deployment_id)
    finally:
        stop_platform(dev)
        forget_platform(home)
        shutil.rmtree(home, ignore_errors=True)
    if len(latencies) < LINES:
        print(f"FAIL: only {len(latencies)} of {LINES} lines arrived")
        return 1
    figures = {
        "lines": len(latencies),
        "median_ms": round(percentile(latencies, 50) * 1000, 1),
        "p90_ms": round(percentile(latencies, 90) * 1000, 1),
        "p99_ms": round(percentile(latencies, 99) * 1000, 1),
        "max_ms": round(max(latencies) * 1000, 1),
        "target_p99_ms": TARGET_SECONDS * 1000,
    }
    passed = figures["p99_ms"] <= TARGET_SECONDS * 1000
    figures["result"] = "PASS" if passed else "FAIL"
    (BENCH / "live_logs.json").write_text(json.dumps(figures, indent=2) + "\n")
    print("log line -> WebSocket subscriber latency")
    for name in ("lines", "median_ms", "p90_ms", "p99_ms", "max_ms"):
        print(f"  {name:>8}: {figures[name]}")
    print(f"{figures['result']}: p99 {figures['p99_ms']} ms (target <= {TARGET_SECONDS * 1000:.0f} ms)")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
