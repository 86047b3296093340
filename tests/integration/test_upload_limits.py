"""The source upload against S3 on moto: a presigned POST whose policy bounds the size, sent by the
CLI's client as multipart form data; the CLI refuses an oversized tarball before sending it, and the
build refuses what moto let through (moto does not enforce content-length-range)."""

from __future__ import annotations

import hashlib

import pytest
import requests

from chalicelib.adapters.sources import TarballSources
from chalicelib.adapters.storage import S3BlobStore
from chalicelib.domain.errors import BuildFailed
from railyard.client import RailyardClient
from railyard.client_shapes import Upload
from railyard.tarball import TarballError
from tests.support.tarballs import small_source

BUCKET = "sources-upload-test"


@pytest.fixture
def blobs(aws: int) -> S3BlobStore:
    from chalicelib.adapters.aws import client

    client("s3").create_bucket(Bucket=BUCKET)
    return S3BlobStore()


def _upload(blobs: S3BlobStore, key: str, max_bytes: int) -> Upload:
    presigned = blobs.presign_post(BUCKET, key, 60, max_bytes)
    return {
        "uploadUrl": presigned.url,
        "uploadFields": presigned.fields,
        "sourceKey": key,
        "expiresIn": 60,
        "maxBytes": presigned.max_bytes,
    }


def test_the_cli_posts_the_tarball_with_the_presigned_fields(blobs: S3BlobStore) -> None:
    source = small_source()
    upload = _upload(blobs, "sources/svc_1/src_1.tar.gz", 1024 * 1024)

    RailyardClient("http://127.0.0.1:1", "unused").upload_source(upload, source)

    assert blobs.get_bytes(BUCKET, "sources/svc_1/src_1.tar.gz") == source
    assert blobs.etag(BUCKET, "sources/svc_1/src_1.tar.gz") == hashlib.md5(source).hexdigest()


def test_the_cli_refuses_a_tarball_over_the_servers_limit_without_sending_it(blobs: S3BlobStore) -> None:
    upload = _upload(blobs, "sources/svc_1/src_2.tar.gz", 100)

    with pytest.raises(
        TarballError, match="packed source is 101 bytes, over this Railyard's upload limit of 100 bytes"
    ):
        RailyardClient("http://127.0.0.1:1", "unused").upload_source(upload, b"x" * 101)

    assert not blobs.exists(BUCKET, "sources/svc_1/src_2.tar.gz")


def test_an_oversized_post_that_moto_stores_is_refused_by_the_build(blobs: S3BlobStore) -> None:
    """AWS answers 400 EntityTooLarge to this POST. moto 5.2.5 stores it (checked here, so a moto
    that starts enforcing the policy shows up), which is why the build checks the size again."""
    key = "sources/svc_1/src_3.tar.gz"
    source = small_source()
    upload = _upload(blobs, key, len(source) - 1)

    answer = requests.post(
        upload["uploadUrl"], data=upload["uploadFields"], files={"file": ("s.tar.gz", source)}, timeout=10
    )

    assert answer.status_code == 204  # moto does not enforce content-length-range
    with pytest.raises(BuildFailed, match="upload limit: the uploaded source is"):
        TarballSources(blobs, BUCKET, max_upload_bytes=len(source) - 1).inspect(key, "production")
