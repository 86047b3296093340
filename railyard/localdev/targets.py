"""Where the local platform's AWS runs: the embedded moto emulator (default) or LocalStack.

The platform's code is the same for both; a target differs only in which children it starts and
the endpoints it puts in the environment (boto3 and PynamoDB read `AWS_ENDPOINT_URL` and
`AWS_ENDPOINT_URL_<SERVICE>`; docs/decisions/0016-localstack-target.md):

- moto: railyard/localdev/emulator.py (durable table and buckets, docs/decisions/0009), with Step
  Functions execution switched on through moto's own API, and `MOTO_PORT` for its interpreter;
  it answers only requests signed with the data directory's own random credentials
  (railyard/localdev/emulator_auth.py), which only the platform's environment holds.
- localstack: LocalStack for S3, SQS, EventBridge and Step Functions (its interpreter executes by
  itself) and DynamoDB Local for the table (`AWS_ENDPOINT_URL_DYNAMODB`), both tethered children;
  or, with RAILYARD_LOCALSTACK_URL set, a LocalStack someone else runs (the Docker path), whole.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from railyard.localdev import children

TARGETS = ("moto", "localstack")


@dataclass
class AwsTarget:
    name: str  # one of TARGETS
    port: int  # the main AWS endpoint's port (moto's, or LocalStack's)
    dynamodb_url: str  # where the table is served
    env: dict[str, str]  # the endpoints and dummy credentials every client reads
    stoppers: list[Callable[[], None]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # said once on the terminal
    external_url: str = ""  # a LocalStack this platform did not start (RAILYARD_LOCALSTACK_URL)

    @property
    def endpoint_url(self) -> str:
        return self.external_url or f"http://127.0.0.1:{self.port}"


def _credentials() -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    }


def start(name: str, data: Path, port: int = 0) -> AwsTarget:
    """Starts target `name` on `port` (0: a free one) with its state under the data dir `data`;
    returns once its endpoints answer. The caller stops it with `stoppers` (last first)."""
    if name == "moto":
        return _start_moto(data, port)
    if name == "localstack":
        return _start_localstack(data, port)
    raise ValueError(f"unknown AWS target {name!r} (use one of: {', '.join(TARGETS)})")


def _start_moto(data: Path, port: int) -> AwsTarget:
    import requests

    from railyard.localdev.emulator_auth import ADMIN_HEADER, ensure_credentials

    # The emulator answers only requests signed with these (railyard/localdev/emulator_auth.py).
    key_id, secret = ensure_credentials(data / "aws")
    emulator, port = children.start_emulator(data / "aws", port, data / "logs" / "aws.log")
    target = AwsTarget("moto", port, f"http://127.0.0.1:{port}", {}, [emulator.stop])
    try:
        credentials = {**_credentials(), "AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret}
        del credentials["AWS_SESSION_TOKEN"]
        target.env = {
            **credentials,
            "AWS_ENDPOINT_URL": target.endpoint_url,
            # moto's Step Functions interpreter calls SQS/EventBridge at localhost:$MOTO_PORT.
            "MOTO_PORT": str(port),
        }
        # moto runs state machines only when told to (LOCAL_AWS_FACTS.md).
        requests.post(
            f"{target.endpoint_url}/moto-api/config",
            json={"stepfunctions": {"execute_state_machine": True}},
            headers={ADMIN_HEADER: secret},
            timeout=10,
        ).raise_for_status()
    except BaseException:
        emulator.stop()
        raise
    return target


def _start_localstack(data: Path, port: int) -> AwsTarget:
    from railyard.localdev import dynamodb_local, free_port, localstack

    external = localstack.external_url()
    if external:
        return _use_external_localstack(external)
    reason = localstack.missing_reason()
    if reason is not None:
        raise RuntimeError(f"--aws localstack: {reason}")
    found = dynamodb_local.find()
    assert found is not None  # missing_reason checked it
    port = port or free_port()
    dynamodb_port = free_port()
    target = AwsTarget("localstack", port, f"http://127.0.0.1:{dynamodb_port}", {})
    try:
        # Both at once: LocalStack's start (~8 s) hides the JVM's (~2 s).
        stack = localstack.start(port, data / "localstack", data / "logs" / "localstack.log")
        target.stoppers.append(lambda: stack.stop(timeout=20.0))
        table, loopback = dynamodb_local.start(
            found, dynamodb_port, data / "dynamodb", data / "logs" / "dynamodb-local.log"
        )
        target.stoppers.append(lambda: table.stop(timeout=20.0))
        if not loopback:
            target.notes.append(
                f"no javac: DynamoDB Local listens on every interface (port {dynamodb_port}), "
                "not just 127.0.0.1"
            )
        localstack.wait_all(
            [
                (table, lambda: localstack.dynamodb_ready(dynamodb_port)),
                (stack, lambda: localstack.ready(port)),
            ]
        )
    except BaseException:
        for stop in reversed(target.stoppers):
            stop()
        raise
    target.env = {
        **_credentials(),
        "AWS_ENDPOINT_URL": target.endpoint_url,
        "AWS_ENDPOINT_URL_DYNAMODB": target.dynamodb_url,
        # Step Functions ARNs name the account; LocalStack's is not moto's 123456789012.
        "RAILYARD_ACCOUNT_ID": localstack.ACCOUNT_ID,
    }
    return target


def _use_external_localstack(url: str) -> AwsTarget:
    """A LocalStack someone else runs (localstack/docker-compose.yml): nothing to start or stop;
    its own DynamoDB serves the table (in Docker it can fetch DynamoDB Local itself)."""
    from urllib.parse import urlsplit

    from railyard.localdev import localstack

    parsed = urlsplit(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    target = AwsTarget("localstack", port, url, {}, external_url=url)
    if not localstack.wait_external(url):
        raise RuntimeError(f"RAILYARD_LOCALSTACK_URL={url}: LocalStack does not answer there")
    target.env = {
        **_credentials(),
        "AWS_ENDPOINT_URL": url,
        "RAILYARD_ACCOUNT_ID": localstack.ACCOUNT_ID,
    }
    return target
