"""`make bench`: the AWS calls each kind of API request makes, authorization included (issue 10
part 11: "get one item = 1 DynamoDB read, a list = 1 Query").

Counted on the server side, in the API that `railyard dev` serves: the platform runs with the cost
recorder loaded (bench/cost_probe/: its botocore hook on `BaseClient._make_api_call` writes every
AWS call with its thread and time), and a call belongs to a request when it was made on one of the
API server's connection threads (http.server names them after `process_request_thread`) between
the moment the request was sent and the moment its answer arrived. The requests go one at a time
over one kept-alive connection, so nothing else runs on those threads meanwhile; the workers' and
pollers' calls are on their own threads. The authorizer runs in that same thread (chalice.local's
gateway), so its calls are counted too; it reads the caller's token once per
TOKEN_CACHE_SECONDS per container, so each measured request is preceded by an unmeasured
`GET /v1/projects` (what a Lambda container warm within the window sees), and the very first
request after the start is reported on its own.

Targets (enforced: exit 1 on a miss): a get-one request makes at most one DynamoDB read, a list
makes at most one, a Query; creating a deployment from a source (what `railyard up` sends) makes the
issue's "1 transaction + 1 StartExecution": one TransactWriteItems (the deployment, its audit entry
and a check that the service exists) and one StartExecution, and nothing else, the authorization
included (the service's id says where it lives: docs/decisions/0034). Other writes are reported
against the same target without failing the bench. Prints a table and writes bench/api_calls.json.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import requests
from dev_platform import forget_platform, read_probe, start_platform, stop_platform
from run import APP, pack

BENCH = Path(__file__).resolve().parent
API_THREAD = "process_request_thread"
READS = ("GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems")
WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")
TARGETS = {
    "get one": "<= 1 DynamoDB read",
    "list": "<= 1 DynamoDB read, a Query",
    "create": "1 TransactWriteItems + 1 StartExecution, nothing else",
}
CREATE_CALLS = ["dynamodb.TransactWriteItems", "stepfunctions.StartExecution"]  # and no read


class Bench:
    """The client: one kept-alive session; `measure` records what one request cost the API."""

    def __init__(self, api_url: str, token: str, probe: Path) -> None:
        self.url, self.probe = api_url, probe
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.rows: list[dict[str, Any]] = []

    def call(self, method: str, path: str, body: Any = None, key: bool = False) -> dict[str, Any]:
        headers = {"Idempotency-Key": str(uuid.uuid4())} if key else {}
        response = self.session.request(method, self.url + path, json=body, headers=headers, timeout=60)
        if response.status_code >= 300:
            raise SystemExit(f"{method} {path}: {response.status_code} {response.text}")
        return response.json()  # type: ignore[no-any-return]

    def measure(
        self,
        kind: str,
        label: str,
        method: str,
        route: str,
        item: str = "",
        body: Any = None,
        key: bool = False,
    ) -> dict[str, Any]:
        """`route` with `{id}` replaced by `item`; "first" is measured as it comes, any other kind
        after an unmeasured request that caches the token (as in a warm container)."""
        if kind != "first":
            self.call("GET", "/v1/projects")
        started = time.time()
        answer = self.call(method, route.replace("{id}", item), body, key)
        ended = time.time()
        calls = [
            f"{c['svc']}.{c['op']}"
            for c in sorted(read_probe(self.probe)[0], key=lambda c: c["t"])
            if API_THREAD in c["thr"] and started <= c["t"] <= ended
        ]
        row = {"kind": kind, "request": label, "route": f"{method} {route}", "calls": calls}
        self.rows.append(verdict(row))
        return answer

    def upload(self, service_id: str, tarball: bytes) -> str:
        upload = self.call("POST", f"/v1/services/{service_id}/uploads")
        files = {"file": ("source.tar.gz", tarball)}  # a presigned POST: the fields, then the file
        sent = requests.post(upload["uploadUrl"], data=upload["uploadFields"], files=files, timeout=60)
        sent.raise_for_status()
        return str(upload["sourceKey"])

    def wait(self, deployment_id: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.call("GET", f"/v1/deployments/{deployment_id}")["deployment"]["status"]
            if status not in ("QUEUED", "BUILDING", "DEPLOYING"):
                if status != "SUCCESS":
                    raise SystemExit(f"deployment {deployment_id} ended {status}")
                return
            time.sleep(0.1)
        raise SystemExit(f"deployment {deployment_id} did not end within {timeout} s")


def verdict(row: dict[str, Any]) -> dict[str, Any]:
    """Counts the row's calls and judges it against its kind's target, if it has one."""
    ops = [call.split(".", 1) for call in row["calls"]]
    reads = [op for svc, op in ops if svc == "dynamodb" and op in READS]
    row["dynamodb_reads"] = len(reads)
    row["dynamodb_writes"] = sum(1 for svc, op in ops if svc == "dynamodb" and op in WRITES)
    row["target"] = TARGETS.get(row["kind"])
    if row["kind"] == "get one":
        row["pass"] = len(reads) == 1  # none at all: the probe saw nothing, which is no pass either
    elif row["kind"] == "list":
        row["pass"] = reads == ["Query"]
    elif row["kind"] == "create":
        row["pass"] = row["calls"] == CREATE_CALLS
    else:
        row["pass"] = None
    return row


def scenario(bench: Bench) -> None:
    bench.measure("first", "projects, first request (token read)", "GET", "/v1/projects")
    project = bench.call("POST", "/v1/projects", {"name": "calls"})
    project_id, env_id = project["project"]["id"], project["environments"][0]["id"]
    body = {"name": "app", "settings": {"drainingSeconds": 0}}
    service_id = bench.call("POST", f"/v1/environments/{env_id}/services", body)["service"]["id"]
    tarball = pack(APP)
    source = {"sourceKey": bench.upload(service_id, tarball)}
    deployment_id = bench.call("POST", f"/v1/services/{service_id}/deployments", source)["deployment"]["id"]
    bench.wait(deployment_id)  # a live release, for the redeploys and the variables' deployment

    bench.measure("get one", "one service", "GET", "/v1/services/{id}", service_id)
    bench.measure("get one", "one deployment", "GET", "/v1/deployments/{id}", deployment_id)
    bench.measure("list", "projects", "GET", "/v1/projects")
    bench.measure("list", "services of an environment", "GET", "/v1/environments/{id}/services", env_id)
    bench.measure("list", "deployments of a service", "GET", "/v1/services/{id}/deployments", service_id)
    bench.measure("info", "one project and its environments", "GET", "/v1/projects/{id}", project_id)
    deployments, variables = "/v1/services/{id}/deployments", "/v1/services/{id}/variables"
    for key in (False, True):  # the CLI sends an Idempotency-Key with every write (railyard/client.py)
        how = " (Idempotency-Key)" if key else ""
        redeploy = {"redeploy": True}
        answer = bench.measure("write", "redeploy" + how, "POST", deployments, service_id, redeploy, key)
        bench.wait(answer["deployment"]["id"])
        source = {"sourceKey": bench.upload(service_id, tarball)}
        kind = "write" if key else "create"  # with a key, Powertools' record adds its own writes
        answer = bench.measure(kind, "deploy a source" + how, "POST", deployments, service_id, source, key)
        bench.wait(answer["deployment"]["id"])
        change = {"set": {"BENCH_ROUND": str(int(key))}}
        answer = bench.measure("write", "set a variable" + how, "PATCH", variables, service_id, change, key)
        bench.wait(answer["deployment"]["id"])  # a live service gets one deployment of the change


def compact(calls: list[str]) -> str:
    counts = Counter(calls)
    seen = list(dict.fromkeys(calls))
    return ", ".join(c.split(".", 1)[1] + (f" x{counts[c]}" if counts[c] > 1 else "") for c in seen) or "none"


def show(rows: list[dict[str, Any]]) -> None:
    print(f"{'kind':<8} {'request':<38} {'reads':>5} {'writes':>6}  {'verdict':<7} calls, in order")
    for row in rows:
        verdict = {True: "PASS", False: "FAIL", None: ""}[row["pass"]]
        print(
            f"{row['kind']:<8} {row['request']:<38} {row['dynamodb_reads']:>5} {row['dynamodb_writes']:>6}"
            f"  {verdict:<7} {compact(row['calls'])}"
        )
    for kind, target in TARGETS.items():
        print(f"target, {kind}: {target} (authorization included)")
    print("other writes: reported against issue 10's 1 transaction + 1 StartExecution; not enforced")


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="railyard-bench-calls-"))
    dev, state = start_platform(home, probe=home / "probe")
    try:
        token = json.loads((home / "config.json").read_text())["token"]
        bench = Bench(state["api_url"], token, home / "probe")
        scenario(bench)
    finally:
        stop_platform(dev)
    show(bench.rows)
    (BENCH / "api_calls.json").write_text(json.dumps({"requests": bench.rows}, indent=2) + "\n")
    forget_platform(home)
    shutil.rmtree(home, ignore_errors=True)  # kept when a step above failed: its logs say why
    return 0 if all(row["pass"] is not False for row in bench.rows) else 1


if __name__ == "__main__":
    sys.exit(main())
