"""The PynamoDB model classes of the table (its item attributes and both indexes), bound once per
(table, region, endpoint) from the environment, and `OnTable`, the base of every store on it."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib.adapters.dynamo.layout import INDEX_NAME, UNFINISHED_INDEX_NAME

if TYPE_CHECKING:
    from pynamodb.connection import Connection
    from pynamodb.models import Model


@dataclass(frozen=True)
class _Table:
    """The PynamoDB model class bound to one table, and a connection for its transactions."""

    item: type[Model]
    connection: Connection


@functools.cache
def _bind(name: str, region_name: str | None, endpoint: str | None) -> _Table:
    """Build the model classes for one table (PynamoDB binds table, region and host per class)."""
    from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute
    from pynamodb.connection import Connection
    from pynamodb.constants import PAY_PER_REQUEST_BILLING_MODE
    from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
    from pynamodb.models import Model

    class ByParent(GlobalSecondaryIndex[Model]):
        """gsi1: children listed under their parent (see the layout table)."""

        class Meta:
            index_name = INDEX_NAME
            projection = AllProjection()

        gsi1pk = UnicodeAttribute(hash_key=True)
        gsi1sk = UnicodeAttribute(range_key=True)

    class Unfinished(GlobalSecondaryIndex[Model]):
        """gsi2: sparse, deployments in progress only (see the module docstring)."""

        class Meta:
            index_name = UNFINISHED_INDEX_NAME
            projection = AllProjection()

        gsi2pk = UnicodeAttribute(hash_key=True)
        gsi2sk = UnicodeAttribute(range_key=True)

    class Item(Model):
        class Meta:
            table_name = name
            region = region_name
            host = endpoint
            billing_mode = PAY_PER_REQUEST_BILLING_MODE

        pk = UnicodeAttribute(hash_key=True)
        sk = UnicodeAttribute(range_key=True)
        kind = UnicodeAttribute()
        version = NumberAttribute()
        body = JSONAttribute()
        status = UnicodeAttribute(null=True)
        expires_at = NumberAttribute(null=True)  # TTL_ATTRIBUTE
        last_used_at = UnicodeAttribute(null=True)  # tokens only: set in place by mark_token_used
        gsi1pk = UnicodeAttribute(null=True)
        gsi1sk = UnicodeAttribute(null=True)
        gsi1 = ByParent()
        gsi2pk = UnicodeAttribute(null=True)
        gsi2sk = UnicodeAttribute(null=True)
        gsi2 = Unfinished()

    return _Table(item=Item, connection=Connection(region=region_name, host=endpoint))


def _table(table_name: str) -> _Table:
    """The bound model for `table_name` where the environment points now (region, endpoint)."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None
    # The service-specific variable wins, as it does in botocore itself; no endpoint lives in code.
    endpoint = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or os.environ.get("AWS_ENDPOINT_URL") or None
    return _bind(table_name, region, endpoint)


class OnTable:
    """A store on the platform's table, bound on first use (constructing it costs no import or I/O).
    The repository and the accounts, tokens and audit stores all start from it."""

    def __init__(self, table_name: str) -> None:
        self._table_name = table_name
        self._bound: _Table | None = None

    @property
    def _t(self) -> _Table:
        if self._bound is None:
            self._bound = _table(self._table_name)
        return self._bound
