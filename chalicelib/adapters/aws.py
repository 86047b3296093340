"""boto3 clients, built lazily and once per container.

Every client honours `AWS_ENDPOINT_URL` (moto, LocalStack or nothing for a real account) through
boto3 itself: no endpoint lives in code. boto3 is imported here, inside the function, so importing an
adapter module stays cheap for Lambda cold starts.
"""

from __future__ import annotations

import os
import threading
from typing import Any

_clients: dict[tuple[str, str | None], Any] = {}
_lock = threading.Lock()
# botocore's loader of service models (JSON, ~0.1 s a service to read), shared by every session:
# a session per client keeps clients independent, and reset_clients() does not read them again.
_loader: Any = None


def client(service: str, region: str | None = None) -> Any:
    """A shared boto3 client for `service` (boto3 clients are thread-safe; sessions are not), in
    `region` when given (the buckets of a multi-region stage live in its primary region), else in
    the environment's region."""
    key = (service, region)
    found = _clients.get(key)
    if found is not None:
        return found
    with _lock:
        if key not in _clients:
            import boto3
            from botocore.config import Config

            config = Config(
                retries={"mode": "standard", "max_attempts": 3},
                max_pool_connections=32,
                s3={"addressing_style": "path"} if os.environ.get("AWS_ENDPOINT_URL") else None,
                # SigV4 for S3: presigned URLs name their region (SigV2's do not, and regions opened
                # since 2014 refuse them).
                signature_version="s3v4" if service == "s3" else None,
            )
            _clients[key] = _session(boto3).client(service, region_name=region, config=config)
        return _clients[key]


def _session(boto3: Any) -> Any:
    """A new boto3 session whose botocore session reads service models through the shared loader."""
    import botocore.session

    global _loader
    core = botocore.session.Session()
    if _loader is None:
        _loader = core.get_component("data_loader")
    else:
        core.register_component("data_loader", _loader)
    return boto3.session.Session(botocore_session=core)


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
