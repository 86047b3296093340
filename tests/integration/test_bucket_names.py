"""Bucket names carry the account and the region (S3 names are global), and a local data directory
made before that keeps its objects: the emulator (a real child process, as `railyard dev` runs it)
reloads what it kept under the old name, and the bootstrap moves it into the renamed bucket once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib.adapters.aws import client, error_code, reset_clients
from chalicelib.config import Settings
from railyard.localdev.bootstrap import bootstrap
from railyard.localdev.children import Child, start_emulator
from railyard.localdev.emulator_auth import ensure_credentials

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def local_aws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Child]]:
    """Starts the emulator on `tmp_path/aws` (again, for each item appended); stops them all."""
    started: list[Child] = []
    key_id, secret = ensure_credentials(tmp_path / "aws")  # the only ones the emulator answers
    for name, value in {
        "AWS_ACCESS_KEY_ID": key_id,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": "eu-west-1",
        "RAILYARD_STAGE": "dev",
        "RAILYARD_DATA_DIR": str(tmp_path / "data"),
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "RAILYARD_ACCOUNT_ID", "RAILYARD_PRIMARY_REGION"):
        monkeypatch.delenv(name, raising=False)
    yield started
    for child in started:
        child.stop()
    reset_clients()


def _restart(started: list[Child], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for child in started:
        child.stop()
    child, port = start_emulator(tmp_path / "aws", 0, tmp_path / "aws.log")
    started.append(child)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    reset_clients()


def _bucket_exists(name: str) -> bool:
    try:
        client("s3").head_bucket(Bucket=name)
        return True
    except Exception as error:
        assert error_code(error) in {"404", "NoSuchBucket"}, error
        return False


def test_bucket_names_carry_account_and_region_and_a_data_dir_from_before_keeps_its_objects(
    local_aws: list[Child], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a data directory whose emulator kept a source under the old bucket name
    _restart(local_aws, tmp_path, monkeypatch)
    client("s3").create_bucket(
        Bucket="railyard-dev-sources", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    client("s3").put_object(Bucket="railyard-dev-sources", Key="sources/svc_1/a.tar.gz", Body=b"kept")

    # WHEN `railyard dev` starts again on it (a new emulator, then the bootstrap)
    _restart(local_aws, tmp_path, monkeypatch)
    settings = Settings.from_env()
    bootstrap(settings.catalogue, settings.account_id)

    # THEN the bucket is named for the account and region, and holds the source; the old one is gone
    assert settings.sources_bucket == "railyard-dev-sources-123456789012-eu-west-1"
    body = client("s3").get_object(Bucket=settings.sources_bucket, Key="sources/svc_1/a.tar.gz")["Body"]
    assert body.read() == b"kept"
    assert not _bucket_exists("railyard-dev-sources")

    # AND after another restart the move is still on disk: the renamed bucket reloads the source,
    # and the old name, created again, reloads nothing
    _restart(local_aws, tmp_path, monkeypatch)
    here = {"CreateBucketConfiguration": {"LocationConstraint": "eu-west-1"}}
    for name in (settings.sources_bucket, "railyard-dev-sources"):
        client("s3").create_bucket(Bucket=name, **here)
    body = client("s3").get_object(Bucket=settings.sources_bucket, Key="sources/svc_1/a.tar.gz")["Body"]
    assert body.read() == b"kept"
    assert client("s3").list_objects_v2(Bucket="railyard-dev-sources")["KeyCount"] == 0
