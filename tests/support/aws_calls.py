"""Counting the AWS calls a request makes (the API's cost and latency, issue 10 part 11).

Every AWS call, PynamoDB's included, goes through botocore's `BaseClient._make_api_call`, which is
where botocore emits its `before-call` event; the counter hooks in there, so it sees the calls of
clients made before it started too (the container builds its clients once)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def count_aws_calls() -> Iterator[list[str]]:
    """Yields a list that fills with "service.Operation" for each AWS call while it is open."""
    from botocore.client import BaseClient

    calls: list[str] = []
    original = BaseClient._make_api_call

    def counting(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        calls.append(f"{self.meta.service_model.service_name}.{operation_name}")
        return original(self, operation_name, api_params)

    BaseClient._make_api_call = counting  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        BaseClient._make_api_call = original  # type: ignore[method-assign]
