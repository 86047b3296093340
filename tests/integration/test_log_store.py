"""The S3 log store: every line written is read back once, in order, by a reader that follows the
cursor as the API's clients do; a poll with nothing new costs one GET and never a listing (a LIST is
billed like a PUT); streams written in the layout before blocks still read whole."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from chalicelib.adapters.logs import BLOCK_LINES, S3LogStore
from chalicelib.domain.ports import LogLine
from tests.fakes import FakeBlobStore

BUCKET = "railyard-test-logs"


@dataclass
class CountingBlobs(FakeBlobStore):
    """The fake S3 (a missing key is NotFound, as S3BlobStore translates a 404), counting requests."""

    calls: list[str] = field(default_factory=list)
    fail_puts: int = 0

    def get_bytes(self, bucket: str, key: str) -> bytes:
        self.calls.append("get")
        return super().get_bytes(bucket, key)

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        self.calls.append("list")
        return super().list_keys(bucket, prefix)

    def put_bytes(self, bucket: str, key: str, body: bytes) -> None:
        if self.fail_puts:
            self.fail_puts -= 1
            raise ConnectionError("S3 unreachable")
        super().put_bytes(bucket, key, body)


def follow(store: S3LogStore, stream: str = "deploy", after: int = 0, limit: int = 500) -> Iterator[LogLine]:
    """Pages through the stream as a client does: the next cursor is the last seq it got."""
    while True:
        page = store.read("dep-1", stream, after, limit)
        if not page:
            return
        yield from page
        after = page[-1].seq


@pytest.fixture
def blobs() -> CountingBlobs:
    return CountingBlobs()


def test_lines_of_many_flushes_read_back_once_in_order_with_any_page_size(blobs: CountingBlobs) -> None:
    # GIVEN lines flushed in chunks of several sizes, one of them larger than a block
    store = S3LogStore(blobs, BUCKET)
    writer = store.open("dep-1", "deploy")
    written = []
    for chunk, size in enumerate((3, 1, BLOCK_LINES + 3, 7)):
        lines = [f"chunk {chunk} line {i}" for i in range(size)]
        writer.write("\n".join(lines))
        writer.flush()
        written += lines
    # WHEN a client follows the cursor with big and small pages
    # THEN it gets every line once, in order, with increasing numbers
    for limit in (1000, 500, 250):
        read = list(follow(store, limit=limit))
        assert [line.message for line in read] == written
        assert all(a.seq < b.seq for a, b in itertools.pairwise(read))


def test_a_poll_with_nothing_new_is_one_get_and_no_listing(blobs: CountingBlobs) -> None:
    store = S3LogStore(blobs, BUCKET)
    writer = store.open("dep-1", "deploy")
    writer.write("starting\nlistening on :8080")
    writer.flush()
    cursor = store.read("dep-1", "deploy", 0, 500)[-1].seq
    blobs.calls.clear()

    assert store.read("dep-1", "deploy", cursor, 500) == []
    assert blobs.calls == ["get"]

    # A line written later is the next poll's answer, still without a listing.
    writer.write("GET / 200")
    writer.flush()
    blobs.calls.clear()
    assert [x.message for x in store.read("dep-1", "deploy", cursor, 500)] == ["GET / 200"]
    assert "list" not in blobs.calls


def test_an_empty_stream_reads_as_empty_without_a_listing(blobs: CountingBlobs) -> None:
    store = S3LogStore(blobs, BUCKET)
    assert store.read("dep-1", "build", 0, 500) == []
    assert "list" not in blobs.calls


def test_a_cursor_inside_a_block_resumes_after_it(blobs: CountingBlobs) -> None:
    store = S3LogStore(blobs, BUCKET)
    writer = store.open("dep-1", "deploy")
    writer.write("a\nb\nc\nd")
    writer.flush()
    first_two = store.read("dep-1", "deploy", 0, 2)
    assert [x.message for x in first_two] == ["a", "b"]
    assert [x.message for x in store.read("dep-1", "deploy", first_two[-1].seq, 500)] == ["c", "d"]
    assert [x.message for x in follow(store, limit=1)] == ["a", "b", "c", "d"]


def test_a_failed_flush_stores_its_lines_once_later_with_the_same_numbers(blobs: CountingBlobs) -> None:
    store = S3LogStore(blobs, BUCKET)
    writer = store.open("dep-1", "deploy")
    writer.write("before the outage")
    blobs.fail_puts = 1
    with pytest.raises(ConnectionError):
        writer.flush()
    writer.write("after the outage")
    writer.flush()
    read = list(follow(store))
    assert [x.message for x in read] == ["before the outage", "after the outage"]
    assert len(blobs.objects) == 2  # the failed block was stored under its own key, not renumbered


def test_a_retried_step_in_another_process_appends_after_what_was_written(blobs: CountingBlobs) -> None:
    first = S3LogStore(blobs, BUCKET).open("dep-1", "build")
    first.write("attempt 1")
    first.flush()
    again = S3LogStore(blobs, BUCKET).open("dep-1", "build")  # a new container: nothing in memory
    again.write("attempt 2")
    again.flush()
    assert [x.message for x in follow(S3LogStore(blobs, BUCKET), "build")] == ["attempt 1", "attempt 2"]


def _legacy_chunk(blobs: CountingBlobs, first: int, count: int) -> None:
    body = "".join(
        json.dumps({"seq": seq, "ts": "2026-12-01T00:00:00.000Z", "message": f"old {seq}"}) + "\n"
        for seq in range(first, first + count)
    )
    blobs.objects[(BUCKET, f"logs/dep-1/deploy/{first:010d}.jsonl")] = body.encode()


def test_a_stream_written_before_blocks_reads_whole_and_appends_in_its_layout(blobs: CountingBlobs) -> None:
    # GIVEN a stream in the old layout (contiguous numbers, objects named by first seq) whose lines
    # cross a block end (line BLOCK_LINES), where a block cursor would read "nothing after"
    _legacy_chunk(blobs, 1, 3)
    _legacy_chunk(blobs, 4, BLOCK_LINES + 5)
    expected = [f"old {seq}" for seq in range(1, BLOCK_LINES + 9)]
    # WHEN it is read with page sizes that end a page on that line
    # THEN every line comes back once
    for limit in (500, BLOCK_LINES):
        assert [x.message for x in follow(S3LogStore(blobs, BUCKET), limit=limit)] == expected
    # AND a writer appends to it without mixing layouts
    writer = S3LogStore(blobs, BUCKET).open("dep-1", "deploy")
    writer.write("new")
    writer.flush()
    read = list(follow(S3LogStore(blobs, BUCKET)))
    assert [x.message for x in read] == [*expected, "new"]
    assert read[-1].seq == BLOCK_LINES + 9


def test_on_s3_a_missing_block_is_nothing_new_not_an_error() -> None:
    import boto3

    from chalicelib.adapters.storage import S3BlobStore
    from tests.support.moto_inprocess import in_process_aws

    with in_process_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        store = S3LogStore(S3BlobStore(), BUCKET)
        writer = store.open("dep-1", "deploy")
        writer.write("hello")
        writer.flush()
        page = store.read("dep-1", "deploy", 0, 500)
        assert [x.message for x in page] == ["hello"]
        assert store.read("dep-1", "deploy", page[-1].seq, 500) == []
        assert store.read("dep-1", "build", 0, 500) == []
