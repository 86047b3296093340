"""`python bench/cost.py`: what Railyard costs on AWS, from what the platform does, not from guesses.

Starts `railyard dev` (as bench/api_latency.py does) with the cost recorder loaded into it
(bench/cost_probe/: every botocore call, every API and worker invocation with its wall and CPU time
and log bytes), then drives it with the real CLI: `init`, a first `up` (builds), ROUNDS x an `up` of
the unchanged directory and a `redeploy` (prebuilt: no build minutes), then `status`, `logs`,
`deployments`, and a GET of the project and the project list. Step Functions' transitions and
service integrations come from the executions' histories; DynamoDB item sizes from a scan at the
end. bench/cost_model.py turns that into dollars at list prices.

Prints the figures, writes bench/cost.json and exits non-zero if a target is missed:
<= $5 per 1M API requests, <= $0.02 per deployment (no build minutes, no cluster).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

import cost_analysis as analysis  # noqa: E402
import cost_model as model  # noqa: E402
from dev_platform import aws_client, read_probe, start_platform, stop_platform  # noqa: E402

from chalicelib.catalogue import Catalogue  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_COST_ROUNDS", "3"))
QUIET_SECONDS = 1.0  # a phase ends when the platform made no billable call for this long
IDLE_THREADS = ("sweeper",)  # the local stand-in for AWS's sweep schedule, priced in the idle month
ASSUMED_MEMORY_MB = 512


def memory_sizes() -> tuple[dict[str, int], str]:
    """The Lambda memory sizes the stacks give the API and the workers, where they say it."""
    import re

    # The API stack passes Chalice its stage config (what the cloud deploys); .chalice/config.json
    # is what `chalice deploy` would use.
    api_stack = re.search(
        r"^API_MEMORY_MB\s*=\s*(\d+)", (BENCH.parent / "stacks" / "api.py").read_text(), re.M
    )
    config = json.loads((BENCH.parent / ".chalice" / "config.json").read_text())
    chalice_config = config.get("lambda_memory_size") or config.get("stages", {}).get("dev", {}).get(
        "lambda_memory_size"
    )
    api = api_stack.group(1) if api_stack else chalice_config
    stacks = " ".join(p.read_text() for p in (BENCH.parent / "stacks").glob("*.py"))
    worker = re.search(r"memory_size\s*=\s*(\d+)", stacks)
    sizes = {
        "api": int(api or ASSUMED_MEMORY_MB),
        "worker": int(worker.group(1)) if worker else ASSUMED_MEMORY_MB,
    }
    source = (
        "api: "
        + ("stacks/api.py" if api_stack else ".chalice/config.json" if api else "assumed")
        + "; workers: "
        + ("stacks/" if worker else "assumed")
    )
    return sizes, source


class Run:
    """The platform, the CLI against it, and the phases' time windows."""

    def __init__(self, home: Path, state: dict[str, Any]) -> None:
        self.home, self.state = home, state
        self.app = home / "app"
        shutil.copytree(BENCH / "app", self.app)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RAILYARD_", "BENCH_"))}
        self.env["RAILYARD_HOME"] = str(home)
        self.env.pop("PYTHONPATH", None)
        self.windows: list[tuple[str, float, float]] = []

    def cli(self, *args: str) -> None:
        railyard = str(Path(sys.executable).parent / "railyard")
        done = subprocess.run(
            [railyard, *args, "--dir", str(self.app)], env=self.env, capture_output=True, timeout=120
        )
        if done.returncode != 0:
            raise SystemExit(
                f"railyard {' '.join(args)} failed: {done.stdout.decode()}{done.stderr.decode()}"
            )

    def phase(self, name: str, *steps: tuple[str, ...]) -> None:
        started = time.time()
        for args in steps:
            self.cli(*args)
        self.wait_quiet()
        self.windows.append((name, started, time.time()))

    def wait_quiet(self, limit: float = 15.0) -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            time.sleep(QUIET_SECONDS)
            last = max((c["t"] for c in billable(read_probe(self.home / "probe")[0])), default=0.0)
            if time.time() - last >= QUIET_SECONDS:
                return

    def api_reads(self) -> None:
        token = json.loads((self.home / "config.json").read_text())["token"]
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        project = json.loads((self.app / ".railyard.json").read_text())["projectId"]
        started = time.time()
        for _ in range(5):
            session.get(f"{self.state['api_url']}/v1/projects/{project}", timeout=30).raise_for_status()
            session.get(f"{self.state['api_url']}/v1/projects", timeout=30).raise_for_status()
        self.wait_quiet()
        self.windows.append(("reads", started, time.time()))


