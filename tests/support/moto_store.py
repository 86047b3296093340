"""The session's moto server as a store the tests share: emptied before a test (`empty`: moto's own
reset, as every test had it), or brought back to a fresh bootstrap (`bootstrapped`) without creating
the catalogue's resources again when the previous test left them.

A bootstrap on moto costs ~0.45 s of CPU (the state machines' definitions parsed by moto's ASL
parser, an RSA key made for the KMS key, ~60 requests): a tests/api test spent more on it than on
itself. The server runs in the pytest process, so between two tests the data a test can write (table
items, S3 objects, queue messages, KMS keys beyond the sealing key, executions: a running one is
stopped first, which moto's own reset never did) is removed from moto's backends in place, and
every backend a fresh bootstrap does not use is reset whole. Then the
whole state of the backends the bootstrap uses is compared with what it was right after the
bootstrap (`fingerprint`: every attribute of every resource, nested; only locks, threads and
back-references are skipped): if anything else differs (a test made a queue, a rule, a table, a
second state machine, changed an attribute...), the store is emptied and bootstrapped again, so a
test never starts from another test's leftovers, and `full_bootstraps` counts how often that was.
"""

from __future__ import annotations

import datetime
import decimal
import enum
import threading
import types
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests

from chalicelib.catalogue import Catalogue
from railyard.localdev.bootstrap import Bootstrapped, bootstrap

_SCALARS = (str, bytes, int, float, bool, type(None), datetime.date, datetime.timedelta, decimal.Decimal)
# What a resource holds that is no part of its state: synchronisation, running threads, code.
_OPAQUE = (
    type(threading.Lock()),
    type(threading.RLock()),
    threading.Condition,
    threading.Event,
    threading.Thread,
    types.FunctionType,
    types.MethodType,
    types.BuiltinFunctionType,
    types.ModuleType,
    type,
)
DEPTH = 8  # backend > dict of resources > resource > its attributes > ... (a state machine's versions)


@dataclass
class _Fresh:
    key: tuple[Catalogue, str]
    resources: Bootstrapped
    fingerprint: Any
    services: frozenset[str]
    keys: frozenset[str]  # the KMS keys the bootstrap made (the sealing key)


