"""`railyard dev --aws localstack` for tests: whether it can run here, the platform on it, and
clients that look inside LocalStack and DynamoDB Local (not through the platform) to check what
they hold.

The platform starts LocalStack and DynamoDB Local itself, as children tied to its life
(railyard/localdev/targets.py); stopping the platform (tests/support/platform.py) stops them.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from railyard.localdev import localstack
from tests.support.platform import Dev, DevProcess

CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
REGION = "us-east-1"


def skip_reason() -> str | None:
    """Why LocalStack cannot run on this machine (no Python 3.13 for its venv, or no Java for
    DynamoDB Local), or None."""
    return localstack.missing_reason()


@dataclass
class LocalStackDev:
    dev: Dev
    process: DevProcess
    aws_endpoint_url: str  # LocalStack
    dynamodb_url: str  # DynamoDB Local

    def localstack_client(self, service: str) -> Any:
        """A boto3 client on the platform's LocalStack, built by localstack-client."""
        from localstack_client.session import Session

        host = self.aws_endpoint_url.removeprefix("http://")
        return Session(region_name=REGION, localstack_host=host, **CREDENTIALS).client(service)

    def dynamodb_client(self) -> Any:
        import boto3

        return boto3.client("dynamodb", endpoint_url=self.dynamodb_url, region_name=REGION, **CREDENTIALS)


@contextlib.contextmanager
def running_localstack_dev(home: Path) -> Iterator[LocalStackDev]:
    """`railyard dev --aws localstack` on free ports; SIGTERM (then SIGKILL) at the end."""
    process = DevProcess(home, args=("--aws", "localstack"))
    try:
        dev = process.start()
        state = json.loads((home / "dev.json").read_text())
        assert state["aws"] == "localstack", state
        yield LocalStackDev(dev, process, state["aws_endpoint_url"], state["dynamodb_url"])
    finally:
        process.close()
