"""Entity <-> item: which fields are top-level attributes, the rest as the JSON `body`, and how an
item is decoded back into its entity (also items written by older releases)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, Any

from chalicelib.adapters.dynamo.layout import TOKEN_TTL_GRACE_DAYS, TTL_ATTRIBUTE, E, _keys
from chalicelib.domain.built_release import BuiltRelease, fold_legacy_fields
from chalicelib.domain.deployment_actor import DeploymentActor
from chalicelib.domain.domains import CustomDomain, DomainStatus
from chalicelib.domain.models import (
    ApiToken,
    BuiltSource,
    ConfigSnapshot,
    Deployment,
    DeploymentKind,
    DeploymentStatus,
    Release,
    Service,
    ServiceSettings,
)
from chalicelib.domain.ports import AuditRecord, Entity
from chalicelib.domain.workloads import Workload

if TYPE_CHECKING:
    from pynamodb.models import Model

    from chalicelib.adapters.dynamo.table import _Table


# Fields that live as top-level attributes: the condition checks `version`, `status` is meant to be
# filtered/updated in place (any entity with a `status` field), and DynamoDB's TTL reads `expires_at`;
# none is duplicated in the body.
_TOP_LEVEL = ("version", "status", TTL_ATTRIBUTE)

# How to rebuild the fields JSON cannot carry as-is; every other field is a JSON scalar or a dict.
_DECODERS: dict[type, dict[str, Callable[[Any], Any]]] = {
    Service: {"settings": ServiceSettings.from_dict, "domains": tuple, "workload": Workload},
    Deployment: {
        "kind": DeploymentKind,
        "workload": Workload,
        "status": DeploymentStatus,
        "config": lambda data: None if data is None else ConfigSnapshot.from_dict(data),  # ADR 0034
        "built": lambda data: None if data is None else BuiltRelease.from_dict(data),
        "created_by": lambda data: None if data is None else DeploymentActor.from_dict(data),  # ADR 0042
    },
    Release: {"config": ConfigSnapshot.from_dict, "built": BuiltRelease.from_dict},
    BuiltSource: {"built": BuiltRelease.from_dict},
    ApiToken: {"scopes": tuple},
    CustomDomain: {"status": DomainStatus},
}


def _encode(value: Any) -> Any:
    if isinstance(value, ServiceSettings | ConfigSnapshot | BuiltRelease | DeploymentActor):
        return value.to_dict()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple):
        return list(value)
    return value


def _top_level(cls: type) -> tuple[str, ...]:
    # A token's `expires_at` is an ISO time in its body; its TTL attribute is derived (_token_ttl).
    return ("version",) if issubclass(cls, ApiToken) else _TOP_LEVEL


def _attributes(entity: Entity) -> dict[str, Any]:
    """The item's non-key attributes: the top-level ones, and the rest of the entity as `body`."""
    names = [field.name for field in dataclasses.fields(entity)]
    top = _top_level(type(entity))
    attributes = {name: _encode(getattr(entity, name)) for name in names if name in top}
    attributes["body"] = {name: _encode(getattr(entity, name)) for name in names if name not in top}
    if isinstance(entity, ApiToken):
        attributes[TTL_ATTRIBUTE] = _token_ttl(entity.expires_at)
    return attributes


def _token_ttl(expires_at: str | None) -> int | None:
    from datetime import timedelta

    from chalicelib.domain.ids import parse_iso

    moment = parse_iso(expires_at) if expires_at else None
    return int((moment + timedelta(days=TOKEN_TTL_GRACE_DAYS)).timestamp()) if moment else None


def _decode(cls: type[E], item: Model) -> E:
    values = item.attribute_values
    data = dict(values["body"])
    data.update({name: values[name] for name in _top_level(cls) if values.get(name) is not None})
    decoders = next((d for kind, d in _DECODERS.items() if issubclass(cls, kind)), {})
    if "built" in decoders:  # items written before BuiltRelease carry its fields flat
        fold_legacy_fields(data)
    # Fields this code does not know are dropped: during a rolling deploy a newer writer may already
    # store an additive field that an older reader has no use for.
    known = {field.name for field in dataclasses.fields(cls)}
    return cls(**{name: decoders.get(name, _same)(value) for name, value in data.items() if name in known})


def _same(value: Any) -> Any:
    return value


def _item(table: _Table, entity: Entity) -> Model:
    """The whole item of `entity`, keys included, ready to put."""
    if isinstance(entity, AuditRecord):  # written with the change it records; its layout:
        from chalicelib.adapters.audit_store import audit_item

        return audit_item(table.item, entity)
    keys = _keys(entity)
    return table.item(
        keys.pk,
        keys.sk,
        kind=keys.sk,
        gsi1pk=keys.gsi1pk,
        gsi1sk=keys.gsi1sk,
        gsi2pk=keys.gsi2pk,
        gsi2sk=keys.gsi2sk,
        **_attributes(entity),
    )
