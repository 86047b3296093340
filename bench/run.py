"""`make bench`: Railyard's own overheads, measured on the embedded platform (moto + local runtime).

The platform runs as `railyard dev` in its own process, as a user runs it; this script is the client.

1. Push-to-healthy overhead: from the moment the API accepted a deployment of an already-built
   release to the first 200 served by the NEW release through the router, minus the app's own
   spawn-to-200 time (the same start command run the way the runtime runs it, polled every 2 ms).
   Two ways to ask for a prebuilt release are measured:
   - `redeploy` (the workflow skips the Build state: Requested → Deploy);
   - `up` of an unchanged directory (the Build state runs but finds the artifact and skips the build).
   Target: median <= 150 ms.
2. State transitions per successful deployment (StateEntered events in the execution history) for a
   fast build and a slow build (a build script that sleeps 3 s): must be <= 20 and equal.

Prints the figures and writes bench/results.json. Everything runs on 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from dev_platform import aws_client, start_platform, stop_platform
from platform_api import Api, get, pack

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "bench" / "app"
RUNS = int(os.environ.get("BENCH_RUNS", "15"))
TARGET_MS = 150


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def app_spawn_to_200(runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        port = free_port()
        started = time.perf_counter()
        # Exactly how the local runtime starts a release: `/bin/sh -c <start command>` in the app's
        # directory, so interpreter lookup (a pyenv shim, say) counts as the app's own time.
        proc = subprocess.Popen(
            ["/bin/sh", "-c", "python3 main.py"],
            cwd=APP,
            env={**os.environ, "PORT": str(port)},
            start_new_session=True,  # so the app the shell started is stopped with it
        )
        try:
            while get(port, "x")[0] != 200:
                time.sleep(0.002)
            times.append(time.perf_counter() - started)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait()
    return times


def push_to_healthy(
    api: Api, router_port: int, service: dict[str, Any], tarball: bytes | None
) -> list[float]:
    host = f"{service['hostname']}.localhost"
    times = []
    for _ in range(RUNS):
        _, before = get(router_port, host)
        deployment_id, accepted = api.deploy(service["id"], tarball)
        while True:
            status, body = get(router_port, host)
            if status == 200 and body != before:  # the app answers with its pid: a new instance
                times.append(time.perf_counter() - accepted)
                break
            time.sleep(0.002)
        done = api.wait(deployment_id)
        assert done["status"] == "SUCCESS", done
    return times


def transitions(state: dict[str, Any], deployment_id: str) -> int:
    sfn = aws_client(state, "stepfunctions")
    machine = sfn.list_state_machines()["stateMachines"][0]["stateMachineArn"]
    arn = machine.replace(":stateMachine:", ":execution:") + ":" + deployment_id
    events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return sum(1 for e in events if e["type"].endswith("StateEntered"))


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="railyard-bench-"))
    spawn = app_spawn_to_200(RUNS)
    dev, state = start_platform(home)
    try:
        token = json.loads((home / "config.json").read_text())["token"]
        api = Api(state["api_url"], token)
        service = api.service("bench")
        tarball = pack(APP)
        first, _ = api.deploy(service["id"], tarball)
        assert api.wait(first)["status"] == "SUCCESS"
        redeploys = push_to_healthy(api, state["router_port"], service, None)
        unchanged_ups = push_to_healthy(api, state["router_port"], service, tarball)

        fast_id, _ = api.deploy(service["id"], pack(APP, {"fast.txt": str(time.time())}))
        api.wait(fast_id)
        slow_service = api.service("benchslow")
        slow_build = json.dumps({"name": "slow", "scripts": {"build": "sleep 3", "start": "python3 main.py"}})
        slow_id, _ = api.deploy(slow_service["id"], pack(APP, {"package.json": slow_build}))
        slow_status = api.wait(slow_id)["status"]
        counts = {label: transitions(state, d) for label, d in (("fast", fast_id), ("slow", slow_id))}
    finally:
        stop_platform(dev)

    spawn_ms = statistics.median(spawn) * 1000

    def overhead(samples: list[float]) -> dict[str, float]:
        ms = sorted(x * 1000 for x in samples)
        return {
            "accepted_to_first_200_ms_median": round(statistics.median(ms), 1),
            "overhead_ms_median": round(statistics.median(ms) - spawn_ms, 1),
            "overhead_ms_p90": round(ms[int(0.9 * (len(ms) - 1))] - spawn_ms, 1),
        }

    results = {
        "runs": RUNS,
        "app_spawn_to_200_ms_median": round(spawn_ms, 1),
        "redeploy": overhead(redeploys),
        "unchanged_up": overhead(unchanged_ups),
        "transitions_fast_build": counts["fast"],
        "transitions_slow_build": counts["slow"],
        "slow_build_status": slow_status,
    }
    print(json.dumps(results, indent=2))
    (ROOT / "bench" / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    shutil.rmtree(home, ignore_errors=True)  # kept when a step above failed: its logs say why
    checks = {
        f"redeploy overhead median <= {TARGET_MS} ms": results["redeploy"]["overhead_ms_median"] <= TARGET_MS,  # type: ignore[index]
        f"unchanged-up overhead median <= {TARGET_MS} ms": results["unchanged_up"]["overhead_ms_median"]
        <= TARGET_MS,  # type: ignore[index]
        "transitions equal and <= 20": counts["fast"] == counts["slow"] <= 20 and slow_status == "SUCCESS",
    }
    for name, ok in checks.items():
        print(f"{'PASS' if ok else 'MISS'}  {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
