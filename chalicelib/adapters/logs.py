"""Deployment logs as append-only chunks in object storage.

A stream ("build" or "deploy") of a deployment is a sequence of numbered lines. Writers buffer
lines and flush them as one object per chunk, `logs/<deployment>/<stream>/<first seq:010d>.jsonl`,
at most every FLUSH_SECONDS (a shared background flusher) or when the buffer fills; readers list
the chunk keys and read only those that can hold lines after the cursor. Objects are never
rewritten, so readers never see a torn chunk, and logs never touch DynamoDB. Retention
(chalicelib/domain/retention.py) deletes a deployment's chunks once its logs are past their time.
"""

from __future__ import annotations

import json
import threading
import time
import weakref
from datetime import UTC, datetime

from chalicelib.domain.ports import BlobStore, LogLine

FLUSH_SECONDS = 0.25
MAX_BUFFER = 200
MAX_LINE = 8192


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class S3LogWriter:
    def __init__(self, blobs: BlobStore, bucket: str, prefix: str, next_seq: int) -> None:
        self._blobs = blobs
        self._bucket = bucket
        self._prefix = prefix
        self._next_seq = next_seq
        self._buffer: list[LogLine] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()

    def write(self, message: str) -> None:
        with self._lock:
            for text in message.rstrip("\n").split("\n") or [""]:
                self._buffer.append(LogLine(self._next_seq, _now(), text[:MAX_LINE]))
                self._next_seq += 1
            full = len(self._buffer) >= MAX_BUFFER
        if full:
            self.flush()

    def flush(self) -> None:
        with self._flush_lock:  # keeps chunks in order when the flusher and a writer race
            with self._lock:
                lines, self._buffer = self._buffer, []
            if not lines:
                return
            body = "".join(json.dumps({"seq": x.seq, "ts": x.ts, "message": x.message}) + "\n" for x in lines)
            try:
                self._blobs.put_bytes(self._bucket, f"{self._prefix}{lines[0].seq:010d}.jsonl", body.encode())
            except Exception:
                with self._lock:  # keep the lines for the next flush rather than lose them
                    self._buffer = lines + self._buffer
                raise

    def close(self) -> None:
        self.flush()


class S3LogStore:
    def __init__(self, blobs: BlobStore, bucket: str) -> None:
        self._blobs = blobs
        self._bucket = bucket
        self._writers: weakref.WeakSet[S3LogWriter] = weakref.WeakSet()
        self._live: weakref.WeakValueDictionary[tuple[str, str], S3LogWriter] = weakref.WeakValueDictionary()
        self._flusher: threading.Thread | None = None
        self._lock = threading.Lock()

    def open(self, deployment_id: str, stream: str) -> S3LogWriter:
        # One live writer per stream in this process: two writers would pick the same sequence
        # numbers and overwrite each other's chunks (the runtime keeps writing an app's output
        # while the failure path writes the reason to the same stream).
        with self._lock:
            live = self._live.get((deployment_id, stream))
        if live is not None:
            return live
        prefix = self._prefix(deployment_id, stream)
        keys = self._blobs.list_keys(self._bucket, prefix)
        next_seq = 1
        if keys:  # a retried step appends after what an earlier attempt wrote
            last = self._blobs.get_bytes(self._bucket, keys[-1]).decode().strip().split("\n")[-1]
            next_seq = int(json.loads(last)["seq"]) + 1
        writer = S3LogWriter(self._blobs, self._bucket, prefix, next_seq)
        with self._lock:
            if (deployment_id, stream) in self._live:  # lost a race with another opener
                return self._live[(deployment_id, stream)]
            self._live[(deployment_id, stream)] = writer
            self._writers.add(writer)
            if self._flusher is None:
                self._flusher = threading.Thread(target=self._flush_forever, name="log-flusher", daemon=True)
                self._flusher.start()
        return writer

    def read(self, deployment_id: str, stream: str, after: int, limit: int) -> list[LogLine]:
        keys = self._blobs.list_keys(self._bucket, self._prefix(deployment_id, stream))
        firsts = [int(key.rsplit("/", 1)[1].split(".")[0]) for key in keys]
        lines: list[LogLine] = []
        for index, key in enumerate(keys):
            following = firsts[index + 1] if index + 1 < len(firsts) else None
            if following is not None and following <= after + 1:
                continue  # every line of this chunk is at or before the cursor
            for raw in self._blobs.get_bytes(self._bucket, key).decode().splitlines():
                item = json.loads(raw)
                if item["seq"] > after:
                    lines.append(LogLine(item["seq"], item["ts"], item["message"]))
            if len(lines) >= limit:
                break
        return lines[:limit]

    def delete(self, deployment_id: str) -> int:
        """Deletes every chunk of every stream of the deployment (retention); 0 when none was left."""
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
