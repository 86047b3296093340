"""Deployment logs as append-only chunks in object storage, read by cursor without listing.

A stream ("build" or "deploy") of a deployment is a sequence of numbered lines. Writers buffer lines
and flush them, at most every FLUSH_SECONDS (a shared background flusher) or when the buffer fills,
as one immutable object per block: `logs/<deployment>/<stream>/block-<n:08d>.jsonl` holds at most
BLOCK_LINES lines, numbered so that the last one is n * BLOCK_LINES (a flush of 3 lines into block 2
numbers them 1998, 1999, 2000). Sequence numbers therefore increase but skip: each flush takes the
next block.

Why blocks: a reader finds the object that can hold the line after any cursor by arithmetic
(block `after // BLOCK_LINES + 1`) and GETs it; a cursor at the end of the log is a block end, so
"nothing new" is one GET of a missing key. Listing the prefix on every poll (how this module read
before) is billed like a PUT, 12.5 times a GET (docs/cost.md).

Streams written before blocks existed ("legacy": `<first seq:010d>.jsonl`, contiguous numbers) are
still read, by listing, and written in their own layout, so no stream ever mixes the two. Objects are
never rewritten, so readers never see a torn chunk, and logs never touch DynamoDB. Retention
(chalicelib/domain/retention.py) deletes a deployment's objects once its logs are past their time.

Once an object is stored, its lines go to the store's `on_flush` listener (live updates over
WebSocket, docs/decisions/0040) with `after`, the number of the line before them: the previous
block's last line (a block stream) or the previous line (a legacy one). A listener that fails is
logged; the lines are stored all the same.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import weakref
from collections.abc import Callable
from datetime import UTC, datetime

from chalicelib.domain.errors import NotFound
from chalicelib.domain.ports import BlobStore, LogLine

FLUSH_SECONDS = 0.25
MAX_BUFFER = 200
MAX_LINE = 8192
BLOCK_LINES = 1000  # > MAX_BUFFER, so a flush rarely needs two blocks
_BLOCK = "block-"
_LEGACY_FIRST = f"{1:010d}.jsonl"  # every legacy stream's first chunk

# (deployment id, stream, after, lines): told of every stored object's lines, in order.
FlushListener = Callable[[str, str, int, list[LogLine]], None]
Published = Callable[[int, list[LogLine]], None]  # one stream's: (after, lines)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _body(lines: list[LogLine]) -> bytes:
    rows = (json.dumps({"seq": x.seq, "ts": x.ts, "message": x.message}) + "\n" for x in lines)
    return "".join(rows).encode()


def _parse(body: bytes) -> list[LogLine]:
    items = (json.loads(raw) for raw in body.decode().splitlines() if raw)
    return [LogLine(item["seq"], item["ts"], item["message"]) for item in items]


def _block_key(prefix: str, block: int) -> str:
    return f"{prefix}{_BLOCK}{block:08d}.jsonl"


def _name(key: str) -> str:
    return key.rsplit("/", 1)[1].split(".")[0]


class _Buffered:
    """Lines written but not stored yet, shared by both layouts' writers."""

    def __init__(self, published: Published | None = None) -> None:
        self._published = published
        self._buffer: list[tuple[str, str]] = []  # (ts, message)
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()  # keeps objects in order when the flusher and a writer race

    def write(self, message: str) -> None:
        with self._lock:
            for text in message.rstrip("\n").split("\n") or [""]:
                self._buffer.append((_now(), text[:MAX_LINE]))
            full = len(self._buffer) >= MAX_BUFFER
        if full:
            self.flush()

    def flush(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.flush()

    def _publish(self, after: int, lines: list[LogLine]) -> None:
        if self._published is None or not lines:
            return
        try:
            self._published(after, lines)
        except Exception:
            logging.getLogger(__name__).warning("stored log lines not published", exc_info=True)


class S3LogWriter(_Buffered):
    """Writes a stream in blocks. Lines are numbered when a flush assigns them a block; an object
    whose PUT failed keeps its key and body and is stored first on the next flush, so a PUT that
    failed after S3 kept it rewrites identical bytes instead of duplicating lines elsewhere."""

    def __init__(
        self, blobs: BlobStore, bucket: str, prefix: str, next_block: int, published: Published | None = None
    ) -> None:
        super().__init__(published)
        self._blobs, self._bucket, self._prefix = blobs, bucket, prefix
        self._next_block = next_block
        self._pending: list[tuple[str, bytes, list[LogLine]]] = []

    def flush(self) -> None:
        with self._flush_lock:
            with self._lock:
                taken, self._buffer = self._buffer, []
            for start in range(0, len(taken), BLOCK_LINES):
                group = taken[start : start + BLOCK_LINES]
                first = self._next_block * BLOCK_LINES - len(group) + 1
                lines = [LogLine(first + i, ts, text) for i, (ts, text) in enumerate(group)]
                self._pending.append((_block_key(self._prefix, self._next_block), _body(lines), lines))
                self._next_block += 1
            while self._pending:
                key, body, lines = self._pending[0]
                self._blobs.put_bytes(self._bucket, key, body)  # raises: kept for the next flush
                self._pending.pop(0)
                # The line before a block's first is the previous block's last (see the docstring).
                self._publish((lines[0].seq - 1) // BLOCK_LINES * BLOCK_LINES, lines)


class LegacyS3LogWriter(_Buffered):
    """Appends to a stream begun before blocks: contiguous numbers, objects named by first seq."""

    def __init__(
        self, blobs: BlobStore, bucket: str, prefix: str, next_seq: int, published: Published | None = None
    ) -> None:
        super().__init__(published)
        self._blobs, self._bucket, self._prefix = blobs, bucket, prefix
        self._next_seq = next_seq
        self._pending: list[LogLine] = []

    def flush(self) -> None:
        with self._flush_lock:
            with self._lock:
                taken, self._buffer = self._buffer, []
            for ts, text in taken:
                self._pending.append(LogLine(self._next_seq, ts, text))
                self._next_seq += 1
            if self._pending:
                key = f"{self._prefix}{self._pending[0].seq:010d}.jsonl"
                self._blobs.put_bytes(self._bucket, key, _body(self._pending))
                stored, self._pending = self._pending, []
                self._publish(stored[0].seq - 1, stored)


class S3LogStore:
    def __init__(self, blobs: BlobStore, bucket: str, on_flush: FlushListener | None = None) -> None:
        self._blobs = blobs
        self._bucket = bucket
        self._on_flush = on_flush
        self._writers: weakref.WeakSet[_Buffered] = weakref.WeakSet()
        self._live: weakref.WeakValueDictionary[tuple[str, str], _Buffered] = weakref.WeakValueDictionary()
        self._flusher: threading.Thread | None = None
        self._lock = threading.Lock()

    def open(self, deployment_id: str, stream: str) -> _Buffered:
        # One live writer per stream in this process: two writers would pick the same numbers and
        # overwrite each other's objects (the runtime keeps writing an app's output while the
        # failure path writes the reason to the same stream).
        with self._lock:
            live = self._live.get((deployment_id, stream))
        if live is not None:
            return live
        prefix = self._prefix(deployment_id, stream)
        names = [_name(key) for key in self._blobs.list_keys(self._bucket, prefix)]
        legacy = [int(name) for name in names if name.isdigit()]
        writer: _Buffered
        published = self._listener(deployment_id, stream)
        if legacy:  # a retried step appends after what an earlier attempt wrote, in its layout
            last = _parse(self._blobs.get_bytes(self._bucket, f"{prefix}{max(legacy):010d}.jsonl"))
            next_seq = last[-1].seq + 1 if last else 1
            writer = LegacyS3LogWriter(self._blobs, self._bucket, prefix, next_seq, published)
        else:
            blocks = [int(name.removeprefix(_BLOCK)) for name in names if name.startswith(_BLOCK)]
            writer = S3LogWriter(self._blobs, self._bucket, prefix, max(blocks, default=0) + 1, published)
        with self._lock:
            if (deployment_id, stream) in self._live:  # lost a race with another opener
                return self._live[(deployment_id, stream)]
            self._live[(deployment_id, stream)] = writer
            self._writers.add(writer)
            if self._flusher is None:
                self._flusher = threading.Thread(target=self._flush_forever, name="log-flusher", daemon=True)
                self._flusher.start()
        return writer

    def _listener(self, deployment_id: str, stream: str) -> Published | None:
        listener = self._on_flush
        if listener is None:
            return None
        return lambda after, lines: listener(deployment_id, stream, after, lines)

    def read(self, deployment_id: str, stream: str, after: int, limit: int) -> list[LogLine]:
        """Up to `limit` lines with seq > `after`, in order: GETs of the blocks from the one that can
        hold line after+1 on, until a block is missing."""
        prefix = self._prefix(deployment_id, stream)
        after = max(0, after)
        block = after // BLOCK_LINES + 1
        lines: list[LogLine] = []
        while len(lines) < limit:
            body = self._get(_block_key(prefix, block))
            if body is None:
                break
            lines += [line for line in _parse(body) if line.seq > after]
            block += 1
        if block > after // BLOCK_LINES + 1 or (after > 0 and after % BLOCK_LINES == 0):
            # Found blocks, or the cursor is a block end: this is a block stream (or none at all).
            return lines[:limit]
        # Nothing where a block stream would have it: an empty stream, a legacy one, a cursor
        # between blocks that are not written yet, or logs retention deleted.
        if after == 0 and self._get(prefix + _LEGACY_FIRST) is None:
            return []
        return self._read_listing(prefix, after, limit)

    def _read_listing(self, prefix: str, after: int, limit: int) -> list[LogLine]:
        """Any layout, by listing: every object that can hold a line after the cursor."""
        keys = self._blobs.list_keys(self._bucket, prefix)
        legacy = sorted((int(_name(k)), k) for k in keys if _name(k).isdigit())
        blocks = [(int(_name(k).removeprefix(_BLOCK)), k) for k in keys if _name(k).startswith(_BLOCK)]
        wanted = [key for block, key in blocks if block * BLOCK_LINES > after]
        for index, (_, key) in enumerate(legacy):
            following = legacy[index + 1][0] if index + 1 < len(legacy) else None
            if following is None or following > after + 1:  # else every line is at or before the cursor
                wanted.append(key)
        found = sorted(
            (line for key in wanted for line in _parse(self._blobs.get_bytes(self._bucket, key))),
            key=lambda line: line.seq,
        )
        lines = [line for line in found if line.seq > after]
        # A page must not end on a block end while more lines follow: read() takes such a cursor as
        # "nothing after it". Such a page carries one line more than asked (legacy streams only).
        if len(lines) > limit and lines[limit - 1].seq % BLOCK_LINES == 0:
            return lines[: limit + 1]
        return lines[:limit]

    def _get(self, key: str) -> bytes | None:
        try:
            return self._blobs.get_bytes(self._bucket, key)
        except NotFound:
            return None

    def delete(self, deployment_id: str) -> int:
        """Deletes every object of every stream of the deployment (retention); 0 when none was left."""
        keys = self._blobs.list_keys(self._bucket, self._deployment_prefix(deployment_id))
        self._blobs.delete_keys(self._bucket, keys)
        return len(keys)

    @staticmethod
    def _deployment_prefix(deployment_id: str) -> str:
        return f"logs/{deployment_id}/"

    @classmethod
    def _prefix(cls, deployment_id: str, stream: str) -> str:
        return f"{cls._deployment_prefix(deployment_id)}{stream}/"

    def _flush_forever(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            with self._lock:
                writers = list(self._writers)
            for writer in writers:
                try:
                    writer.flush()
                except Exception:  # the writer kept its lines; the next round retries
                    continue
