"""The benches' one way to run `railyard dev` and to talk to its embedded AWS.

`start_platform` runs `railyard dev` on free ports with its own RAILYARD_HOME (this tree's code
first on its PYTHONPATH) and returns its state (dev.json: api_url, router_port, moto_port,
dynamodb_url, data_dir). The embedded AWS answers only requests signed with the data directory's
own random credentials (railyard/localdev/emulator_auth.py), so a bench reads the platform's
Step Functions or DynamoDB through `aws_client`, never with made-up keys. With `probe` set, the
cost recorder (bench/cost_probe/) is loaded into the platform and writes every AWS call it makes,
with its thread and time, under that directory; `read_probe` reads it back.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT) not in sys.path:  # `python bench/x.py` puts bench/ on the path, not the repository
    sys.path.insert(0, str(ROOT))
PROBE = BENCH / "cost_probe"
START_SECONDS = 90


def start_platform(home: Path, probe: Path | None = None) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """`railyard dev` on RAILYARD_HOME=home; returns once it wrote dev.json. Output: home/dev.out."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RAILYARD_", "BENCH_"))}
    env["RAILYARD_HOME"] = str(home)
    paths = [str(PROBE)] if probe else []
    env["PYTHONPATH"] = os.pathsep.join([*paths, str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    if probe:
        env["BENCH_COST_PROBE_DIR"] = str(probe)  # read by bench/cost_probe/sitecustomize.py
    railyard = str(Path(sys.executable).parent / "railyard")
    with open(home / "dev.out", "wb") as out:
        dev = subprocess.Popen(
            [railyard, "dev", "--api-port", "0", "--router-port", "0"], env=env, stdout=out, stderr=out
        )
    deadline = time.monotonic() + START_SECONDS
    while not (home / "dev.json").exists():
        if dev.poll() is not None or time.monotonic() > deadline:
            dev.kill()
            dev.wait()
            raise SystemExit(f"railyard dev did not start; see {home / 'dev.out'}")
        time.sleep(0.1)
    return dev, json.loads((home / "dev.json").read_text())


def stop_platform(dev: subprocess.Popen[bytes]) -> None:
    """SIGTERM, as Ctrl-C would; SIGKILL if it has not stopped within 30 s."""
    dev.send_signal(signal.SIGTERM)
    try:
        dev.wait(timeout=30)
    except subprocess.TimeoutExpired:
        dev.kill()
        dev.wait()


def forget_platform(home: Path) -> None:
    """What a stopped bench platform leaves outside its home: the toolchain store, which outlives
    clean stops by design (chalicelib/adapters/builds/toolchain_store.py). Call before removing home."""
    from chalicelib.adapters.builds import toolchain_store

    toolchain_store.remove_store((home / "data").resolve())


def aws_client(state: dict[str, Any], service: str) -> Any:
    """A boto3 client of the running platform's AWS, signed with its data directory's credentials
    (the only ones the emulator answers). DynamoDB goes where the platform's table is served."""
    import boto3

    from railyard.localdev.emulator_auth import ensure_credentials

    key_id, secret = ensure_credentials(Path(state["data_dir"]) / "aws")
    endpoint = state.get("dynamodb_url") if service == "dynamodb" else None
    # A session per client: boto3's default session must not create clients from several threads.
    return boto3.session.Session().client(
        service,  # type: ignore[call-overload]
        endpoint_url=endpoint or state.get("aws_endpoint_url") or f"http://127.0.0.1:{state['moto_port']}",
        region_name="us-east-1",  # the region `railyard dev` uses
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
    )


def read_probe(directory: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The cost recorder's records so far: (AWS calls, invocations)."""
    calls: list[dict[str, Any]] = []
    invocations: list[dict[str, Any]] = []
    for path in directory.glob("*.jsonl"):
        for line in path.read_text().splitlines():
            if line.endswith("}"):  # a line being written is not one yet
                record = json.loads(line)
                (calls if record["k"] == "call" else invocations).append(record)
    return calls, invocations