def billable(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Leaves out the local pollers' empty receives (idle cost, modelled) and local-only threads."""
    return [
        c
        for c in calls
        if not (c["op"] == "ReceiveMessage" and not c.get("messages")) and c["thr"] not in IDLE_THREADS
    ]


def executions(state: dict[str, Any]) -> list[dict[str, Any]]:
    """Every deploy execution: start time, transitions, and its service integrations' requests."""
    sfn = aws_client(state, "stepfunctions")
    machine = sfn.list_state_machines()["stateMachines"][0]["stateMachineArn"]
    found = []
    for execution in sfn.list_executions(stateMachineArn=machine, maxResults=1000)["executions"]:
        events = sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)["events"]
        entries, sends = [], 0
        for event in events:
            details = event.get("taskScheduledEventDetails")
            if details and details["resourceType"] == "events":
                for entry in json.loads(details["parameters"]).get("Entries", []):
                    entries.append(
                        [entry.get("Source"), entry.get("DetailType"), len(json.dumps(entry.get("Detail")))]
                    )
            elif details and details["resourceType"] == "sqs":
                sends += 1
        found.append(
            {
                "t": execution["startDate"].timestamp(),
                "transitions": sum(1 for e in events if e["type"].endswith("StateEntered")),
                "sqs_sends": sends,
                "entries": entries,
            }
        )
    return found


def final_items(state: dict[str, Any]) -> tuple[dict[str, int], dict[str, int]]:
    """Each item's size at the end of the run, and how many global secondary indexes it is in."""
    sys.path.insert(0, str(BENCH / "cost_probe"))
    from cost_probe_recorder import item_size

    dynamodb = aws_client(state, "dynamodb")
    table = Catalogue("dev").table.name
    index_keys = [f"{index}pk" for index in Catalogue("dev").table.gsis]
    sizes: dict[str, int] = {}
    indexes: dict[str, int] = {}
    for page in dynamodb.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            key = json.dumps([table, {"pk": item["pk"], "sk": item["sk"]}], sort_keys=True)
            sizes[key] = item_size(item)
            # A deployment is in the sparse gsi2 while in progress (chalicelib/adapters/dynamo/):
            # every write but its last one touched that index too, though it has left it by now.
            in_progress_index = item["pk"]["S"].startswith("DEPLOYMENT#") and "gsi2pk" not in item
            indexes[key] = sum(name in item for name in index_keys) + in_progress_index
    return sizes, indexes


def measure() -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="railyard-bench-cost-"))
    dev, state = start_platform(home, probe=home / "probe")
    try:
        run = Run(home, state)
        run.phase("init", ("init", "--name", "app", "--project", "costbench"))
        run.phase("up-build", ("up",))
        for index in range(ROUNDS):
            run.phase(f"up-unchanged-{index}", ("up",))
            run.phase(f"redeploy-{index}", ("redeploy",))
        run.phase("queries", ("status",), ("logs",), ("deployments",))
        run.api_reads()
        history = executions(state)
        sizes, indexes = final_items(state)
    finally:
        stop_platform(dev)
    calls, invocations = read_probe(home / "probe")
    shutil.rmtree(home, ignore_errors=True)
    return {
        "windows": run.windows,
        "calls": calls,
        "invocations": invocations,
        "history": history,
        "sizes": sizes,
        "indexes": indexes,
    }


