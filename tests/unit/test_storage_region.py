"""The buckets of a multi-region stage live in its primary region: upload URLs an API in another
region hands out must be signed for the buckets' region, or the CLI's upload is refused."""

from __future__ import annotations

import pytest

from chalicelib.adapters.aws import reset_clients
from chalicelib.adapters.storage import S3BlobStore


@pytest.fixture
def aws_in_a_secondary_region(monkeypatch: pytest.MonkeyPatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "ap-southeast-2",
        "AWS_REGION": "ap-southeast-2",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    reset_clients()
    yield
    reset_clients()


def test_upload_urls_are_signed_for_the_buckets_region(aws_in_a_secondary_region: None) -> None:
    upload = S3BlobStore(region="eu-west-1").presign_post("railyard-prod-sources", "k.tar.gz", 60, 100)
    assert "/eu-west-1/s3/aws4_request" in upload.fields["x-amz-credential"]  # the signature's scope

    local = S3BlobStore().presign_post("railyard-prod-sources", "k.tar.gz", 60, 100)
    assert (
        "/ap-southeast-2/s3/aws4_request" in local.fields["x-amz-credential"]
    )  # no region: the environment's
