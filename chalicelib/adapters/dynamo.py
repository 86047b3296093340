"""DynamoDB adapter for the `Repository` port: every entity in ONE table, through PynamoDB.

Item layout
-----------
Every item has string keys `pk`/`sk` shaped `KIND#id`, a `kind` (the entity's tag, equal to its
`sk`), a `version` (Number) and a `body`: the entity as JSON. Items listed under a parent also carry
`gsi1pk`/`gsi1sk`, the keys of the global secondary index `gsi1` (ALL projection). Deployments
carry `status` at the top level too, so it can be filtered on or projected later (and a workflow task
could update it with a plain UpdateItem); `version` and `status` are read back from the top level,
never from the body, so each has one source of truth.

| entity           | pk                 | sk           | gsi1pk           | gsi1sk                       |
|------------------|--------------------|--------------|------------------|------------------------------|
| Project          | PROJECT#<id>       | PROJECT      | ORG#<org_id>     | PROJECT#<id>                 |
| Environment      | ENV#<id>           | ENV          | PROJECT#<pid>    | ENV#<id>                     |
| Service          | SERVICE#<id>       | SERVICE      | ENV#<eid>        | SERVICE#<id>                 |
| ServiceVariables | SERVICE#<sid>      | VARIABLES    | -                | -                            |
| Deployment       | DEPLOYMENT#<id>    | DEPLOYMENT   | SERVICE#<sid>    | DEPLOYMENT#<id>              |
| Release          | RELEASE#<id>       | RELEASE      | SERVICE#<sid>    | RELEASE#<number:010d>        |
| ApiToken         | TOKEN#<sha256>     | TOKEN        | ORG#<org_id>     | TOKEN#<sha256>               |
| token id pointer | TOKENID#<id>       | TOKENID      | -                | -                            |
| BuiltSource      | BUILT#<sid>#<fp>   | BUILT        | -                | -                            |
| PendingBuild     | PENDINGBUILD#<bid> | PENDINGBUILD | DEPLOYMENT#<did> | PENDINGBUILD#<created>#<bid> |
| idempotency rec. | IDEMPOTENCY#<hash> | IDEMPOTENCY  | -                | -                            |
| HostnameReserv.  | HOSTNAME#<name>    | HOSTNAME     | -                | -                            |
| CustomDomain     | DOMAIN#<hostname>  | DOMAIN       | SERVICE#<sid>    | DOMAIN#<hostname>            |

Names (docs/decisions/0024): a HostnameReservation is written with its service, in one transaction,
on the condition that no item has that key, so no two services ever share a generated hostname,
whatever their workspaces. A CustomDomain's key is the domain itself, so a domain is held by one
service platform-wide; removing it (chalicelib/adapters/domains.py) deletes the item and frees it.

A deployment in progress (QUEUED, BUILDING or DEPLOYING) also carries `gsi2pk` = `UNFINISHED` and
`gsi2sk` = `DEPLOYMENT#<id>`, the keys of the sparse index `gsi2` (ALL projection). Every save is a
whole-item PutItem, so the save that moves a deployment to an end status drops both attributes and
DynamoDB drops the item from the index: the index holds only what is unfinished, and a query of it
reads nothing else (no Scan, no filter). Its one partition is written twice or three times per
deployment, far below a partition's 1,000 writes/s; shard the key if that ever changes.

PendingBuild items (the task token of a Build step waiting for a CodeBuild build, keyed by the
CodeBuild build id `<project>:<uuid>`) also carry `expires_at`, epoch seconds, the table's TTL
attribute: DynamoDB deletes them a week after the build started (create_table enables the TTL).
Listing them by deployment goes through the (eventually consistent) index; a retried Build step that
misses a just-written item still gets the same build back from CodeBuild's idempotency token.

An ApiToken keeps its `expires_at` (ISO time, what AuthService checks) in the body; its item's TTL
attribute is that moment plus TOKEN_TTL_GRACE_DAYS, so DynamoDB deletes expired tokens some time
after they stop working. Its top-level `last_used_at` (ISO) is set in place by mark_token_used, at
most once per AuthService cache window per container; a MemberToken's `user_id` (who made it) is
kept when it is read back. Tokens made through the API (chalicelib/adapters/tokens_store.py) also
get a `TOKENID#<id>` pointer written in the same transaction, so a revocation by id finds the hash.
Workspaces, members, invitations and the audit log: chalicelib/adapters/workspaces_store.py and
audit_store.py.

Idempotency records (the first answer of an API request sent with an Idempotency-Key; `<hash>` is
`api#sha256(caller, method and path, key)`) are written by chalicelib/adapters/idempotency.py in
Powertools' item shape, not this module's: `status`, `data`, `validation`, `in_progress_expiration`
and `expires_at` (the TTL; a day by default), no `kind`, `version` or `body`. Each has its own
partition; nothing lists them.

Access patterns (no Scan anywhere)
----------------------------------
"Get pk / sk" is a strongly consistent GetItem; "gsi1 X / Y..." is a Query on index gsi1 with
gsi1pk = X and begins_with(gsi1sk, Y), which also keeps kinds sharing a gsi1pk apart (an org's
projects and tokens; a service's deployments and releases); "gsi2 X / Y..." likewise on gsi2.

| access pattern          | method                      | served by                                          |
|-------------------------|-----------------------------|----------------------------------------------------|
| token by hash (auth)    | get_token                   | Get TOKEN#<hash> / TOKEN                           |
| project by id           | get_project                 | Get PROJECT#<id> / PROJECT                         |
| projects of an org      | list_projects               | gsi1 ORG#<org> / PROJECT#..., asc                  |
| environment by id       | get_environment             | Get ENV#<id> / ENV                                 |
| environments of project | list_environments           | gsi1 PROJECT#<pid> / ENV#..., asc                  |
| service by id           | get_service                 | Get SERVICE#<id> / SERVICE                         |
| services of environment | list_services               | gsi1 ENV#<eid> / SERVICE#..., asc                  |
| variables of a service  | get_variables               | Get SERVICE#<sid> / VARIABLES (absent: version 0)  |
| service + its variables | get_service_with_variables  | Query SERVICE#<sid> (both items), consistent       |
| deployment by id        | get_deployment              | Get DEPLOYMENT#<id> / DEPLOYMENT                   |
| deployments of service  | list_deployments            | gsi1 SERVICE#<sid> / DEPLOYMENT#..., desc, Limit   |
| release by id           | get_release                 | Get RELEASE#<id> / RELEASE                         |
| releases of a service   | list_releases               | gsi1 SERVICE#<sid> / RELEASE#..., desc, Limit      |
| tokens of an org        | DynamoTokenStore.tokens_of  | gsi1 ORG#<org> / TOKEN#...                         |
| token by id (revoke)    | DynamoTokenStore.by_id      | Get TOKENID#<id> / TOKENID, then Get TOKEN#<hash>  |
| token last used         | mark_token_used             | UpdateItem TOKEN#<hash> SET last_used_at (exists)  |
| earlier build of source | get_built_source            | Get BUILT#<sid>#<fingerprint> / BUILT              |
| waiting step of a build | get_pending_build           | Get PENDINGBUILD#<build id> / PENDINGBUILD         |
| builds of a deployment  | list_pending_builds         | gsi1 DEPLOYMENT#<did> / PENDINGBUILD#..., asc      |
| deployments in progress | list_unfinished_deployments | gsi2 UNFINISHED / DEPLOYMENT#..., asc              |
| first answer of a key   | DynamoIdempotency.once      | Get/conditional Put/Update/Delete IDEMPOTENCY#<h>  |
| reserve a hostname      | save(service, reservation)  | conditional Put HOSTNAME#<name> in the transaction |
| domain by hostname      | DynamoDomainStore.get_domain| Get DOMAIN#<hostname> / DOMAIN                     |
| domains of a service    | DynamoDomainStore.list_...  | gsi1 SERVICE#<sid> / DOMAIN#..., asc               |
| remove a domain         | DynamoDomainStore.delete_...| TransactWriteItems: Delete DOMAIN# + Put SERVICE#  |
| create a deployment     | save(deployment, audit, ...)| TransactWriteItems: Put DEPLOYMENT# + Put AUDIT#   |
| deploy by service id    | save_for_service(sid, ...)  | the same + ConditionCheck SERVICE#<sid> exists     |
| save 1..100 all-or-none | save                        | 1: conditional PutItem; 2..100: TransactWriteItems |

"asc"/"desc" is id order: ids are time-sortable (chalicelib/domain/ids.py); releases sort by
their zero-padded number instead, which is the order users see, and pending builds by start time.

Concurrency and consistency
---------------------------
Each put is conditioned on the entity's version: version 1 -> `attribute_not_exists(pk)`; version
N > 1 -> the stored `version = N-1`. A failed condition raises `Conflict` naming the entity, and
nothing of the call is written. GetItem reads are strongly consistent because callers read, bump and
write back: a stale read would only turn into a spurious Conflict. Index queries are eventually
consistent (DynamoDB offers nothing else on a GSI), so a just-saved child may be missing from a list
for a moment on real AWS.

Why the body is a JSON string rather than a Map: DynamoDB normalises numbers (60.0 comes back as 60)
and PynamoDB's raw maps need per-type handling; a JSON string round-trips exactly, and nothing queries
inside the body (anything worth filtering is promoted to a top-level attribute, as `status` is).

PynamoDB (and botocore under it, ~0.2 s) is imported inside the functions that need it, and the model
classes are built per (table, region, endpoint) on first use, because PynamoDB binds table name, region
and endpoint at class level. Importing this module therefore costs only the domain models.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, TypeVar

from chalicelib.domain.built_release import BuiltRelease, fold_legacy_fields
from chalicelib.domain.domains import CustomDomain, DomainStatus
from chalicelib.domain.errors import Conflict, NotFound, PayloadTooLarge
from chalicelib.domain.hostnames import HostnameReservation
from chalicelib.domain.models import (
    ApiToken,
    BuiltSource,
    ConfigSnapshot,
    Deployment,
    DeploymentKind,
    DeploymentStatus,
    Environment,
    Project,
    Release,
    Service,
    ServiceSettings,
    ServiceVariables,
)
from chalicelib.domain.ports import AuditRecord, Entity, PendingBuild
from chalicelib.domain.workloads import Workload

if TYPE_CHECKING:
    from pynamodb.connection import Connection
    from pynamodb.expressions.condition import Condition
    from pynamodb.models import Model

INDEX_NAME = "gsi1"
UNFINISHED_INDEX_NAME = "gsi2"  # sparse: only deployments in progress carry its keys
MAX_TRANSACTION_ITEMS = 100  # the TransactWriteItems limit

# Key prefixes; each entity's own tag is also its sort key and its `kind` attribute.
ORG = "ORG"
PROJECT = "PROJECT"
ENV = "ENV"
SERVICE = "SERVICE"
VARIABLES = "VARIABLES"
DEPLOYMENT = "DEPLOYMENT"
RELEASE = "RELEASE"
TOKEN = "TOKEN"
BUILT = "BUILT"
PENDING_BUILD = "PENDINGBUILD"
HOSTNAME = "HOSTNAME"
DOMAIN = "DOMAIN"
UNFINISHED = "UNFINISHED"  # the one gsi2pk value
TTL_ATTRIBUTE = "expires_at"  # epoch seconds; DynamoDB deletes the item after it
TOKEN_TTL_GRACE_DAYS = 30  # an expired token's item stays this long (lists show it as expired)

_CONDITIONAL_CHECK_FAILED = "ConditionalCheckFailed"  # a cancellation reason's code in a transaction
_CONDITIONAL_CHECK_FAILED_EXCEPTION = "ConditionalCheckFailedException"  # the error code of a PutItem
# An item above DynamoDB's 400 KB: a ValidationException (a cancellation reason "ValidationError" in
# a transaction) told apart from other validation errors only by AWS's own message.
_VALIDATION_CODES = frozenset({"ValidationException", "ValidationError"})
_ITEM_TOO_LARGE_MESSAGE = "Item size has exceeded the maximum allowed size"

E = TypeVar(
    "E",
    Project,
    Environment,
    Service,
    ServiceVariables,
    Deployment,
    Release,
    ApiToken,
    BuiltSource,
    PendingBuild,
    HostnameReservation,
    CustomDomain,
)


def _key(kind: str, ident: str) -> str:
    return f"{kind}#{ident}"


@dataclass(frozen=True)
class _Keys:
    pk: str
    sk: str  # the entity's tag; also stored as `kind`, so a gsi1 result says what it is
    gsi1pk: str | None = None
    gsi1sk: str | None = None
    gsi2pk: str | None = None  # only on a deployment in progress (the sparse index)
    gsi2sk: str | None = None


def _keys(entity: Entity) -> _Keys:
    """Where an entity lives in the table (the layout table in the module docstring)."""
    match entity:
        case Project():
            return _Keys(
                _key(PROJECT, entity.id), PROJECT, _key(ORG, entity.org_id), _key(PROJECT, entity.id)
            )
        case Environment():
            return _Keys(_key(ENV, entity.id), ENV, _key(PROJECT, entity.project_id), _key(ENV, entity.id))
        case Service():
            return _Keys(
                _key(SERVICE, entity.id), SERVICE, _key(ENV, entity.environment_id), _key(SERVICE, entity.id)
            )
        case ServiceVariables():
            # Same partition as the service item: one item collection per service. Not indexed: it is
            # only ever read by service id.
            return _Keys(_key(SERVICE, entity.service_id), VARIABLES)
        case Deployment():
            unfinished = entity.in_progress
            return _Keys(
                _key(DEPLOYMENT, entity.id),
                DEPLOYMENT,
                _key(SERVICE, entity.service_id),
                _key(DEPLOYMENT, entity.id),
                UNFINISHED if unfinished else None,
                _key(DEPLOYMENT, entity.id) if unfinished else None,
            )
        case Release():
            # Zero-padded so that string order is number order (release 10 after release 9).
            return _Keys(
                _key(RELEASE, entity.id),
                RELEASE,
                _key(SERVICE, entity.service_id),
                _key(RELEASE, f"{entity.number:010d}"),
            )
        case ApiToken():
            return _Keys(
                _key(TOKEN, entity.token_hash),
                TOKEN,
                _key(ORG, entity.org_id),
                _key(TOKEN, entity.token_hash),
            )
        case BuiltSource():
            return _Keys(_key(BUILT, f"{entity.service_id}#{entity.fingerprint}"), BUILT)
        case PendingBuild():
            # Listed under the deployment (not a gsi1pk any other kind uses), oldest first.
            return _Keys(
                _key(PENDING_BUILD, entity.build_id),
                PENDING_BUILD,
                _key(DEPLOYMENT, entity.deployment_id),
                _key(PENDING_BUILD, f"{entity.created_at}#{entity.build_id}"),
            )
        case HostnameReservation():
            return _Keys(_key(HOSTNAME, entity.hostname), HOSTNAME)
        case CustomDomain():
            # Listed under its service beside deployments and releases (another gsi1sk prefix).
            return _Keys(
                _key(DOMAIN, entity.hostname),
                DOMAIN,
                _key(SERVICE, entity.service_id),
                _key(DOMAIN, entity.hostname),
            )
    raise TypeError(f"not a storable entity: {type(entity).__name__}")


def _describe(entity: Entity) -> str:
    """The entity as error messages name it: kind and id."""
    match entity:
        case ServiceVariables():
            return f"variables of service {entity.service_id}"
        case ApiToken():
            # The hash identifies a credential; keep it out of messages (and so out of logs).
            return "token"
        case Project():
            return f"project {entity.id}"
        case Environment():
            return f"environment {entity.id}"
        case Service():
            return f"service {entity.id}"
        case Deployment():
            return f"deployment {entity.id}"
        case Release():
            return f"release {entity.id}"
        case BuiltSource():
            return f"built source {entity.fingerprint[:12]} of service {entity.service_id}"
        case PendingBuild():
            return f"pending build {entity.build_id} of deployment {entity.deployment_id}"
        case HostnameReservation():
            return f"hostname {entity.hostname}"
        case CustomDomain():
            return f"domain {entity.hostname}"
        case AuditRecord():
            return f"audit entry {entity.id}"
    raise TypeError(f"not a storable entity: {type(entity).__name__}")


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
    },
    Release: {"config": ConfigSnapshot.from_dict, "built": BuiltRelease.from_dict},
    BuiltSource: {"built": BuiltRelease.from_dict},
    ApiToken: {"scopes": tuple},
    CustomDomain: {"status": DomainStatus},
}


def _encode(value: Any) -> Any:
    if isinstance(value, ServiceSettings | ConfigSnapshot | BuiltRelease):
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


def create_table(table_name: str) -> None:
    """Ensure the table exists and is ACTIVE: string pk/sk, indexes gsi1 and gsi2 (ALL projection),
    PAY_PER_REQUEST. Safe to call again, and from two processes at once (the local bootstrap); a
    table made before gsi2 existed gets it added."""
    from pynamodb.exceptions import TableError

    table = _table(table_name)
    try:
        table.item.create_table(wait=True)
    except TableError as error:
        # Another process created it between our existence check and CreateTable: wait for it.
        if error.cause_response_code != "ResourceInUseException":
            raise
        table.item.create_table(wait=True)
    _ensure_unfinished_index(table, table_name)
    _ensure_ttl(table, table_name)


def _ensure_unfinished_index(table: _Table, table_name: str) -> None:
    """Add gsi2 to a table created before it existed, and wait until it can be queried.

    Deployments that were in progress when the index was added carry no gsi2 keys until their next
    save; the tables this runs on in practice (an earlier release's) are then re-saved by the
    deployments' own next step, and a finished deployment never needs the index."""
    client = table.connection.client
    described = client.describe_table(TableName=table_name)["Table"]
    indexes = {index["IndexName"]: index for index in described.get("GlobalSecondaryIndexes", [])}
    if UNFINISHED_INDEX_NAME not in indexes:
        client.update_table(
            TableName=table_name,
            AttributeDefinitions=[
                {"AttributeName": "gsi2pk", "AttributeType": "S"},
                {"AttributeName": "gsi2sk", "AttributeType": "S"},
            ],
            GlobalSecondaryIndexUpdates=[
                {
                    "Create": {
                        "IndexName": UNFINISHED_INDEX_NAME,
                        "KeySchema": [
                            {"AttributeName": "gsi2pk", "KeyType": "HASH"},
                            {"AttributeName": "gsi2sk", "KeyType": "RANGE"},
                        ],
                        "Projection": {"ProjectionType": "ALL"},
                    }
                }
            ],
        )
    _wait_for_index(client, table_name)


def _wait_for_index(client: Any, table_name: str, attempts: int = 300) -> None:
    """Block until gsi2 is ACTIVE (on AWS, adding an index backfills it for a while first). A
    bootstrap wait with a bound, as PynamoDB's own create_table(wait=True) does."""
    import time

    for _ in range(attempts):
        described = client.describe_table(TableName=table_name)["Table"]
        statuses = {i["IndexName"]: i.get("IndexStatus") for i in described.get("GlobalSecondaryIndexes", [])}
        if statuses.get(UNFINISHED_INDEX_NAME) == "ACTIVE":
            return
        time.sleep(2)
    raise TimeoutError(f"index {UNFINISHED_INDEX_NAME} of table {table_name} did not become ACTIVE")


def _ensure_ttl(table: _Table, table_name: str) -> None:
    """Turn on the TTL on `expires_at` unless it is on already (DynamoDB refuses to enable it twice)."""
    ttl = table.connection.client.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    if ttl.get("TimeToLiveStatus") in {"ENABLED", "ENABLING"} and ttl.get("AttributeName") == TTL_ATTRIBUTE:
        return
    table.connection.update_time_to_live(table_name, TTL_ATTRIBUTE)


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


class OnTable:
    """A store on the platform's table, bound on first use (constructing it costs no import or I/O).
    The repository below and the accounts, tokens and audit stores all start from it."""

    def __init__(self, table_name: str) -> None:
        self._table_name = table_name
        self._bound: _Table | None = None

    @property
    def _t(self) -> _Table:
        if self._bound is None:
            self._bound = _table(self._table_name)
        return self._bound


class DynamoRepository(OnTable):
    """The `Repository` port on one DynamoDB table (layout and access patterns: module docstring)."""

    # -- writes ---------------------------------------------------------------------------------

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

    # -- reads ----------------------------------------------------------------------------------

    def _find(self, pk: str, sk: str) -> Model | None:
        item = self._t.item
        try:
            return item.get(pk, sk, consistent_read=True)
        except item.DoesNotExist:
            return None

    def _get(self, cls: type[E], pk: str, sk: str, missing: str) -> E:
        found = self._find(pk, sk)
        if found is None:
            raise NotFound(missing)
        return _decode(cls, found)

    def _children(
        self, cls: type[E], parent: str, kind: str, *, newest_first: bool = False, limit: int | None = None
    ) -> list[E]:
        """The items of `kind` listed under `parent` in gsi1, in gsi1sk order."""
        from pynamodb.expressions.operand import Path

        if limit is not None and limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        results = self._t.item.query(
            parent,
            range_key_condition=Path("gsi1sk").startswith(f"{kind}#"),
            index_name=INDEX_NAME,
            scan_index_forward=not newest_first,
            limit=limit,  # also the page size, so a limited list reads no more than it returns
        )
        return [_decode(cls, found) for found in results]

    def get_token(self, token_hash: str) -> ApiToken:
        from chalicelib.domain.accounts import MemberToken

        found = self._find(_key(TOKEN, token_hash), TOKEN)
        if found is None:
            raise NotFound("token not found")
        # A token made by a member names them: the audit log says whose token acted.
        if found.attribute_values["body"].get("user_id"):
            return _decode(MemberToken, found)
        return _decode(ApiToken, found)

    def mark_token_used(self, token_hash: str, at: str) -> None:
        """Sets the token's `last_used_at` in place (nothing when it was deleted meanwhile)."""
        from pynamodb.exceptions import UpdateError
        from pynamodb.expressions.operand import Path

        try:
            item = self._t.item(_key(TOKEN, token_hash), TOKEN)
            item.update(actions=[Path("last_used_at").set(at)], condition=Path("pk").exists())
        except UpdateError as error:
            # Bookkeeping: a throttled or failed update must not fail the request it authenticates.
            if error.cause_response_code != _CONDITIONAL_CHECK_FAILED_EXCEPTION:
                logging.getLogger(__name__).warning("last-used time of a token not recorded: %s", error)

    def get_project(self, project_id: str) -> Project:
        return self._get(Project, _key(PROJECT, project_id), PROJECT, f"project {project_id} not found")

    def list_projects(self, org_id: str) -> list[Project]:
        return self._children(Project, _key(ORG, org_id), PROJECT)

    def get_environment(self, environment_id: str) -> Environment:
        return self._get(
            Environment, _key(ENV, environment_id), ENV, f"environment {environment_id} not found"
        )

    def list_environments(self, project_id: str) -> list[Environment]:
        return self._children(Environment, _key(PROJECT, project_id), ENV)

    def get_service(self, service_id: str) -> Service:
        return self._get(Service, _key(SERVICE, service_id), SERVICE, f"service {service_id} not found")

    def list_services(self, environment_id: str) -> list[Service]:
        return self._children(Service, _key(ENV, environment_id), SERVICE)

    def get_service_with_variables(self, service_id: str) -> tuple[Service, ServiceVariables]:
        # The service and its variables share the partition SERVICE#<id>: one strongly consistent
        # Query reads both (sort keys SERVICE and VARIABLES; nothing else lives there).
        service: Service | None = None
        variables = ServiceVariables(service_id, {}, version=0)
        for found in self._t.item.query(_key(SERVICE, service_id), consistent_read=True):
            if found.attribute_values["sk"] == SERVICE:
                service = _decode(Service, found)
            elif found.attribute_values["sk"] == VARIABLES:
                variables = _decode(ServiceVariables, found)
        if service is None:
            raise NotFound(f"service {service_id} not found")
        return service, variables

    def get_variables(self, service_id: str) -> ServiceVariables:
        found = self._find(_key(SERVICE, service_id), VARIABLES)
        if found is None:
            # Never stored: version 0, so the first save (version 1) must find no item.
            return ServiceVariables(service_id, {}, version=0)
        return _decode(ServiceVariables, found)

    def get_deployment(self, deployment_id: str) -> Deployment:
        return self._get(
            Deployment, _key(DEPLOYMENT, deployment_id), DEPLOYMENT, f"deployment {deployment_id} not found"
        )

    def list_deployments(self, service_id: str, limit: int = 20) -> list[Deployment]:
        return self._children(
            Deployment, _key(SERVICE, service_id), DEPLOYMENT, newest_first=True, limit=limit
        )

    def get_release(self, release_id: str) -> Release:
        return self._get(Release, _key(RELEASE, release_id), RELEASE, f"release {release_id} not found")

    def list_releases(self, service_id: str, limit: int = 20) -> list[Release]:
        return self._children(Release, _key(SERVICE, service_id), RELEASE, newest_first=True, limit=limit)

    def get_built_source(self, service_id: str, fingerprint: str) -> BuiltSource:
        return self._get(
            BuiltSource,
            _key(BUILT, f"{service_id}#{fingerprint}"),
            BUILT,
            f"no build of this source recorded for service {service_id}",
        )

    def get_pending_build(self, build_id: str) -> PendingBuild:
        return self._get(
            PendingBuild, _key(PENDING_BUILD, build_id), PENDING_BUILD, f"no pending build {build_id}"
        )

    def list_pending_builds(self, deployment_id: str) -> list[PendingBuild]:
        return self._children(PendingBuild, _key(DEPLOYMENT, deployment_id), PENDING_BUILD)

    def list_unfinished_deployments(self) -> list[Deployment]:
        from pynamodb.expressions.operand import Path

        # Every page, oldest first: the sparse index holds only deployments in progress, so the
        # whole of it is the answer (a few per service at most).
        results = self._t.item.query(
            UNFINISHED,
            range_key_condition=Path("gsi2sk").startswith(f"{DEPLOYMENT}#"),
            index_name=UNFINISHED_INDEX_NAME,
        )
        return [_decode(Deployment, found) for found in results]
