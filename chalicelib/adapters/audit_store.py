"""Where audit entries go (chalicelib/domain/audit.py): the platform's table, and Railyard's bus.

| entity      | pk             | sk                       | TTL                          |
|-------------|----------------|--------------------------|------------------------------|
| AuditEntry  | AUDIT#<ws>     | AUDIT#<at ISO>#<id>      | at + AUDIT_RETENTION_DAYS    |

Each workspace's log is one partition sorted by time, so "newest first since T" is one Query
(ScanIndexForward false, sk >= AUDIT#<T>, Limit). An entry is a few hundred bytes; a busy workspace
writes a handful per minute, far below a partition's 1,000 writes/s.

An entry written with the change it records (a deployment's, docs/decisions/0027) is put by the
repository's transaction (chalicelib/adapters/dynamo/writes.py), in the same item shape (`audit_item`).

Each entry is also put on the bus (source `railyard`, detail-type `railyard.audit`) as the envelope
`{data, metadata}` of chalicelib/domain/events.py (AuditRecorded).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.adapters.dynamo.table import OnTable
from chalicelib.domain.audit import EVENT_DETAIL_TYPE, AuditEntry, event_detail
from chalicelib.domain.ports import AuditRecord

if TYPE_CHECKING:
    from pynamodb.models import Model

AUDIT = "AUDIT"
_END = "~"  # sorts after every ISO time


def audit_item(item_class: type[Model], record: AuditRecord) -> Model:
    """The item of one kept entry (the layout table above)."""
    entry = record.entry
    assert entry.workspace_id is not None, "an entry without a workspace is only emitted"
    return item_class(
        f"{AUDIT}#{entry.workspace_id}",
        f"{AUDIT}#{entry.at}#{entry.id}",
        kind=AUDIT,
        version=record.version,
        body=entry.model_dump(),
        expires_at=record.expires_at,
    )


class DynamoAuditStore(OnTable):
    def add(self, entry: AuditEntry, expires_at: int) -> None:
        audit_item(self._t.item, AuditRecord(entry, expires_at)).save()

    def newest(self, workspace_id: str, since: str | None, limit: int) -> list[AuditEntry]:
        from pynamodb.expressions.operand import Path

        sort_key = Path("sk")
        condition = (
            sort_key.between(f"{AUDIT}#{since}", f"{AUDIT}#{_END}")
            if since
            else sort_key.startswith(f"{AUDIT}#")
        )
        found = self._t.item.query(
            f"{AUDIT}#{workspace_id}",
            range_key_condition=condition,
            scan_index_forward=False,
            limit=limit,  # also the page size: one Query
        )
        return [AuditEntry.model_validate(item.attribute_values["body"]) for item in found]


class EventBridgeAuditEvents:
    """Puts each entry on Railyard's bus (rules may route `railyard.audit` anywhere: a SIEM, a queue)."""

    def __init__(self, bus_name: str, region: str | None = None) -> None:
        self._bus = bus_name
        self._region = region

    def emit(self, entry: AuditEntry) -> None:
        from chalicelib.adapters.bus import put_event

        put_event(self._bus, self._region, EVENT_DETAIL_TYPE, event_detail(entry))
