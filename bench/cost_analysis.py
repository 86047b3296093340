"""The cost bench's accounting: from what bench/cost.py recorded (calls, invocations, executions,
item sizes, phase windows) to usage per API request, per deployment and per idle month, priced by
bench/cost_model.py. No I/O: a function of the recorded run, so the unit test can feed it records.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import cost_model as model

from chalicelib.catalogue import Catalogue

Record = dict[str, Any]
EVENT_FAN_OUT_QUEUES = ("notifications", "metrics", "cleanup")  # consumers of Railyard's own events


def fan_out(entries: Iterable[list[Any]]) -> dict[str, float]:
    """SQS messages EventBridge sends for these entries, by queue: one per target queue of every
    matching rule on Railyard's bus (each send is an SQS request; the delivery itself is free)."""
    sent: dict[str, float] = defaultdict(float)
    rules = [r for r in Catalogue("dev").rules if r.event_bus is None]
    for source, detail_type, _ in entries:
        for rule in rules:
            pattern = rule.event_pattern
            if source in pattern.get("source", []) and detail_type in pattern.get(
                "detail-type", [detail_type]
            ):
                for queue in rule.target_queues:
                    sent[queue] += 1
    return sent


def call_usage(call: Record, sizes: dict[str, int], indexes: dict[str, int] | None = None) -> model.Usage:
    usage = model.call_usage(call, sizes, indexes)
    if call["svc"] == "events" and call["op"] == "PutEvents" and call.get("ok"):
        usage["sqs_request"] = usage.get("sqs_request", 0.0) + sum(fan_out(call["entries"]).values())
    return usage


class Accounts:
    """The recorded run, indexed: invocations, the calls made in each, and typical durations."""

    def __init__(self, raw: Record, memory: dict[str, int]) -> None:
        self.raw, self.memory, self.sizes = raw, memory, raw["sizes"]
        self.indexes: dict[str, int] = raw.get("indexes", {})
        self.invocations = raw["invocations"]
        self.calls_in: dict[int, list[Record]] = defaultdict(list)
        for call in raw["calls"]:
            if call["inv"] is not None:
                self.calls_in[call["inv"]].append(call)
        by_name: dict[str, list[Record]] = defaultdict(list)
        for inv in self.invocations:
            by_name[inv["name"]].append(inv)
        # Durations are the median per route or function (the first call, with its imports, is a
        # cold start: Lambda bills it as INIT once per container, not per request).
        self.typical: dict[str, tuple[float, float]] = {}
        for name, invs in by_name.items():
            warm = invs[1:] or invs
            self.typical[name] = (
                statistics.median(own_ms(i)[0] for i in warm),
                statistics.median(own_ms(i)[1] for i in warm),
            )

    def invocation(self, inv: Record) -> model.Usage:
        kind = "api" if inv["kind"] == "api" else "worker"
        wall, cpu = self.typical[inv["name"]]
        ms = model.billed_ms(wall, cpu, self.memory[kind])
        answer = inv.get("body_bytes", 0) if kind == "api" else None
        usage = model.invocation_usage(ms, self.memory[kind], inv["log_bytes"], inv["log_events"], answer)
        if kind == "api":
            usage["apigw_request"] = model.api_requests(answer or 0)
        for call in self.calls_in[inv["id"]]:
            model.add(usage, call_usage(call, self.sizes, self.indexes))
        return usage

    def billed_ms(self, name: str, kind: str) -> int:
        return model.billed_ms(*self.typical[name], self.memory[kind])


def own_ms(inv: Record) -> tuple[float, float]:
    """Wall and CPU ms of an invocation without the local runtime's part (starting the user's app)."""
    return (
        max(0.0, inv["wall_ms"] - inv.get("runtime_ms", 0.0)),
        max(0.0, inv["cpu_ms"] - inv.get("runtime_cpu_ms", 0.0)),
    )


