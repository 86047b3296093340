"""Idempotency records of the API's creating requests: Powertools Idempotency on the single table.

A request that carries an `Idempotency-Key` runs at most once per (caller, route, key) while its
record lives (24 h by default, RAILYARD_IDEMPOTENCY_TTL_SECONDS): a repeat with the same body gets
the first answer back, byte for byte, and runs nothing; a repeat with another body is refused
(IdempotencyKeyReused); a repeat while the first is still running is refused too
(RequestInProgress). Only successful answers are kept: when the request raises (a domain error, a
failed dependency) Powertools deletes the record, so a retry with the same key runs again.

The records live in the main table (docs/decisions/0008-idempotency-keys.md), in the item shape of
Powertools' DynamoDB persistence layer but under the house's keys: `pk = IDEMPOTENCY#<hash>`,
`sk = IDEMPOTENCY`, where `<hash>` is `api#sha256(scope, route, key)`; the expiry is the table's
TTL attribute `expires_at`. The only Powertools internal this relies on is the persistence layer's
`_get_key` (overridden to make that key shape; aws-lambda-powertools is pinned in requirements.txt),
so each record has its own partition instead of all sharing Powertools' static partition key.

Powertools (and boto3 under it) is imported on first use, so importing this module is cheap.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.errors import IdempotencyKeyReused, RequestInProgress, TransientError

RECORD_KIND = "IDEMPOTENCY"  # pk prefix and sk of every record (chalicelib/adapters/dynamo/)
KEY_PREFIX = "api"  # Powertools' key prefix: the part of the hashed key that names the user
TTL_ATTRIBUTE = "expires_at"  # the main table's TTL attribute
# How long a record stays "in progress" when the request's process dies before answering: the API
# Lambda's timeout (.chalice/config.json lambda_timeout). Powertools reads it from the Lambda
# context's remaining time; a local server's context allows 900 s, which would block a key for 15
# minutes after a crash of `railyard dev`, so the remaining time is capped at this bound.
IN_PROGRESS_BOUND_MS = 30_000


@dataclass(frozen=True)
class Answer:
    """What the client gets: the first run's status and JSON text, and whether this is a replay."""

    status: int
    body: str
    replayed: bool = False


@dataclass(frozen=True)
class _Deadline:
    """The one method of a Lambda context Powertools reads: when the in-progress record expires."""

    remaining_ms: int

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


class DynamoIdempotency:
    """Runs an action once per (scope, route, key), remembering its answer in the main table."""

    def __init__(self, table_name: str, expires_after_seconds: int, client: Any | None = None) -> None:
        self._table_name = table_name
        self._expires_after_seconds = expires_after_seconds
        self._client = client
        self._layer: Any = None
        self._lock = threading.Lock()

    def once(
        self,
        *,
        scope: str,
        route: str,
        key: str,
        body: Any,
        action: Callable[[], tuple[int, str]],
        remaining_ms: float | None = None,
    ) -> Answer:
        """`action` returns (status, JSON text). `scope` names the caller, `route` the method and
        concrete path; both are part of the record's key, so another caller or another path never
        sees this key. `body` is what a repeat must match."""
        from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyAlreadyInProgressError,
            IdempotencyPersistenceLayerError,
            IdempotencyValidationError,
        )

        bound = IN_PROGRESS_BOUND_MS if remaining_ms is None else min(int(remaining_ms), IN_PROGRESS_BOUND_MS)
        config = IdempotencyConfig(
            event_key_jmespath="[scope, route, key]",
            payload_validation_jmespath="body",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=self._expires_after_seconds,
            hash_function="sha256",
            lambda_context=_Deadline(bound),  # type: ignore[arg-type]
            response_hook=lambda response, _record: {**response, "replayed": True},
        )

        @idempotent_function(
            data_keyword_argument="request",
            persistence_store=self._persistence_layer(),
            config=config,
            key_prefix=KEY_PREFIX,
        )
        def run(request: dict[str, Any]) -> dict[str, Any]:
            status, text = action()
            return {"status": status, "body": text}

        try:
            stored = run(request={"scope": scope, "route": route, "key": key, "body": body})
        except IdempotencyValidationError:
            raise IdempotencyKeyReused(
                f"Idempotency-Key {key!r} was already used for {route} with a different body; "
                "send a new key for a new request"
            ) from None
        except IdempotencyAlreadyInProgressError:
            raise RequestInProgress(
                f"a request with Idempotency-Key {key!r} for {route} is still in progress; "
                "retry in a moment with the same key"
            ) from None
        except IdempotencyPersistenceLayerError as error:
            raise TransientError(
                f"the record of Idempotency-Key {key!r} could not be read or written: {error}"
            ) from error
        return Answer(int(stored["status"]), str(stored["body"]), bool(stored.get("replayed", False)))

    def _persistence_layer(self) -> Any:
        # One layer per container: Powertools configures a layer once, from its first config (the
        # same settings every time here); the per-request parts (deadline, hook) are read from the
        # config each call passes.
        if self._layer is None:
            with self._lock:
                if self._layer is None:
                    self._layer = _single_table_layer(self._table_name, self._client)
        return self._layer


def _single_table_layer(table_name: str, client: Any | None) -> Any:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    from chalicelib.adapters.aws import client as aws_client

    class SingleTableLayer(DynamoDBPersistenceLayer):
        """Powertools' layer with the house's key shape (see the module docstring)."""

        def _get_key(self, idempotency_key: str) -> dict[str, Any]:
            return {"pk": {"S": f"{RECORD_KIND}#{idempotency_key}"}, "sk": {"S": RECORD_KIND}}

    return SingleTableLayer(
        table_name=table_name,
        key_attr="pk",
        sort_key_attr="sk",
        expiry_attr=TTL_ATTRIBUTE,
        boto3_client=client or aws_client("dynamodb"),
    )
