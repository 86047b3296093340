"""The local platform's AWS emulator answers only requests signed with the data directory's own
credentials (railyard/localdev/emulator_auth.py): a tenant that finds its port gets 403, with no
key, a made-up key, the right key id with a wrong secret, or a presigned URL it altered; the
platform's own clients and the presigned URLs it hands out keep working."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import requests

from railyard.localdev.children import Child, start_emulator
from railyard.localdev.emulator_auth import ADMIN_HEADER, ensure_credentials

BUCKET = "railyard-auth-test"


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    directory = tmp_path_factory.mktemp("emulator")
    key_id, secret = ensure_credentials(directory / "aws")
    child: Child
    child, port = start_emulator(directory / "aws", 0, directory / "aws.log")
    try:
        yield f"http://127.0.0.1:{port}", key_id, secret
    finally:
        child.stop()


def _client(service: str, url: str, key_id: str, secret: str) -> object:
    from botocore.config import Config

    return boto3.client(
        service,
        # As the platform's clients (chalicelib/adapters/aws.py): SigV4 presigned URLs; the
        # emulator refuses SigV2's, which the platform never makes.
        config=Config(signature_version="s3v4" if service == "s3" else None),
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        aws_session_token=None,
    )


def test_the_platforms_signed_requests_and_presigned_urls_work(emulator: tuple[str, str, str]) -> None:
    url, key_id, secret = emulator
    s3 = _client("s3", url, key_id, secret)
    s3.create_bucket(Bucket=BUCKET)  # type: ignore[attr-defined]
    put = s3.generate_presigned_url(  # type: ignore[attr-defined]
        "put_object", Params={"Bucket": BUCKET, "Key": "src/a b+c.tar.gz"}, ExpiresIn=60
    )
    assert requests.put(put, data=b"source", timeout=10).status_code == 200
    body = s3.get_object(Bucket=BUCKET, Key="src/a b+c.tar.gz")["Body"].read()  # type: ignore[attr-defined]
    assert body == b"source"
    tables = _client("dynamodb", url, key_id, secret).list_tables()  # type: ignore[attr-defined]
    assert "TableNames" in tables
    # An altered presigned URL (another key) is refused.
    assert requests.put(put.replace("a%20b", "other"), data=b"x", timeout=10).status_code == 403


@pytest.mark.parametrize("who", ["unsigned", "made-up key", "wrong secret"])
def test_anyone_else_gets_403(emulator: tuple[str, str, str], who: str) -> None:
    url, key_id, secret = emulator
    if who == "unsigned":
        answer = requests.post(
            url,
            data="{}",
            headers={
                "X-Amz-Target": "DynamoDB_20120810.ListTables",
                "Content-Type": "application/x-amz-json-1.0",
            },
            timeout=10,
        )
        assert answer.status_code == 403
        return
    credentials = ("AKIAMADEUP", secret) if who == "made-up key" else (key_id, "not-the-secret")
    with pytest.raises(Exception, match=r"AccessDenied|403"):
        _client("dynamodb", url, *credentials).list_tables()  # type: ignore[attr-defined]


def test_the_emulators_own_api_needs_the_secret(emulator: tuple[str, str, str]) -> None:
    url, _, secret = emulator
    assert requests.post(f"{url}/moto-api/reset", timeout=10).status_code == 403
    config = requests.get(f"{url}/moto-api/config", headers={ADMIN_HEADER: secret}, timeout=10)
    assert config.ok, config.status_code


def test_the_credentials_are_private_to_the_platform(tmp_path: Path) -> None:
    ensure_credentials(tmp_path / "aws")
    assert (tmp_path / "aws").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "aws" / "credentials.json").stat().st_mode & 0o777 == 0o600
    assert ensure_credentials(tmp_path / "aws") == ensure_credentials(tmp_path / "aws")  # stable
