"""The local platform's AWS emulator (railyard/localdev/emulator.py) as a real child process: what a
client was told is written survives a SIGKILL, and concurrent DynamoDB writes never undo each other.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from chalicelib.adapters.aws import client, reset_clients
from chalicelib.adapters.dynamo.schema import create_table
from railyard.localdev.children import Child, start_emulator
from railyard.localdev.emulator_auth import ensure_credentials

TABLE = "railyard-emulator-test"
BUCKET = "railyard-emulator-test"


class Emulator:
    def __init__(self, directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.directory = directory
        self.monkeypatch = monkeypatch
        self.child: Child | None = None

    def start(self) -> None:
        key_id, secret = ensure_credentials(self.directory / "aws")  # it answers only these
        self.child, port = start_emulator(self.directory / "aws", 0, self.directory / "aws.log")
        for name, value in {
            "AWS_ACCESS_KEY_ID": key_id,
            "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        }.items():
            self.monkeypatch.setenv(name, value)
        self.monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
        reset_clients()
        create_table(TABLE)  # as the bootstrap does: this also loads what was kept
        client("s3").create_bucket(Bucket=BUCKET)

    def kill(self) -> None:
        assert self.child is not None
        self.child.proc.kill()  # SIGKILL: no shutdown code runs
        self.child.stop()


@pytest.fixture
def emulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    running = Emulator(tmp_path, monkeypatch)
    running.start()
    try:
        yield running
    finally:
        if running.child is not None:
            running.child.stop()
        reset_clients()


def _item(pk: str, value: int) -> dict:  # type: ignore[type-arg]
    return {"pk": {"S": pk}, "sk": {"S": "ITEM"}, "value": {"N": str(value)}}


def test_acknowledged_items_and_objects_survive_a_sigkill(emulator: Emulator, tmp_path: Path) -> None:
    ddb, s3 = client("dynamodb"), client("s3")
    ddb.put_item(TableName=TABLE, Item=_item("a", 1))
    ddb.put_item(TableName=TABLE, Item=_item("gone", 1))
    ddb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": TABLE, "Item": _item("b", 2)}},
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": {"pk": {"S": "a"}, "sk": {"S": "ITEM"}},
                    "UpdateExpression": "SET #v = :v",
                    "ExpressionAttributeNames": {"#v": "value"},
                    "ExpressionAttributeValues": {":v": {"N": "3"}},
                }
            },
            {"Delete": {"TableName": TABLE, "Key": {"pk": {"S": "gone"}, "sk": {"S": "ITEM"}}}},
        ]
    )
    url = s3.generate_presigned_url("put_object", Params={"Bucket": BUCKET, "Key": "sources/s/1.tar.gz"})
    assert requests.put(url, data=b"uploaded by the CLI", timeout=10).status_code == 200
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * (9 * 1024 * 1024))  # above boto3's threshold: a multipart upload
    s3.upload_file(str(big), BUCKET, "artifacts/big.bin")
    s3.put_object(Bucket=BUCKET, Key="logs/removed", Body=b"1")
    s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "logs/removed"}]})
    etags = {o["Key"]: o["ETag"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert etags["artifacts/big.bin"].endswith('-2"')  # really multipart

    emulator.kill()
    emulator.start()

    ddb, s3 = client("dynamodb"), client("s3")
    items = {i["pk"]["S"]: i["value"]["N"] for i in ddb.scan(TableName=TABLE)["Items"]}
    assert items == {"a": "3", "b": "2"}
    assert {o["Key"]: o["ETag"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]} == etags
    body = s3.get_object(Bucket=BUCKET, Key="sources/s/1.tar.gz")["Body"].read()
    assert body == b"uploaded by the CLI"
    assert s3.head_object(Bucket=BUCKET, Key="artifacts/big.bin")["ContentLength"] == 9 * 1024 * 1024


def test_concurrent_transactions_that_fail_their_condition_undo_no_other_write(emulator: Emulator) -> None:
    """moto restores a whole copy of the table when it cancels a transaction; unserialized, about 1
    in 70 confirmed writes of concurrent threads came back reverted."""
    ddb = client("dynamodb")
    ddb.put_item(TableName=TABLE, Item=_item("taken", 0))
    confirmed: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()

    def writer(thread: int) -> None:
        local = client("dynamodb")
        for n in range(25):
            pk = f"t{thread}-{n}"
            try:
                local.transact_write_items(
                    TransactItems=[
                        {"Put": {"TableName": TABLE, "Item": _item(pk, n)}},
                        {"Put": {"TableName": TABLE, "Item": _item(f"{pk}-pair", n)}},
                    ]
                )
                with lock:
                    confirmed.append(pk)
                # A transaction that is cancelled: its condition fails on an existing item.
                local.transact_write_items(
                    TransactItems=[
                        {"Put": {"TableName": TABLE, "Item": _item(f"{pk}-never", n)}},
                        {
                            "Put": {
                                "TableName": TABLE,
                                "Item": _item("taken", n),
                                "ConditionExpression": "attribute_not_exists(pk)",
                            }
                        },
                    ]
                )
                errors.append(f"{pk}: the failing transaction succeeded")
            except local.exceptions.TransactionCanceledException:
                pass
            except Exception as error:  # anything else is a defect of the emulator
                errors.append(f"{pk}: {error!r}")

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    stored = {i["pk"]["S"] for i in ddb.scan(TableName=TABLE)["Items"]}
    missing = [pk for pk in confirmed if pk not in stored or f"{pk}-pair" not in stored]
    assert len(confirmed) == 200
    assert missing == []
    assert not any(pk.endswith("-never") for pk in stored)
