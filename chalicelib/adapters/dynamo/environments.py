"""`DynamoEnvironmentStore`: the `EnvironmentStore` port (chalicelib/domain/environments.py) on the
single table. Deleting a service is one TransactWriteItems of unconditional deletes: its SERVICE and
VARIABLES items, its HOSTNAME#<name> reservation (the name is free again) and its DOMAIN#<hostname>
records, found by the gsi1 query `SERVICE#<id> / DOMAIN#` (package docstring). Deleting what is
already gone succeeds, so a retried teardown finishes. Deployments and releases stay as history
(their releases are marked pruned first, so nothing can run them again)."""

from __future__ import annotations

from chalicelib.adapters.dynamo.layout import DOMAIN, ENV, HOSTNAME, INDEX_NAME, SERVICE, VARIABLES, _key
from chalicelib.adapters.dynamo.table import _table
from chalicelib.adapters.dynamo.writes import MAX_TRANSACTION_ITEMS
from chalicelib.domain.models import Environment, Service


class DynamoEnvironmentStore:
    def __init__(self, table_name: str) -> None:
        self._table_name = table_name

    def delete_service(self, service: Service) -> None:
        from pynamodb.expressions.operand import Path
        from pynamodb.transactions import TransactWrite

        table = _table(self._table_name)
        domains = table.item.query(
            _key(SERVICE, service.id),
            range_key_condition=Path("gsi1sk").startswith(f"{DOMAIN}#"),
            index_name=INDEX_NAME,
        )
        keys = [
            (_key(SERVICE, service.id), SERVICE),
            (_key(SERVICE, service.id), VARIABLES),
            (_key(HOSTNAME, service.hostname), HOSTNAME),
            *((str(d.attribute_values["pk"]), DOMAIN) for d in domains),
        ]
        for start in range(0, len(keys), MAX_TRANSACTION_ITEMS):
            with TransactWrite(connection=table.connection) as transaction:
                for pk, sk in keys[start : start + MAX_TRANSACTION_ITEMS]:
                    transaction.delete(table.item(pk, sk))

    def delete_environment(self, environment: Environment) -> None:
        table = _table(self._table_name)
        table.item(_key(ENV, environment.id), VARIABLES).delete()  # its shared variables (ADR 0037)
        table.item(_key(ENV, environment.id), ENV).delete()