def report(raw: dict[str, Any]) -> dict[str, Any]:
    memory, memory_source = memory_sizes()
    accounts = analysis.Accounts(raw, memory)
    request = analysis.per_request(accounts)
    deployments = analysis.per_deployment(accounts, billable(raw["calls"]))
    # What the per-request figure would be at other API memory sizes (Chalice's default is 128 MB).
    sensitivity = {
        size: analysis.per_request(analysis.Accounts(raw, {**memory, "api": size}))["usd_per_million"]
        for size in (128, 256, 512, 1024, 1769)
    }
    request["usd_per_million_by_api_memory_mb"] = sensitivity
    prebuilt = max(deployments["up-unchanged"]["usd_median"], deployments["redeploy"]["usd_median"])
    return {
        "prices": {"as_of": model.PRICES_AS_OF, "region": model.REGION, "table": "bench/cost_model.py"},
        "lambda_memory_mb": memory,
        "lambda_memory_source": memory_source,
        "per_request": request,
        "per_deployment": deployments,
        "idle": analysis.idle_month(BENCH.parent),
        "targets": {
            "per_million_requests": {
                "target_usd": model.TARGET_PER_MILLION_REQUESTS,
                "measured_usd": request["usd_per_million"],
                "pass": request["usd_per_million"] <= model.TARGET_PER_MILLION_REQUESTS,
            },
            "per_prebuilt_deployment": {
                "target_usd": model.TARGET_PER_DEPLOYMENT,
                "measured_usd": prebuilt,
                "pass": prebuilt <= model.TARGET_PER_DEPLOYMENT,
            },
        },
    }


def show(results: dict[str, Any]) -> None:
    request = results["per_request"]
    print(f"Prices: {model.REGION} list prices as of {model.PRICES_AS_OF} (bench/cost_model.py)")
    print(f"Lambda memory: {results['lambda_memory_mb']} ({results['lambda_memory_source']})")
    print(f"\nPer API request: {request['requests']} requests of the CLI's mix")
    print(f"{'route':<48}{'n':>4}{'wall ms':>9}{'cpu ms':>8}{'billed':>8}{'RRU':>6}{'WRU':>6}{'$/1M':>8}")
    for name, route in request["routes"].items():
        print(
            f"{name:<48}{route['count']:>4}{route['wall_ms_p50']:>9}{route['cpu_ms_p50']:>8}{route['billed_ms']:>8}"
            f"{route['rru']:>6}{route['wru']:>6}{route['usd_per_million']:>8.2f}"
        )
    lines = ", ".join(
        f"{k} {v:.2f}" for k, v in sorted(request["usd_per_million_by_line"].items(), key=lambda kv: -kv[1])
    )
    print(f"mix: ${request['usd_per_million']:.2f} per 1M requests ({lines})")
    print(f"at other API memory sizes (MB: $/1M): {request['usd_per_million_by_api_memory_mb']}")
    print("\nPer deployment (median; with the CLI's own API requests while it follows, and without)")
    for kind in ("redeploy", "up-unchanged", "up-build"):
        d = results["per_deployment"][kind]
        print(
            f"  {kind:<14} ${d['usd_median']:.6f}  (workflow only ${d['usd_without_cli_median']:.6f};"
            f" transitions {d['transitions']}; CLI requests {d['cli_api_requests']})"
        )
    worker = results["per_deployment"]["deploy_worker"]
    print(
        f"  Deploy worker: {worker['wall_ms_p50_own']} ms of its own (+{worker['local_runtime_ms_p50']} ms"
        " starting the app locally, excluded);"
        f" each second of an EKS rollout wait: ${worker['usd_per_rollout_second']:.7f}"
    )
    idle = results["idle"]
    print(
        f"\nIdle stage: ${idle['usd_per_month']:.2f}/month ({idle['usd_by_line']});"
        f" storage ${idle['usd_per_gb_stored_month']:.2f}/GB-month"
    )
    for name, target in results["targets"].items():
        verdict = "PASS" if target["pass"] else "MISS"
        print(f"{verdict}  {name}: ${target['measured_usd']:.6f} <= ${target['target_usd']}")


def main() -> int:
    started = time.monotonic()
    results = report(measure())
    results["bench_seconds"] = round(time.monotonic() - started, 1)
    show(results)
    (BENCH / "cost.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0 if all(t["pass"] for t in results["targets"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
