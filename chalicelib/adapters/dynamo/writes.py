"""The repository's writes: each entity put on the condition of its version, one item as a
conditional PutItem and more in one TransactWriteItems, and DynamoDB's refusals turned into domain
errors (Conflict, NotFound, PayloadTooLarge) naming the entity at fault."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.adapters.dynamo.items import _item
from chalicelib.adapters.dynamo.layout import SERVICE, _describe, _key
from chalicelib.adapters.dynamo.table import OnTable, _Table
from chalicelib.domain.errors import Conflict, NotFound, PayloadTooLarge
from chalicelib.domain.ports import Entity

if TYPE_CHECKING:
    from pynamodb.expressions.condition import Condition
    from pynamodb.models import Model

MAX_TRANSACTION_ITEMS = 100  # the TransactWriteItems limit
_CONDITIONAL_CHECK_FAILED = "ConditionalCheckFailed"  # a cancellation reason's code in a transaction
_CONDITIONAL_CHECK_FAILED_EXCEPTION = "ConditionalCheckFailedException"  # the error code of a PutItem
# An item above DynamoDB's 400 KB: a ValidationException (a cancellation reason "ValidationError" in
# a transaction) told apart from other validation errors only by AWS's own message.
_VALIDATION_CODES = frozenset({"ValidationException", "ValidationError"})
_ITEM_TOO_LARGE_MESSAGE = "Item size has exceeded the maximum allowed size"


def _condition(version: int) -> Condition:
    from pynamodb.expressions.operand import Path

    if version == 1:
        return Path("pk").does_not_exist()
    return Path("version") == version - 1


def _conflict(entity: Entity) -> Conflict:
    if entity.version == 1:
        return Conflict(f"{_describe(entity)} already exists")
    return Conflict(f"{_describe(entity)} was changed concurrently (expected version {entity.version - 1})")


def _item_too_large(code: str | None, message: str | None) -> bool:
    return code in _VALIDATION_CODES and _ITEM_TOO_LARGE_MESSAGE in (message or "")


def _too_large(*entities: Entity) -> PayloadTooLarge:
    # The last line of defence: the limits in domain/limits.py keep items far below 400 KB, so
    # reaching this means a field escaped them; the caller gets a 413, not a 500.
    which = " or ".join(_describe(entity) for entity in entities)
    return PayloadTooLarge(
        f"{which} would exceed DynamoDB's item size limit (400 KB); make variables or settings smaller"
    )


class RepositoryWrites(OnTable):
    """The writing half of `DynamoRepository` (chalicelib/adapters/dynamo/repository.py)."""

    def save(self, *entities: Entity) -> None:
        """Write all entities or none, each conditioned on its version; Conflict if one is stale."""
        if not entities:
            return
        puts = self._puts(entities)
        if len(puts) == 1:
            self._put(*puts[0])
        else:
            self._transact(self._t, puts)

    def save_for_service(self, service_id: str, *entities: Entity) -> None:
        """`save` in one TransactWriteItems with a ConditionCheck that the service item exists: a
        deployment made from a service's id alone (ADR 0034) is refused, NotFound, when no such
        service was ever made or it was deleted, and nothing is written."""
        self._transact(self._t, self._puts(entities), service_id)

    def _puts(self, entities: tuple[Entity, ...]) -> list[tuple[Entity, Model, Condition]]:
        if len(entities) > MAX_TRANSACTION_ITEMS:
            raise ValueError(f"one save writes at most {MAX_TRANSACTION_ITEMS} entities, got {len(entities)}")
        table = self._t
        puts: list[tuple[Entity, Model, Condition]] = []
        seen: set[tuple[str, str]] = set()
        for entity in entities:
            if entity.version < 1:
                raise ValueError(f"{_describe(entity)} has version {entity.version}; bump it before saving")
            item = _item(table, entity)
            key = (item.attribute_values["pk"], item.attribute_values["sk"])
            if key in seen:
                # DynamoDB rejects a transaction touching one item twice; say which one.
                raise ValueError(f"{_describe(entity)} appears twice in one save")
            seen.add(key)
            puts.append((entity, item, _condition(entity.version)))
        return puts

    @staticmethod
    def _put(entity: Entity, item: Model, condition: Condition) -> None:
        # One item needs no transaction: a conditional PutItem is as atomic at half the capacity.
        from pynamodb.exceptions import PutError

        try:
            item.save(condition=condition)
        except PutError as error:
            if error.cause_response_code == _CONDITIONAL_CHECK_FAILED_EXCEPTION:
                raise _conflict(entity) from error
            if _item_too_large(error.cause_response_code, error.cause_response_message):
                raise _too_large(entity) from error
            raise

    @staticmethod
    def _transact(
        table: _Table, puts: list[tuple[Entity, Model, Condition]], service_id: str | None = None
    ) -> None:
        from pynamodb.exceptions import TransactWriteError
        from pynamodb.expressions.operand import Path
        from pynamodb.transactions import TransactWrite

        try:
            with TransactWrite(connection=table.connection) as transaction:
                if service_id is not None:  # PynamoDB sends condition checks first
                    service = (_key(SERVICE, service_id), SERVICE)
                    transaction.condition_check(table.item, *service, condition=Path("pk").exists())
                for _, item, condition in puts:
                    transaction.save(item, condition=condition)
        except TransactWriteError as error:
            # Reasons come back one per item, in request order; None for items that were fine.
            reasons = list(error.cancellation_reasons or [])
            if service_id is not None and reasons:
                checked = reasons.pop(0)
                if checked is not None and checked.code == _CONDITIONAL_CHECK_FAILED:
                    raise NotFound(f"service {service_id} not found") from error
            for (entity, _, _), reason in zip(puts, reasons, strict=False):
                if reason is not None and reason.code == _CONDITIONAL_CHECK_FAILED:
                    raise _conflict(entity) from error
                if reason is not None and _item_too_large(reason.code, reason.message):
                    raise _too_large(entity) from error
            if _item_too_large(error.cause_response_code, error.cause_response_message):
                raise _too_large(*(entity for entity, _, _ in puts)) from error  # it says not which
            raise
