"""The cost model's one price table and its arithmetic (no I/O): how measured calls, item sizes,
durations and log bytes become dollars. bench/cost.py measures; docs/cost.md quotes this table.

Prices are AWS list prices for us-east-1 as of PRICES_AS_OF, without the free tier and without
volume discounts (the first tier of each price). Check them at PRICE_PAGES before relying on them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

PRICES_AS_OF = "2026-12"
REGION = "us-east-1"


@dataclass(frozen=True)
class Price:
    usd: float  # per one `unit`
    unit: str
    what: str


PRICES: dict[str, Price] = {
    "apigw_request": Price(
        1.00e-6, "request (512 KB increment)", "API Gateway HTTP API, first 300 M requests/month"
    ),
    "lambda_request": Price(0.20e-6, "invocation", "Lambda requests"),
    "lambda_gb_second": Price(0.0000166667, "GB-second", "Lambda duration, x86_64, first 6 B GB-s/month"),
    "dynamodb_rru": Price(0.125e-6, "read request unit", "DynamoDB on-demand reads"),
    "dynamodb_wru": Price(0.625e-6, "write request unit", "DynamoDB on-demand writes"),
    "sfn_transition": Price(0.025e-3, "state transition", "Step Functions standard workflows"),
    "sqs_request": Price(0.40e-6, "request (64 KB chunk)", "SQS standard queue requests"),
    "eventbridge_event": Price(1.00e-6, "event (64 KB chunk)", "EventBridge custom events published"),
    "s3_put": Price(0.005e-3, "request", "S3 Standard PUT, COPY, POST, LIST"),
    "s3_get": Price(0.0004e-3, "request", "S3 Standard GET, HEAD and other reads"),
    "logs_gb": Price(0.50, "GB ingested", "CloudWatch Logs standard ingestion"),
    "kms_request": Price(0.03e-4, "request", "KMS API requests (symmetric)"),
    "data_out_gb": Price(0.09, "GB", "Data transfer out to the internet, first 10 TB/month (API answers)"),
    # Monthly, what a stage costs with no traffic at all.
    "alarm_month": Price(0.10, "alarm-month", "CloudWatch standard-resolution metric alarm"),
    "dashboard_month": Price(3.00, "dashboard-month", "CloudWatch dashboard (beyond 3 free ones)"),
    "kms_key_month": Price(1.00, "key-month", "KMS customer managed key"),
    "dynamodb_storage_gb_month": Price(0.25, "GB-month", "DynamoDB standard table storage"),
    "dynamodb_pitr_gb_month": Price(0.20, "GB-month", "DynamoDB point-in-time recovery"),
    "s3_storage_gb_month": Price(0.023, "GB-month", "S3 Standard storage, first 50 TB"),
}
PRICE_PAGES = (
    "https://aws.amazon.com/api-gateway/pricing/",
    "https://aws.amazon.com/lambda/pricing/",
    "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    "https://aws.amazon.com/step-functions/pricing/",
    "https://aws.amazon.com/sqs/pricing/",
    "https://aws.amazon.com/eventbridge/pricing/",
    "https://aws.amazon.com/s3/pricing/",
    "https://aws.amazon.com/cloudwatch/pricing/",
    "https://aws.amazon.com/kms/pricing/",
    "https://aws.amazon.com/ec2/pricing/on-demand/#Data_Transfer",
)

TARGET_PER_MILLION_REQUESTS = 5.00
TARGET_PER_DEPLOYMENT = 0.02

FULL_VCPU_MB = 1769  # Lambda gives one full vCPU at 1,769 MB; below that, CPU time stretches
HTTP_API_METERING_BYTES = 512 * 1024  # an HTTP API request is billed per started 512 KB
RESPONSE_HEADER_BYTES = 250  # status line and headers of an API answer (assumed; bodies are measured)
LOG_EVENT_OVERHEAD_BYTES = 26  # CloudWatch Logs' per-event overhead, counted as a margin
# What the Lambda runtime itself writes per invocation (text log format), bytes as they would be.
_REQUEST_ID = "0" * 36
LAMBDA_PLATFORM_LINES = (
    f"START RequestId: {_REQUEST_ID} Version: $LATEST\n",
    f"END RequestId: {_REQUEST_ID}\n",
    f"REPORT RequestId: {_REQUEST_ID}\tDuration: 12.34 ms\tBilled Duration: 13 ms\t"
    "Memory Size: 512 MB\tMax Memory Used: 98 MB\t\n",
)
S3_PUT_TIER = frozenset(
    {
        "PutObject",
        "CopyObject",
        "ListObjects",
        "ListObjectsV2",
        "CreateMultipartUpload",
        "UploadPart",
        "CompleteMultipartUpload",
        "ListObjectVersions",
    }
)
# S3 bills a request that got an error answer too; a GET or HEAD of a missing key is a GET.
S3_BILLED_ERRORS = frozenset({"NoSuchKey", "404", "NotFound"})
S3_FREE = frozenset({"DeleteObject", "DeleteObjects", "AbortMultipartUpload"})
# Calls that cost nothing by themselves (Step Functions bills transitions, not API calls).
FREE_SERVICES = frozenset({"stepfunctions", "sts"})
ESM_POLLERS = 5  # Lambda polls an idle standard queue with five concurrent long polls
LONG_POLL_SECONDS = 20
SECONDS_PER_MONTH = 30 * 24 * 3600

Usage = dict[str, float]


def add(total: Usage, more: Mapping[str, float], times: float = 1.0) -> Usage:
    for key, value in more.items():
        total[key] = total.get(key, 0.0) + value * times
    return total


def dollars(usage: Mapping[str, float]) -> dict[str, float]:
    """Cost of each line of `usage` (keys are PRICES keys)."""
    return {key: amount * PRICES[key].usd for key, amount in usage.items()}


def total(usage: Mapping[str, float]) -> float:
    return sum(dollars(usage).values())


# DynamoDB request units (on-demand): reads per 4 KB, writes per 1 KB, transactions double.


def read_units(op: str, facts: Mapping[str, Any]) -> float:
    factor = 1.0 if facts.get("consistent") else 0.5
    if op == "GetItem":
        return max(1, math.ceil(sum(facts.get("sizes", [])) / 4096)) * factor
    if op in ("Query", "Scan"):
        sizes = facts.get("sizes", [])
        unseen = max(0, facts.get("scanned", len(sizes)) - len(sizes))  # filtered out, still read
        read = sum(sizes) + unseen * (sum(sizes) / len(sizes) if sizes else 1024)
        return max(1, math.ceil(read / 4096)) * factor
    if op == "BatchGetItem":
        return sum(max(1, math.ceil(s / 4096)) * 0.5 for s in facts.get("item_sizes", []))
    if op == "TransactGetItems":
        return sum(max(1, math.ceil(s / 4096)) * 2 for s in facts.get("item_sizes", []))
    return 0.0


def write_units(
    writes: Iterable[Mapping[str, Any]],
    final_sizes: Mapping[str, int],
    indexes: Mapping[str, int] | None = None,
) -> float:
    """Each write is billed on the larger of the item before and after; the item's size at the end of
    the run stands in for both (items here only grow), else the written item, else 1 KB. A
    transaction doubles the table's write; each global secondary index the item is in (ALL
    projection) costs one more write of its size."""
    units = 0.0
    for write in writes:
        size = max(write.get("size") or 0, final_sizes.get(write["key"], 0)) or 1024
        copies = (2 if write.get("tx") else 1) + (indexes or {}).get(write["key"], 0)
        units += max(1, math.ceil(size / 1024)) * copies
    return units


def call_usage(
    call: Mapping[str, Any], final_sizes: Mapping[str, int], indexes: Mapping[str, int] | None = None
) -> Usage:
    """What one recorded AWS call is billed as (the call's record from the recorder)."""
    service, op = call["svc"], call["op"]
    if service == "s3" and call.get("err") in S3_BILLED_ERRORS:
        return {"s3_put" if op in S3_PUT_TIER else "s3_get": 1.0}
    if not call.get("ok") or service in FREE_SERVICES:
        return {}
    if service == "dynamodb":
        if "writes" in call:
            return {"dynamodb_wru": write_units(call["writes"], final_sizes, indexes)}
        return {"dynamodb_rru": read_units(op, call)}
    if service == "sqs":
        return {"sqs_request": 1.0}
    if service == "events" and op == "PutEvents":
        return {"eventbridge_event": float(sum(max(1, math.ceil(e[2] / 65536)) for e in call["entries"]))}
    if service == "s3":
        if op in S3_FREE:
            return {}
        return {"s3_put" if op in S3_PUT_TIER else "s3_get": 1.0}
    if service == "kms":
        return {"kms_request": 1.0}
    return {f"unpriced:{service}:{op}": 1.0}


# Lambda


def billed_ms(wall_ms: float, cpu_ms: float, memory_mb: int) -> int:
    """Duration at `memory_mb`: waiting stays as measured, CPU time stretches below one vCPU."""
    waiting = max(0.0, wall_ms - cpu_ms)
    return max(1, math.ceil(waiting + cpu_ms * max(1.0, FULL_VCPU_MB / memory_mb)))


def invocation_usage(
    ms: int, memory_mb: int, app_log_bytes: int, app_log_events: int, answer_bytes: int | None = None
) -> Usage:
    platform = sum(len(line) for line in LAMBDA_PLATFORM_LINES)
    events = len(LAMBDA_PLATFORM_LINES) + app_log_events
    log_bytes = platform + app_log_bytes + events * LOG_EVENT_OVERHEAD_BYTES
    usage = {
        "lambda_request": 1.0,
        "lambda_gb_second": ms / 1000 * memory_mb / 1024,
        "logs_gb": log_bytes / 1e9,
    }
    if answer_bytes is not None:  # an API answer leaves AWS
        usage["data_out_gb"] = (answer_bytes + RESPONSE_HEADER_BYTES) / 1e9
    return usage


def api_requests(answer_bytes: int) -> float:
    """Billed HTTP API requests for one request: per started 512 KB. The answer is the larger side
    here (requests are small JSON; sources go to S3 by presigned URL), so it sets the count."""
    return float(max(1, math.ceil((answer_bytes + RESPONSE_HEADER_BYTES) / HTTP_API_METERING_BYTES)))


# Idle: a stage with no traffic, per 30-day month


def idle_usage(queues_polled: int, alarms: int, dashboards: int, kms_keys: int, stored_gb: float) -> Usage:
    polls = queues_polled * ESM_POLLERS * SECONDS_PER_MONTH / LONG_POLL_SECONDS
    return {
        "sqs_request": polls,
        "alarm_month": float(alarms),
        "dashboard_month": float(dashboards),
        "kms_key_month": float(kms_keys),
        "dynamodb_storage_gb_month": stored_gb,
        "dynamodb_pitr_gb_month": stored_gb,
    }
