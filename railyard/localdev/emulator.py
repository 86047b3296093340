"""The local platform's AWS: moto in its own process, with DynamoDB items and S3 objects kept on disk.

`railyard dev` runs this module as a child process (`python -m railyard.localdev.emulator`), so moto
never shares the API's interpreter lock, and a restart of the platform (clean or SIGKILL) loses
nothing that was acknowledged (docs/decisions/0009-durable-local-aws.md):

- a WSGI layer in front of moto's app runs every DynamoDB request under one lock (moto restores a
  whole copy of a table when it cancels a transaction, undoing writes other threads made meanwhile)
  and, before a successful write is answered, copies the items it touched from moto to a SQLite
  file (`<data dir>/aws/state.sqlite3`, WAL, synchronous=FULL);
- a successful S3 write (PutObject, CopyObject, CompleteMultipartUpload, DeleteObject(s)) copies the
  object, or its absence, to `<data dir>/aws/objects/` before it is answered;
- when the platform's bootstrap creates a table or a bucket, the items or objects kept for it are
  loaded back into moto before CreateTable/CreateBucket is answered, so nothing can read an empty
  table first.

Queues, state machines and executions are not kept: the bootstrap recreates the first two, and the
platform ends deployments that were in flight when it stopped (railyard/localdev/reconcile.py).
Every request must be signed with the platform's own credentials (railyard/localdev/emulator_auth.py):
moto itself authenticates nobody, and user code must not read the table.
The process exits when its standard input closes (the platform died) or on SIGTERM.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import os
import re
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote
from xml.etree import ElementTree

from railyard.localdev import kms_keys

DYNAMODB_TARGET = "DynamoDB_20120810."
DYNAMODB_WRITES = frozenset(
    {"PutItem", "DeleteItem", "UpdateItem", "TransactWriteItems", "BatchWriteItem", "DeleteTable"}
)
_SERVICE = re.compile(r"/[0-9]{8}/[a-z0-9-]+/([a-z0-9-]+)/aws4_request")
_LOCK_STRIPES = 64
StartResponse = Callable[..., Any]


class Store:
    """Items and objects on disk: one SQLite file (rows) and one directory (object bodies)."""

    def __init__(self, directory: Path) -> None:
        self._objects = directory / "objects"
        self._objects.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(directory / "state.sqlite3", check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a committed row survives a power cut, not just a kill
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS items (
                tbl TEXT NOT NULL, item_key TEXT NOT NULL, item TEXT NOT NULL, PRIMARY KEY (tbl, item_key));
            CREATE TABLE IF NOT EXISTS objects (
                bucket TEXT NOT NULL, key TEXT NOT NULL, etag TEXT NOT NULL, PRIMARY KEY (bucket, key));
            """
        )
        self._lock = threading.Lock()  # one SQLite connection, shared by the request threads

    def put_items(self, changes: list[tuple[str, dict[str, Any], dict[str, Any] | None]]) -> None:
        """(table, key, item or None for deleted) of one request, in one commit (one fsync)."""
        with self._lock:
            self._db.execute("BEGIN")
            for table, key, item in changes:
                item_key = json.dumps(key, sort_keys=True)
                if item is None:
                    self._db.execute("DELETE FROM items WHERE tbl = ? AND item_key = ?", (table, item_key))
                else:
                    self._db.execute(
                        "INSERT OR REPLACE INTO items VALUES (?, ?, ?)", (table, item_key, json.dumps(item))
                    )
            self._db.execute("COMMIT")

    def drop_table(self, table: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM items WHERE tbl = ?", (table,))

    def items(self, table: str) -> Iterator[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT item FROM items WHERE tbl = ?", (table,)).fetchall()
        for (item,) in rows:
            yield json.loads(item)

    def object_path(self, bucket: str, key: str) -> Path:
        return self._objects / hashlib.sha256(f"{bucket}/{key}".encode()).hexdigest()

    def put_object(self, bucket: str, key: str, body: bytes | None, etag: str = "") -> None:
        path = self.object_path(bucket, key)
        if body is None:
            with self._lock:
                self._db.execute("DELETE FROM objects WHERE bucket = ? AND key = ?", (bucket, key))
            path.unlink(missing_ok=True)
            return
        partial = path.with_suffix(f".{threading.get_ident()}.partial")
        with open(partial, "wb") as file:
            file.write(body)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)  # the body first: a row never points at a missing or torn file
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO objects VALUES (?, ?, ?)", (bucket, key, etag))

    def drop_bucket(self, bucket: str) -> None:
        for key, _ in list(self.objects(bucket)):
            self.put_object(bucket, key, None)

    def objects(self, bucket: str) -> Iterator[tuple[str, str]]:
        with self._lock:
            rows = self._db.execute("SELECT key, etag FROM objects WHERE bucket = ?", (bucket,)).fetchall()
        yield from rows

    def close(self) -> None:
        with self._lock:
            self._db.close()


class Persisting:
    """WSGI middleware around moto's app: serializes DynamoDB, writes through to the Store."""

    def __init__(self, app: Callable[..., Iterable[bytes]], store: Store, account: str, region: str) -> None:
        self._app = app
        self._store = store
        self._account = account
        self._region = region
        self._dynamodb_lock = threading.Lock()
        self._object_locks = [threading.Lock() for _ in range(_LOCK_STRIPES)]

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target.startswith(DYNAMODB_TARGET):
            return self._dynamodb(target.removeprefix(DYNAMODB_TARGET), environ, start_response)
        if kms_keys.is_key_write(target):  # sealed variables' keys outlive a restart
            status, response = _call(self._app, environ, start_response)
            if status < 300:
                kms_keys.save(self._store, self._account, self._region)
            return response
        if environ["REQUEST_METHOD"] in ("PUT", "POST", "DELETE") and _service(environ) == "s3":
            return self._s3(environ, start_response)
        return self._app(environ, start_response)

    # DynamoDB

    def _dynamodb(
        self, operation: str, environ: dict[str, Any], start_response: StartResponse
    ) -> list[bytes]:
        body = _read_body(environ)
        with self._dynamodb_lock:
            status, response = _call(self._app, environ, start_response)
            if status < 300:
                request = json.loads(body or b"{}")
                if operation == "CreateTable":
                    self._load_table(request["TableName"])
                elif operation == "DeleteTable":
                    self._store.drop_table(request["TableName"])
                elif operation in DYNAMODB_WRITES:
                    self._store.put_items(
                        [
                            (table, key, self._read_item(table, key))
                            for table, key in _written_keys(operation, request, self._key_of)
                        ]
                    )
        return response

    def _backend(self) -> Any:
        from moto.dynamodb.models import dynamodb_backends

        return dynamodb_backends[self._account][self._region]

    def _key_of(self, table: str, item: dict[str, Any]) -> dict[str, Any]:
        schema = self._backend().get_table(table)
        names = [schema.hash_key_attr] + ([schema.range_key_attr] if schema.range_key_attr else [])
        return {name: item[name] for name in names}

    def _read_item(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        item = self._backend().get_item(table, key)
        return None if item is None else dict(item.to_json()["Attributes"])

    def _load_table(self, table: str) -> None:
        backend = self._backend()
        for item in self._store.items(table):
            backend.put_item(table, item)

    # S3 (path-style requests: the endpoint is an IP address)

    def _s3(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8")
        bucket, _, key = path.lstrip("/").partition("/")
        if not bucket:
            return self._app(environ, start_response)
        if not key:
            body = _read_body(environ) if method == "POST" and "delete" in query else b""
            status, response = _call(self._app, environ, start_response)
            if status < 300:
                if method == "PUT" and not query:
                    self._load_bucket(bucket)
                elif method == "DELETE" and not query:
                    self._store.drop_bucket(bucket)
                elif method == "POST" and "delete" in query:
                    for deleted in _deleted_keys(body):
                        self._sync_object(bucket, deleted)
            return response
        # Parts of a multipart upload, and its start, change no object; the completion does.
        writes = (method == "PUT" and "uploadId" not in query) or (
            method in ("POST", "DELETE") and ("uploadId" in query) == (method == "POST")
        )
        status, response = _call(self._app, environ, start_response)
        if status < 300 and writes:
            self._sync_object(bucket, key)
        return response

    def _s3_backend(self) -> Any:
        from moto.s3.models import s3_backends

        return s3_backends[self._account]["global"]

    def _sync_object(self, bucket: str, key: str) -> None:
        lock = self._object_locks[hash((bucket, key)) % _LOCK_STRIPES]
        with lock:  # read and write under one lock: the last copy made is of the latest state
            try:
                found = self._s3_backend().get_object(bucket, key)
            except Exception:  # NoSuchKey / NoSuchBucket
                found = None
            if found is None:
                self._store.put_object(bucket, key, None)
            else:
                self._store.put_object(bucket, key, found.value, found.etag.strip('"'))

    def _load_bucket(self, bucket: str) -> None:
        backend = self._s3_backend()
        for key, etag in self._store.objects(bucket):
            body = self._store.object_path(bucket, key).read_bytes()
            backend.put_object(bucket, key, body, etag=etag or None, disable_notification=True)


def _service(environ: dict[str, Any]) -> str | None:
    """The service a request is for: the SigV4 credential scope names it; anything else (a SigV2
    presigned URL) is S3, as moto itself decides, except moto's own API."""
    credential = environ.get("HTTP_AUTHORIZATION", "") or unquote(environ.get("QUERY_STRING", ""))
    match = _SERVICE.search(credential)
    if match:
        return match.group(1)
    return None if environ.get("PATH_INFO", "").startswith("/moto-api") else "s3"


def _read_body(environ: dict[str, Any]) -> bytes:
    """Reads the request body and puts it back, so both this layer and moto can read it."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return bytes(body)


def _call(
    app: Callable[..., Iterable[bytes]], environ: dict[str, Any], start_response: StartResponse
) -> tuple[int, list[bytes]]:
    """Runs the request to the end (the write must be on disk before the client hears of it)."""
    seen: dict[str, int] = {}

    def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seen["status"] = int(status.split(" ", 1)[0])
        return start_response(status, headers, exc_info)

    result = app(environ, capture)
    try:
        body = list(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return seen.get("status", 500), body


def _written_keys(
    operation: str, request: dict[str, Any], key_of: Callable[[str, dict[str, Any]], dict[str, Any]]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(table, key) of every item a successful write request may have changed."""
    if operation == "PutItem":
        yield request["TableName"], key_of(request["TableName"], request["Item"])
    elif operation in ("DeleteItem", "UpdateItem"):
        yield request["TableName"], request["Key"]
    elif operation == "TransactWriteItems":
        for entry in request["TransactItems"]:
            for kind, action in entry.items():
                if kind == "Put":
                    yield action["TableName"], key_of(action["TableName"], action["Item"])
                elif kind in ("Update", "Delete"):
                    yield action["TableName"], action["Key"]
    elif operation == "BatchWriteItem":
        for table, writes in request["RequestItems"].items():
            for write in writes:
                if "PutRequest" in write:
                    yield table, key_of(table, write["PutRequest"]["Item"])
                else:
                    yield table, write["DeleteRequest"]["Key"]


def _deleted_keys(body: bytes) -> list[str]:
    root = ElementTree.fromstring(body)
    return [element.text or "" for element in root.iter() if element.tag.rsplit("}", 1)[-1] == "Key"]


WARM_SERVICES = ("stepfunctions", "dynamodb", "s3", "sqs", "events")  # slowest first


def _warm_up(dispatcher: Any, account: str, region: str) -> None:
    """Builds moto's app for each service the platform uses now, while the platform imports its own
    code, rather than on each service's first request (~0.5 s each): this process has a core of
    its own."""
    from moto.backends import get_backend

    started = time.monotonic()
    for service in WARM_SERVICES:
        get_backend(service)  # type: ignore[call-overload]  # imports its models (Step Functions: ~1 s)
        with dispatcher.lock:
            if service not in dispatcher.app_instances:
                dispatcher.app_instances[service] = dispatcher.create_app(service)
    # With execution on, Step Functions requests go to the interpreter's backend: its ASL parser is
    # the slowest import of all (2-3 s on an idle core).
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    stepfunctions_parser_backends[account][region]
    logging.getLogger(__name__).info("warm-up done in %.2fs", time.monotonic() - started)


def serve(data_dir: Path, port: int = 0, region: str = "us-east-1") -> tuple[Any, Store]:
    """A threaded server on 127.0.0.1 (not yet serving) and its Store."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    from railyard.localdev.emulator_auth import Guard, ensure_credentials, sign_internal_clients

    store = Store(data_dir)
    kms_keys.restore(store, DEFAULT_ACCOUNT_ID, region)
    dispatcher = DomainDispatcherApplication(create_backend_app)
    key_id, secret = ensure_credentials(data_dir)
    sign_internal_clients(key_id, secret)
    # Only the platform's signed requests reach moto (railyard/localdev/emulator_auth.py).
    app = Guard(Persisting(dispatcher, store, DEFAULT_ACCOUNT_ID, region), key_id, secret)
    threading.Thread(
        target=_warm_up, args=(dispatcher, DEFAULT_ACCOUNT_ID, region), name="warm-up", daemon=True
    ).start()
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=MotoRequestHandler)
    server.daemon_threads = True  # type: ignore[attr-defined]  # make_server(threaded=True) is a ThreadingMixIn
    return server, store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    server, store = serve(args.data_dir, args.port, os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))
    port = server.server_address[1]
    os.environ["MOTO_PORT"] = str(port)  # moto's Step Functions interpreter calls localhost:$MOTO_PORT

    def stop(*_: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the platform, which stops us in order

    def watch_parent() -> None:  # standard input closes when the platform exits, however it exits
        while sys.stdin.buffer.read(4096):
            pass
        stop()

    threading.Thread(target=watch_parent, name="parent-watch", daemon=True).start()
    print(json.dumps({"port": port}), flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        store.close()
        logging.shutdown()
    # Every write was on disk before it was answered; skip the interpreter's slow teardown of moto.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