class MotoStore:
    """The session's ThreadedMotoServer at `url`, in this process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._fresh: _Fresh | None = None
        self.full_bootstraps = 0
        self.reuses = 0

    def empty(self) -> None:
        """Nothing in any service (moto's own reset), with Step Functions executing."""
        self._fresh = None
        requests.post(f"{self.url}/moto-api/reset", timeout=10).raise_for_status()
        requests.post(
            f"{self.url}/moto-api/config", json={"stepfunctions": {"execute_state_machine": True}}, timeout=10
        ).raise_for_status()

    def bootstrapped(self, catalogue: Catalogue, account_id: str) -> Bootstrapped:
        """The store as `bootstrap(catalogue, account_id)` leaves an empty one: kept from the previous
        test when it can be brought back to exactly that, else emptied and bootstrapped."""
        key = (catalogue, account_id)
        fresh = self._fresh
        if fresh is not None and fresh.key == key:
            remove_data(fresh.services, fresh.keys)
            if fingerprint(fresh.services) == fresh.fingerprint:
                self.reuses += 1
                return _copy(fresh.resources)
        self.empty()
        resources = bootstrap(catalogue, account_id)
        services = frozenset(_backend_dicts())
        _forget_model_instances()
        keys = frozenset(k for _, _, kms in _backend_dicts()["kms"].iter_backends() for k in kms.keys)
        self._fresh = _Fresh(key, _copy(resources), fingerprint(services), services, keys)
        self.full_bootstraps += 1
        return resources


def _copy(resources: Bootstrapped) -> Bootstrapped:
    return Bootstrapped(
        dict(resources.queue_urls), dict(resources.queue_arns), dict(resources.state_machine_arns)
    )


def _backend_dicts() -> dict[str, Any]:
    """moto's backends in use (created by a request since the last reset), by service."""
    from moto.core.base_backend import BackendDict

    return {backends.service_name: backends for backends in BackendDict._instances}  # type: ignore[misc]


def _forget_model_instances() -> None:
    """moto keeps every model object it made for its dashboard until a reset: drop them."""
    from moto.core.model_instances import reset_model_data

    reset_model_data()


def remove_data(services: frozenset[str], keys: frozenset[str]) -> None:
    """Remove what tests write from the backends of `services` (and every KMS key but `keys`), and
    reset every other backend."""
    from moto.core.base_backend import BackendDict, backend_lock

    with backend_lock:
        for backends in list(BackendDict._instances):  # type: ignore[misc]
            if backends.service_name not in services:
                for account in backends.values():
                    account.reset()
                backends.clear()
                BackendDict._instances.remove(backends)  # type: ignore[misc]
    found = _backend_dicts()
    for name, remove in _REMOVERS.items():  # Step Functions first: a running execution writes
        for _, _, backend in found[name].iter_backends() if name in found else ():
            remove(backend)
    for _, _, kms in found["kms"].iter_backends() if "kms" in found else ():
        for key_id in [k for k in kms.keys if k not in keys]:
            kms.delete_key(key_id)
    _forget_model_instances()


def _dynamodb(backend: Any) -> None:
    for table in backend.tables.values():
        table.items.clear()


def _s3(backend: Any) -> None:
    from moto.s3.models import FakeKey, MultipartDict, _VersionedKeyStore

    for bucket in backend.buckets.values():
        for key in bucket.keys.values():
            if isinstance(key, FakeKey):
                key.dispose()  # its body is a temporary file
        for part in bucket.multiparts.values():
            part.dispose()
        bucket.keys = _VersionedKeyStore()
        bucket.multiparts = MultipartDict()
    for arn in [arn for arn in backend.tagger.tags if "/" in arn.partition(":::")[2]]:
        backend.tagger.delete_all_tags_for_resource(arn)  # an object's tags (`bucket/key/version`)


def _sqs(backend: Any) -> None:
    for queue in backend.queues.values():
        with queue._messages_lock:
            queue._messages = []
            queue._pending_messages = set()
            queue.deleted_messages = set()


def _stepfunctions(backend: Any) -> None:
    """Stop what is still running (its task would put messages on the next test's queues; moto's
    own reset leaves such an execution running), then forget every execution."""
    import time

    for machine in backend.state_machines:
        running = [e for e in machine.executions if _running(e)]
        deadline = time.monotonic() + 10
        for execution in running:
            # moto cannot stop an execution whose thread has not made its environment yet.
            while getattr(getattr(execution, "exec_worker", None), "env", True) is None:
                assert time.monotonic() < deadline, f"execution {execution.name} never began"
                time.sleep(0.01)
            machine.stop_execution(execution.execution_arn)
            _wake(execution)
        while any(_running(e) for e in running):
            assert time.monotonic() < deadline, f"executions of {machine.name} did not stop"
            time.sleep(0.01)
        machine.executions.clear()


def _wake(execution: Any) -> None:
    """A stopped execution notices only when its task's wait for a token or a heartbeat ends (after
    the task's timeout): end those waits now, as a token or a heartbeat arriving would."""
    env = getattr(getattr(execution, "exec_worker", None), "env", None)
    for endpoint in list(getattr(getattr(env, "callback_pool_manager", None), "_pool", {}).values()):
        endpoint._notify_event.set()
        if endpoint._heartbeat_endpoint is not None:
            endpoint._heartbeat_endpoint.notify()


def _running(execution: Any) -> bool:
    return getattr(execution.status, "value", execution.status) == "RUNNING"


_REMOVERS = {"stepfunctions": _stepfunctions, "dynamodb": _dynamodb, "s3": _s3, "sqs": _sqs}


def fingerprint(services: frozenset[str]) -> Any:
    """Everything the backends of `services` hold, as nested tuples of plain values: equal before and
    after a test only if no resource was made, removed or changed (data removed by `remove_data`)."""
    found = _backend_dicts()
    held = tuple(
        (name, account, region, _shape(backend, DEPTH, top=True))
        for name, backends in sorted(found.items())
        if name in services
        for account, region, backend in backends.iter_backends()
    )
    return (tuple(sorted(found)), held)


def _shape(value: Any, depth: int, top: bool = False) -> Any:
    from moto.core.base_backend import BaseBackend

    if isinstance(value, (*_SCALARS, enum.Enum)):
        return value
    if isinstance(value, _OPAQUE) or (isinstance(value, BaseBackend) and not top):
        return type(value).__name__
    if depth == 0:
        return (type(value).__name__, len(value) if hasattr(value, "__len__") else None)
    if isinstance(value, Mapping):
        return ("map", tuple((repr(k), _shape(v, depth - 1)) for k, v in value.items()))
    if isinstance(value, (list, tuple, deque)):
        return ("seq", tuple(_shape(v, depth - 1) for v in value))
    if isinstance(value, (set, frozenset)):
        return ("set", tuple(sorted(repr(_shape(v, depth - 1)) for v in value)))
    attributes = getattr(value, "__dict__", None)
    if attributes is None:
        return type(value).__name__
    return (type(value).__name__, tuple((k, _shape(v, depth - 1)) for k, v in sorted(attributes.items())))