def per_request(accounts: Accounts) -> Record:
    """Every API request of the run (the CLI's own mix) and each route on its own."""
    api = [i for i in accounts.invocations if i["kind"] == "api"]
    routes: dict[str, list[model.Usage]] = defaultdict(list)
    mix: model.Usage = {}
    for inv in api:
        usage = accounts.invocation(inv)
        routes[inv["name"]].append(usage)
        model.add(mix, usage, 1 / len(api))
    table = {}
    for name, usages in sorted(routes.items(), key=lambda kv: -len(kv[1])):
        mean: model.Usage = {}
        for usage in usages:
            model.add(mean, usage, 1 / len(usages))
        wall, cpu = accounts.typical[name]
        table[name] = {
            "count": len(usages),
            "wall_ms_p50": round(wall, 1),
            "cpu_ms_p50": round(cpu, 1),
            "billed_ms": accounts.billed_ms(name, "api"),
            "rru": round(mean.get("dynamodb_rru", 0.0), 2),
            "wru": round(mean.get("dynamodb_wru", 0.0), 2),
            "usd_per_million": round(model.total(mean) * 1e6, 2),
        }
    return {
        "requests": len(api),
        "usd_per_million": round(model.total(mix) * 1e6, 2),
        "usd_per_million_by_line": {k: round(v * 1e6, 3) for k, v in model.dollars(mix).items()},
        "routes": table,
    }


def in_window(records: Iterable[Record], start: float, end: float) -> list[Record]:
    return [r for r in records if start <= r["t"] <= end]


def deployment(accounts: Accounts, start: float, end: float, uploads: int, billable: list[Record]) -> Record:
    """Everything between a CLI command's start and the platform going quiet after it."""
    cli: model.Usage = {}
    workflow: model.Usage = {"s3_put": float(uploads)}  # the CLI's presigned upload is one PUT
    delivered: dict[str, float] = defaultdict(float)
    consumed: dict[str, int] = defaultdict(int)
    for inv in in_window(accounts.invocations, start, end):
        model.add(cli if inv["kind"] == "api" else workflow, accounts.invocation(inv))
        consumed[inv["name"]] += inv["kind"] == "worker"
    for call in in_window(billable, start, end):
        if call["inv"] is None:  # the event source mapping's receives and deletes, log flushes
            model.add(workflow, call_usage(call, accounts.sizes, accounts.indexes))
        if call["svc"] == "events" and call["op"] == "PutEvents" and call.get("ok"):
            for queue, n in fan_out(call["entries"]).items():
                delivered[queue] += n
    executions = in_window(accounts.raw["history"], start, end)
    for execution in executions:
        events = float(len(execution["entries"]))
        model.add(workflow, {"sfn_transition": execution["transitions"], "eventbridge_event": events})
        model.add(
            workflow, {"sqs_request": execution["sqs_sends"] + sum(fan_out(execution["entries"]).values())}
        )
        for queue, n in fan_out(execution["entries"]).items():
            delivered[queue] += n
    # A fan-out queue nobody consumes locally (none since ADR 0039) has a Lambda consumer in AWS: one
    # invocation per message, as long as the slowest measured event consumer, plus its receive and delete.
    measured = [accounts.billed_ms(q, "worker") for q in EVENT_FAN_OUT_QUEUES if q in accounts.typical]
    modelled = sum(max(0.0, delivered[q] - consumed[q]) for q in EVENT_FAN_OUT_QUEUES)
    if modelled and measured:
        model.add(workflow, model.invocation_usage(max(measured), accounts.memory["worker"], 0, 0), modelled)
        model.add(workflow, {"sqs_request": 2.0}, modelled)
    both = model.add(dict(workflow), cli)
    return {
        "transitions": sum(e["transitions"] for e in executions),
        "cli_api_requests": sum(1 for i in in_window(accounts.invocations, start, end) if i["kind"] == "api"),
        "modelled_consumer_invocations": modelled,
        "usage": {k: round(v, 9) for k, v in both.items()},
        "usd_without_cli": model.total(workflow),
        "usd": model.total(both),
    }


