"""The bootstrap derives a queue's ARN from the URL CreateQueue answered (no GetQueueAttributes per
queue): right for AWS's, moto's and LocalStack's URL forms and for every partition."""

from __future__ import annotations

import boto3
import pytest

from railyard.localdev.bootstrap import _queue_arn


def _sqs(region: str) -> object:
    # No request is sent: the client only names its region and partition.
    return boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x").client(
        "sqs", region_name=region, endpoint_url="http://127.0.0.1:9"
    )


@pytest.mark.parametrize(
    ("region", "url", "arn"),
    [
        (
            "us-east-1",
            "http://127.0.0.1:5000/123456789012/railyard-dev-build",  # moto
            "arn:aws:sqs:us-east-1:123456789012:railyard-dev-build",
        ),
        (
            "eu-west-1",
            "https://sqs.eu-west-1.amazonaws.com/210987654321/railyard-prod-deploy-dlq",  # AWS
            "arn:aws:sqs:eu-west-1:210987654321:railyard-prod-deploy-dlq",
        ),
        (
            "us-east-1",
            "http://sqs.us-east-1.localhost.localstack.cloud:4566/000000000000/railyard-dev-build",
            "arn:aws:sqs:us-east-1:000000000000:railyard-dev-build",
        ),
        (
            "us-east-1",
            "http://localhost:4566/queue/us-east-1/000000000000/railyard-dev-build",  # LocalStack "path"
            "arn:aws:sqs:us-east-1:000000000000:railyard-dev-build",
        ),
        (
            "cn-north-1",
            "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q",
            "arn:aws-cn:sqs:cn-north-1:123456789012:q",
        ),
        (
            "us-gov-west-1",
            "https://sqs.us-gov-west-1.amazonaws.com/123456789012/q",
            "arn:aws-us-gov:sqs:us-gov-west-1:123456789012:q",
        ),
    ],
)
def test_a_queue_arn_is_its_urls_account_and_name_in_the_clients_region_and_partition(
    region: str, url: str, arn: str
) -> None:
    assert _queue_arn(_sqs(region), url) == arn
