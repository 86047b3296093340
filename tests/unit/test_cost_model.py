"""The cost bench's arithmetic (bench/cost_model.py, bench/cost_analysis.py, the recorder's item size):
the billing rules that turn measured calls into dollars. Pure functions, no platform, milliseconds."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _bench_module(name: str, directory: Path = BENCH) -> ModuleType:
    sys.path.insert(0, str(directory))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(directory))


model = _bench_module("cost_model")
analysis = _bench_module("cost_analysis")
recorder = _bench_module("cost_probe_recorder", BENCH / "cost_probe")


def test_item_size_follows_dynamodb_rules() -> None:
    # name bytes + value bytes; a number is ~1 byte per 2 significant digits + 1
    assert recorder.item_size({"pk": {"S": "PROJECT#1"}}) == 2 + 9
    assert recorder.item_size({"n": {"N": "12345"}}) == 1 + 4
    assert recorder.item_size({"m": {"M": {"a": {"BOOL": True}}}}) == 1 + 3 + 1 + 1 + 1


@pytest.mark.parametrize(
    ("op", "facts", "units"),
    [
        ("GetItem", {"sizes": [5000], "consistent": True}, 2.0),  # per 4 KB, rounded up
        ("GetItem", {"sizes": [5000], "consistent": False}, 1.0),  # eventual: half
        ("GetItem", {"sizes": [], "consistent": True}, 1.0),  # a miss still costs a unit
        ("Query", {"sizes": [1000, 1000], "scanned": 6, "consistent": False}, 1.0),  # 6 KB read
        ("Query", {"sizes": [3000, 3000], "scanned": 2, "consistent": True}, 2.0),  # summed, then rounded
        ("TransactGetItems", {"item_sizes": [100, 100]}, 4.0),  # transactions double
    ],
)
def test_read_units(op: str, facts: dict[str, object], units: float) -> None:
    assert model.read_units(op, facts) == units


def test_write_units_bill_the_larger_item_and_double_transactions() -> None:
    sizes = {"grown": 2500}
    writes = [
        {"key": "grown", "size": 300},  # written small, 2.5 KB by the end: 3 units
        {"key": "new", "size": 200, "tx": True},  # 1 unit, doubled in a transaction
        {"key": "gone", "size": None},  # deleted, size unknown: 1 KB
    ]
    assert model.write_units(writes, sizes) == 3 + 2 + 1


def test_cpu_time_stretches_below_one_vcpu_and_waiting_does_not() -> None:
    assert model.billed_ms(wall_ms=20.0, cpu_ms=0.0, memory_mb=128) == 20
    assert model.billed_ms(wall_ms=20.0, cpu_ms=10.0, memory_mb=1769) == 20
    assert model.billed_ms(wall_ms=20.0, cpu_ms=10.0, memory_mb=512) == 10 + 35  # 10 x 1769/512


def test_a_million_bare_requests_cost_the_gateway_and_lambda_prices() -> None:
    usage = model.add({"apigw_request": 1.0}, model.invocation_usage(1, 1024, 0, 0))
    per_million = model.total(usage) * 1e6
    # 1 ms at 1 GB; logs: the START/END/REPORT lines (~265 B) + 26 B per event, at $0.50/GB
    assert per_million == pytest.approx(1.00 + 0.20 + 0.0167 + 0.17, abs=0.01)


def test_s3_list_is_billed_as_a_put_and_delete_is_free() -> None:
    def call(op: str) -> dict[str, object]:
        return {"svc": "s3", "op": op, "ok": True, "inv": None}

    assert model.call_usage(call("ListObjectsV2"), {}) == {"s3_put": 1.0}
    assert model.call_usage(call("GetObject"), {}) == {"s3_get": 1.0}
    assert model.call_usage(call("DeleteObject"), {}) == {}


def test_s3_get_of_a_missing_key_is_billed_as_a_get_and_an_unanswered_call_is_free() -> None:
    missing = {"svc": "s3", "op": "GetObject", "ok": False, "err": "NoSuchKey", "inv": None}
    unanswered = {"svc": "s3", "op": "GetObject", "ok": False, "err": "EndpointConnectionError", "inv": None}
    assert model.call_usage(missing, {}) == {"s3_get": 1.0}
    assert model.call_usage(unanswered, {}) == {}


def test_events_fan_out_to_the_queues_their_rules_target() -> None:
    completed = analysis.fan_out([["railyard", "deployment.completed", 100]])
    assert completed["cleanup"] == 1 and completed["notifications"] == 1
    assert analysis.fan_out([["someone.else", "deployment.completed", 100]]) == {}
    put = {
        "svc": "events",
        "op": "PutEvents",
        "ok": True,
        "inv": None,
        "entries": [["railyard", "build.started", 10]],
    }
    usage = analysis.call_usage(put, {})
    assert usage["eventbridge_event"] == 1.0 and usage["sqs_request"] == sum(
        analysis.fan_out([["railyard", "build.started", 10]]).values()
    )


def test_an_idle_queue_costs_five_long_polls_every_twenty_seconds() -> None:
    usage = model.idle_usage(queues_polled=1, alarms=0, dashboards=0, kms_keys=0, stored_gb=0.0)
    assert usage["sqs_request"] == 5 * 3 * 60 * 24 * 30
    assert model.total(usage) == pytest.approx(0.26, abs=0.005)


def test_each_index_an_item_is_in_costs_one_more_write() -> None:
    writes = [{"key": "deployment", "size": 1500, "tx": True}]  # 2 KB: 2 units, doubled, + 2 indexes
    assert model.write_units(writes, {}, {"deployment": 2}) == 2 * (2 + 2)


def test_http_api_requests_are_metered_in_512_kb_increments() -> None:
    assert model.api_requests(1000) == 1.0
    assert model.api_requests(512 * 1024) == 2.0  # the headers push it into a second increment