def per_deployment(accounts: Accounts, billable: list[Record]) -> Record:
    kinds: dict[str, list[Record]] = defaultdict(list)
    for name, start, end in accounts.raw["windows"]:
        kind = name.rsplit("-", 1)[0] if name[-1].isdigit() else name
        if kind in ("up-unchanged", "redeploy", "up-build"):
            kinds[kind].append(deployment(accounts, start, end, int(kind.startswith("up")), billable))
    summary = {}
    for kind, runs in kinds.items():
        summary[kind] = {
            "runs": len(runs),
            "usd_median": round(statistics.median(r["usd"] for r in runs), 6),
            "usd_without_cli_median": round(statistics.median(r["usd_without_cli"] for r in runs), 6),
            "transitions": [r["transitions"] for r in runs],
            "cli_api_requests": [r["cli_api_requests"] for r in runs],
            "first_run": runs[0],
        }
    deploy_ms = [own_ms(i) for i in accounts.invocations if i["name"] == "deploy"]
    summary["deploy_worker"] = {
        "wall_ms_p50_own": round(statistics.median(w for w, _ in deploy_ms), 1),
        "local_runtime_ms_p50": round(
            statistics.median(i["runtime_ms"] for i in accounts.invocations if i["name"] == "deploy"), 1
        ),
        # On EKS the Deploy step waits for the rollout: what each second of that wait costs.
        "usd_per_rollout_second": model.total({"lambda_gb_second": accounts.memory["worker"] / 1024}),
    }
    return summary


# A scheduled sweep's run with nothing to do (functions/sweep.py; median of 20 warm runs against moto
# and the test Kubernetes API server: 22 ms wall, 14 ms CPU), and what it logs: Lambda's
# START/END/REPORT lines and one Powertools line.
SCHEDULED_IDLE_RUN_MS = 22
SCHEDULED_IDLE_LOG_BYTES = 264 + 260


def idle_month(root: Path) -> Record:
    """A stage with no traffic: event source mappings polling every queue, alarms, the dashboard."""
    catalogue = Catalogue("dev")
    # The API, each queue's consumer and each schedule's function.
    functions = 1 + len(catalogue.consumers) + len(catalogue.schedules)
    # What stacks/events.py and stacks/observability.py declare per region: one per DLQ, failed and
    # timed-out executions per state machine, API 5xx, errors and throttles per function.
    alarms = len(catalogue.queues) + 2 * len(catalogue.state_machines) + 1 + 2 * functions
    usage = model.idle_usage(len(catalogue.queues), alarms, dashboards=1, kms_keys=0, stored_gb=0.0)
    for schedule in catalogue.schedules:  # they run with no traffic too
        runs = model.SECONDS_PER_MONTH / (schedule.rate_minutes * 60)
        usage["lambda_request"] = usage.get("lambda_request", 0.0) + runs
        gb_seconds = runs * SCHEDULED_IDLE_RUN_MS / 1000 * schedule.memory / 1024
        usage["lambda_gb_second"] = usage.get("lambda_gb_second", 0.0) + gb_seconds
        usage["dynamodb_rru"] = usage.get("dynamodb_rru", 0.0) + runs  # one query of an empty index
        usage["logs_gb"] = usage.get("logs_gb", 0.0) + runs * SCHEDULED_IDLE_LOG_BYTES / 1e9
    return {
        "queues_polled": len(catalogue.queues),
        "alarms": alarms,
        "functions": functions,
        "usd_by_line": {k: round(v, 2) for k, v in model.dollars(usage).items()},
        "usd_per_month": round(model.total(usage), 2),
        "usd_per_gb_stored_month": model.PRICES["dynamodb_storage_gb_month"].usd
        + model.PRICES["dynamodb_pitr_gb_month"].usd,
    }
