"""The cost bench's recorder: runs inside `railyard dev` (loaded by this directory's sitecustomize.py
when BENCH_COST_PROBE_DIR is set) and writes what a bill is made of, one JSON line per fact:

- every AWS call the platform makes through botocore (service, operation, and the facts its price
  depends on: DynamoDB item sizes read and keys written, SQS messages received, EventBridge entries,
  S3 body bytes), tagged with the invocation it was made in, if any;
- every invocation of the API (Chalice's `app(event, context)`, what Lambda calls) and of a worker
  (the handler a local poller calls with Lambda's SQS event): wall time, the thread's CPU time, and
  the log bytes it would send to CloudWatch Logs (Powertools lines as formatted; other loggers only
  at WARNING and above, the Lambda Python runtime's default level).

The recorder patches classes after their modules are imported (an import hook), so the platform's
code runs unchanged. Its own work (writing lines, a DescribeTable per table for the key schema) is
subtracted from the invocation's wall time. Nothing here is used outside the bench.
"""

from __future__ import annotations

import importlib.abc
import itertools
import json
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_local = threading.local()
_lock = threading.Lock()
_ids = itertools.count(1)
_out: Any = None
_key_schemas: dict[str, list[str]] = {}


def item_size(item: dict[str, Any]) -> int:
    """DynamoDB's item size in bytes: attribute names plus values (the rules of the developer guide:
    strings/binary by length, numbers ~1 byte per 2 digits + 1, containers 3 bytes + 1 per element)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    (kind, data), *_ = value.items()
    if kind == "S":
        return len(str(data).encode())
    if kind == "N":
        return math.ceil(len(str(data).lstrip("-").replace(".", "")) / 2) + 1
    if kind == "B":
        return len(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in data)
    if kind == "NS":
        return sum(math.ceil(len(n.lstrip("-").replace(".", "")) / 2) + 1 for n in data)
    if kind == "BS":
        return sum(len(b) for b in data)
    if kind == "L":
        return 3 + sum(1 + _value_size(v) for v in data)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + _value_size(v) for k, v in data.items())
    return 0


def _write(record: dict[str, Any]) -> None:
    started = time.perf_counter()
    line = json.dumps(record, separators=(",", ":")) + "\n"
    with _lock:
        _out.write(line)
        _out.flush()
    _charge_overhead(time.perf_counter() - started)


def _charge_overhead(seconds: float) -> None:
    invocation = getattr(_local, "invocation", None)
    if invocation is not None:
        invocation["overhead"] += seconds


# botocore: every AWS call


def _key(client: Any, table: str, item: dict[str, Any]) -> str:
    names = _key_schemas.get(table)
    if names is None:
        started = time.perf_counter()
        _local.quiet = True  # the probe's own call is not the platform's
        try:
            schema = client.describe_table(TableName=table)["Table"]["KeySchema"]
        finally:
            _local.quiet = False
        names = _key_schemas[table] = [k["AttributeName"] for k in schema]
        _charge_overhead(time.perf_counter() - started)
    return json.dumps([table, {n: item.get(n) for n in names}], sort_keys=True)


def _dynamodb_facts(client: Any, op: str, params: dict[str, Any], resp: dict[str, Any]) -> dict[str, Any]:
    """Reads: the sizes of the items read; writes: the keys written (sizes are settled at the end)."""
    if op == "GetItem":
        items = [resp["Item"]] if "Item" in resp else []
        return {"sizes": [item_size(i) for i in items], "consistent": bool(params.get("ConsistentRead"))}
    if op in ("Query", "Scan"):
        return {
            "sizes": [item_size(i) for i in resp.get("Items", [])],
            "scanned": resp.get("ScannedCount", len(resp.get("Items", []))),
            "consistent": bool(params.get("ConsistentRead")) and "IndexName" not in params,
        }
    if op == "BatchGetItem":
        sizes = [item_size(i) for items in resp.get("Responses", {}).values() for i in items]
        return {"item_sizes": sizes, "consistent": False}
    if op == "TransactGetItems":
        return {"item_sizes": [item_size(r.get("Item", {})) for r in resp.get("Responses", [])], "tx": True}
    writes: list[dict[str, Any]] = []
    if op == "PutItem":
        writes.append(
            {"key": _key(client, params["TableName"], params["Item"]), "size": item_size(params["Item"])}
        )
    elif op in ("UpdateItem", "DeleteItem"):
        writes.append({"key": _key(client, params["TableName"], params["Key"]), "size": None})
    elif op == "TransactWriteItems":
        for entry in params["TransactItems"]:
            for kind, action in entry.items():
                item = action.get("Item") or action.get("Key") or {}
                size = item_size(item) if kind == "Put" else None
                writes.append({"key": _key(client, action["TableName"], item), "size": size, "tx": True})
    elif op == "BatchWriteItem":
        for table, requests in params["RequestItems"].items():
            for request in requests:
                put = request.get("PutRequest")
                item = put["Item"] if put else request["DeleteRequest"]["Key"]
                writes.append({"key": _key(client, table, item), "size": item_size(item) if put else None})
    return {"writes": writes} if writes else {}


def _facts(
    client: Any, service: str, op: str, params: dict[str, Any], resp: dict[str, Any]
) -> dict[str, Any]:
    if service == "dynamodb":
        return _dynamodb_facts(client, op, params, resp)
    if service == "sqs" and op == "ReceiveMessage":
        return {"messages": len(resp.get("Messages", []))}
    if service == "sqs" and op == "SendMessageBatch":
        return {"entries": len(params.get("Entries", []))}
    if service == "events" and op == "PutEvents":
        entries = params.get("Entries", [])
        return {
            "entries": [[e.get("Source"), e.get("DetailType"), len(e.get("Detail", ""))] for e in entries]
        }
    if service == "s3" and op == "PutObject":
        body = params.get("Body", b"")
        return {"bytes": len(body) if isinstance(body, (bytes, str)) else None}
    return {}


def _patch_botocore(module: Any) -> None:
    original = module.BaseClient._make_api_call

    def _make_api_call(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        if getattr(_local, "quiet", False):
            return original(self, operation_name, api_params)
        started = time.perf_counter()
        response: dict[str, Any] = {}
        error = ""
        try:
            response = original(self, operation_name, api_params)
            return response
        except Exception as exc:
            # An AWS error answer (a GET of a missing key: NoSuchKey) is billed like any request.
            error = str(getattr(exc, "response", {}).get("Error", {}).get("Code", "")) or type(exc).__name__
            raise
        finally:
            elapsed = time.perf_counter() - started
            service = self.meta.service_model.service_name
            invocation = getattr(_local, "invocation", None)
            if invocation is not None and getattr(_local, "in_runtime", False):
                invocation["aws_in_runtime"] += elapsed
            record = {
                "k": "call",
                "t": time.time(),
                "svc": service,
                "op": operation_name,
                "ok": bool(response),
                "err": error,
                "ms": round(elapsed * 1000, 2),
                "thr": threading.current_thread().name,
                "inv": invocation["id"] if invocation else None,
            }
            if response:
                record.update(_facts(self, service, operation_name, api_params, response))
            _write(record)

    module.BaseClient._make_api_call = _make_api_call


# invocations: the API and the workers


def _invoke(kind: str, name: str, call: Callable[[], Any]) -> Any:
    if getattr(_local, "invocation", None) is not None:  # nested: the outer one is the invocation
        return call()
    invocation = {
        "id": next(_ids),
        "overhead": 0.0,
        "log_bytes": 0,
        "log_events": 0,
        "runtime": 0.0,
        "runtime_cpu": 0.0,
        "aws_in_runtime": 0.0,
    }
    _local.invocation = invocation
    started, started_cpu, t0 = time.perf_counter(), time.thread_time(), time.time()
    result: Any = None
    try:
        result = call()
        return result
    finally:
        wall = time.perf_counter() - started - invocation["overhead"]
        cpu = time.thread_time() - started_cpu
        _local.invocation = None
        status = result.get("statusCode") if isinstance(result, dict) else None
        body = result.get("body") if isinstance(result, dict) else None
        _write(
            {
                "k": "inv",
                "t": t0,
                "id": invocation["id"],
                "kind": kind,
                "name": name,
                "status": status,
                "body_bytes": len(body.encode()) if isinstance(body, str) else 0,
                "wall_ms": round(wall * 1000, 3),
                "cpu_ms": round(cpu * 1000, 3),
                "log_bytes": invocation["log_bytes"],
                "log_events": invocation["log_events"],
                # In the local runtime's activate() but not in an AWS call: unpacking, starting the
                # app, waiting for its health check (on EKS: the rollout, the user's app's time).
                "runtime_ms": round((invocation["runtime"] - invocation["aws_in_runtime"]) * 1000, 3),
                "runtime_cpu_ms": round(invocation["runtime_cpu"] * 1000, 3),
            }
        )


def _patch_chalice(module: Any) -> None:
    original = module.Chalice.__call__

    def __call__(self: Any, event: dict[str, Any], context: Any) -> Any:
        request = event.get("requestContext", {})
        name = f"{request.get('httpMethod', event.get('httpMethod', '?'))} {request.get('resourcePath', '?')}"
        return _invoke("api", name, lambda: original(self, event, context))

    module.Chalice.__call__ = __call__


def _patch_pollers(module: Any) -> None:
    original = module.QueuePoller.__init__

    def __init__(
        self: Any, name: str, queue_url: str, queue_arn: str, handler: Any, *args: Any, **kw: Any
    ) -> None:
        function = name.rsplit("-worker-", 1)[0]

        def timed(event: dict[str, Any], context: Any) -> Any:
            return _invoke("worker", function, lambda: handler(event, context))

        original(self, name, queue_url, queue_arn, timed, *args, **kw)

    module.QueuePoller.__init__ = __init__


def _patch_local_runtime(module: Any) -> None:
    original = module.LocalRuntime.activate

    def activate(self: Any, *args: Any, **kw: Any) -> Any:
        invocation = getattr(_local, "invocation", None)
        if invocation is None or getattr(_local, "in_runtime", False):
            return original(self, *args, **kw)
        _local.in_runtime = True
        started, started_cpu = time.perf_counter(), time.thread_time()
        try:
            return original(self, *args, **kw)
        finally:
            _local.in_runtime = False
            invocation["runtime"] += time.perf_counter() - started
            invocation["runtime_cpu"] += time.thread_time() - started_cpu

    module.LocalRuntime.activate = activate


def _patch_logging() -> None:
    original = logging.Logger.handle

    def handle(self: logging.Logger, record: logging.LogRecord) -> None:
        invocation = getattr(_local, "invocation", None)
        if invocation is not None:
            size = _log_line_bytes(self, record)
            if size:
                invocation["log_bytes"] += size
                invocation["log_events"] += 1
        original(self, record)

    logging.Logger.handle = handle  # type: ignore[method-assign]


def _log_line_bytes(logger: logging.Logger, record: logging.LogRecord) -> int:
    for handler in logger.handlers:
        if type(handler.formatter).__name__ == "LambdaPowertoolsFormatter":
            return len(handler.format(record).encode()) + 1
    if record.levelno < logging.WARNING:
        return 0  # the Lambda Python runtime's root logger drops it
    # The runtime's line: "[LEVEL]\t<ISO time>\t<request id>\t<message>\n"
    return len(
        f"[{record.levelname}]\t2026-12-03T00:00:00.000Z\t{'0' * 36}\t{record.getMessage()}\n".encode()
    )


_PATCHES: dict[str, Callable[[Any], None]] = {
    "botocore.client": _patch_botocore,
    "chalice.app": _patch_chalice,
    "railyard.localdev.pollers": _patch_pollers,
    "chalicelib.adapters.runtime.local": _patch_local_runtime,
}


def _patch_on_exec(loader: Any, patch: Callable[[Any], None]) -> None:
    original_exec = loader.exec_module

    def exec_module(module: Any) -> None:
        original_exec(module)
        patch(module)

    loader.exec_module = exec_module


class _PatchAfterImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name not in _PATCHES:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None and spec.loader is not None:
                _patch_on_exec(spec.loader, _PATCHES[name])
                return spec
        return None


def install(directory: str) -> None:
    global _out
    if "railyard.localdev.emulator" in getattr(sys, "orig_argv", sys.argv):
        return  # the AWS emulator: its calls are moto's (Step Functions' are read from the history)
    Path(directory).mkdir(parents=True, exist_ok=True)
    _out = open(Path(directory) / f"{os.getpid()}.jsonl", "a", encoding="utf-8")  # noqa: SIM115
    _patch_logging()
    for name, patch in _PATCHES.items():
        if name in sys.modules:
            patch(sys.modules[name])
    sys.meta_path.insert(0, _PatchAfterImport())
