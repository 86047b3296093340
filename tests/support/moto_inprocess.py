"""moto in this process (`mock_aws`) with dummy credentials, for adapter tests that need no server:
every endpoint variable that would send a call elsewhere is cleared for the duration."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from moto import mock_aws

from chalicelib.adapters import aws

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
# Anything pointing elsewhere would bypass the in-process mock.
ELSEWHERE = (
    "AWS_REGION",
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_CODEBUILD",
)


@contextlib.contextmanager
def in_process_aws() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in CREDENTIALS.items():
            patch.setenv(name, value)
        for name in ELSEWHERE:
            patch.delenv(name, raising=False)
        aws.reset_clients()
        try:
            with mock_aws():
                yield
        finally:
            aws.reset_clients()
