"""boto3 clients, built lazily and once per container.

Every client honours `AWS_ENDPOINT_URL` (moto, LocalStack or nothing for a real account) through
boto3 itself: no endpoint lives in code. boto3 is imported here, inside the function, so importing an
adapter module stays cheap for Lambda cold starts.
"""

from __future__ import annotations

import os
import threading
from typing import Any

_clients: dict[str, Any] = {}
_lock = threading.Lock()


def client(service: str) -> Any:
    """A shared boto3 client for `service` (boto3 clients are thread-safe; sessions are not)."""
    found = _clients.get(service)
    if found is not None:
        return found
    with _lock:
        if service not in _clients:
            import boto3
            from botocore.config import Config

            config = Config(
                retries={"mode": "standard", "max_attempts": 3},
                max_pool_connections=32,
                s3={"addressing_style": "path"} if os.environ.get("AWS_ENDPOINT_URL") else None,
            )
            _clients[service] = boto3.session.Session().client(service, config=config)
        return _clients[service]


def reset_clients() -> None:
    """Forget every client (tests that move AWS_ENDPOINT_URL between runs)."""
    with _lock:
        _clients.clear()


def error_code(error: Exception) -> str:
    """The AWS error code of a botocore ClientError, or '' for anything else."""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""
