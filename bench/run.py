"""`make bench`: Railyard's own overheads, measured on the embedded platform (moto, local runtime).

1. Push-to-healthy overhead: from the moment the API accepted a deployment of an already-built source
   (the build step finds the artifact and is skipped) to the first 200 served by the NEW release
   through the router, minus the app's own spawn-to-200 time (the same app started directly, polled
   every 2 ms). Target: median <= 150 ms.
2. State transitions per successful deployment (StateEntered events in the execution history) for a
   fast build and a slow build (a build step that sleeps 3 s): must be <= 20 and equal.

Prints a table and writes bench/results.json. Everything runs on 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RUNS = int(os.environ.get("BENCH_RUNS", "15"))


def pack(directory: Path, extra: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                tar.add(path, arcname=str(path.relative_to(directory)))
        for name, text in (extra or {}).items():
            info = tarfile.TarInfo(name)
            data = text.encode()
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(port: int, host: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/", headers={"Host": host})
        response = conn.getresponse()
        return response.status, response.read()
    except OSError:
        return 0, b""
    finally:
        conn.close()


def app_spawn_to_200(runs: int) -> list[float]:
    """The app's own start-up: spawn it directly, poll every 2 ms until it answers 200."""
    times = []
    for _ in range(runs):
        port = free_port()
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "bench/app/main.py")], env={**os.environ, "PORT": str(port)}
        )
        try:
            while get(port, "x")[0] != 200:
                time.sleep(0.002)
            times.append(time.perf_counter() - started)
        finally:
            proc.terminate()
            proc.wait()
    return times


class Api:
    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, **kwargs: object) -> dict:
        response = self.session.request(method, self.url + path, timeout=30, **kwargs)  # type: ignore[arg-type]
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def service(self, project: str, name: str, settings: dict | None = None) -> dict:
        env = self.call("POST", "/v1/projects", json={"name": project})["environments"][0]["id"]
        body: dict = {"name": name}
        if settings:
            body["settings"] = settings
        return self.call("POST", f"/v1/environments/{env}/services", json=body)["service"]

    def deploy(self, service_id: str, tarball: bytes) -> tuple[str, float]:
        upload = self.call("POST", f"/v1/services/{service_id}/uploads")
        requests.put(upload["uploadUrl"], data=tarball, timeout=30).raise_for_status()
        deployment = self.call(
            "POST", f"/v1/services/{service_id}/deployments", json={"sourceKey": upload["sourceKey"]}
        )
        return deployment["deployment"]["id"], time.perf_counter()

    def wait(self, deployment_id: str, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            deployment = self.call("GET", f"/v1/deployments/{deployment_id}")["deployment"]
            if deployment["status"] not in ("QUEUED", "BUILDING", "DEPLOYING"):
                return deployment
            time.sleep(0.05)
        raise TimeoutError(deployment_id)


def main() -> int:
    home = tempfile.mkdtemp(prefix="railyard-bench-")
    os.environ["RAILYARD_HOME"] = home
    from chalicelib.adapters.aws import client
    from railyard.localdev import start

    spawn = app_spawn_to_200(RUNS)
    platform = start(api_port=0, router_port=0, quiet=True)
    results: dict[str, object] = {}
    try:
        api = Api(platform.api_url, platform.token)
        service = api.service("bench", "app", {"drainingSeconds": 0})
        host = f"{service['hostname']}.localhost"
        tarball = pack(ROOT / "bench/app")
        first, _ = api.deploy(service["id"], tarball)
        assert api.wait(first)["status"] == "SUCCESS"

        push_to_healthy = []
        for _ in range(RUNS):
            _, before = get(platform.router_port, host)
            deployment_id, accepted = api.deploy(service["id"], tarball)
            while True:
                status, body = get(platform.router_port, host)
                if status == 200 and body != before:
                    push_to_healthy.append(time.perf_counter() - accepted)
                    break
                time.sleep(0.002)
            done = api.wait(deployment_id)
            assert done["status"] == "SUCCESS" and done["buildCached"], done

        arn = platform_state_machine_arn()
        fast_id, _ = api.deploy(service["id"], pack(ROOT / "bench/app", {"fast.txt": str(time.time())}))
        api.wait(fast_id)
        slow_service = api.service("benchslow", "app", {"drainingSeconds": 0})
        slow_id, _ = api.deploy(
            slow_service["id"],
            pack(
                ROOT / "bench/app",
                {
                    "package.json": json.dumps(
                        {"name": "slow", "scripts": {"build": "sleep 3", "start": "python3 main.py"}}
                    )
                },
            ),
        )
        slow_done = api.wait(slow_id)
        transitions = {}
        for label, deployment_id in (("fast build", fast_id), ("slow build", slow_id)):
            history = client("stepfunctions").get_execution_history(
                executionArn=arn.replace(":stateMachine:", ":execution:") + ":" + deployment_id,
                maxResults=1000,
            )["events"]
            transitions[label] = sum(1 for e in history if e["type"].endswith("StateEntered"))
        results = {
            "runs": RUNS,
            "app_spawn_to_200_ms_median": round(statistics.median(spawn) * 1000, 1),
            "accepted_to_first_200_ms_median": round(statistics.median(push_to_healthy) * 1000, 1),
            "push_to_healthy_overhead_ms_median": round(
                (statistics.median(push_to_healthy) - statistics.median(spawn)) * 1000, 1
            ),
            "push_to_healthy_overhead_ms_p90": round(
                (sorted(push_to_healthy)[int(0.9 * (RUNS - 1))] - statistics.median(spawn)) * 1000, 1
            ),
            "transitions_fast_build": transitions["fast build"],
            "transitions_slow_build": transitions["slow build"],
            "slow_build_status": slow_done["status"],
        }
    finally:
        platform.stop()
    print(json.dumps(results, indent=2))
    (ROOT / "bench/results.json").write_text(json.dumps(results, indent=2) + "\n")
    ok = results["push_to_healthy_overhead_ms_median"] <= 150 and (  # type: ignore[operator]
        results["transitions_fast_build"] == results["transitions_slow_build"] <= 20  # type: ignore[operator]
    )
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


def platform_state_machine_arn() -> str:
    from chalicelib.config import Settings

    return Settings.from_env().state_machine_arn


if __name__ == "__main__":
    sys.exit(main())
