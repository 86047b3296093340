"""Where each entity lives in the single table: key prefixes, index names, the TTL attribute, the
keys of every entity (`_keys`) and how error messages name it (`_describe`). The layout table this
implements is in the package docstring (chalicelib/adapters/dynamo/__init__.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from chalicelib.domain.domains import CustomDomain
from chalicelib.domain.hostnames import HostnameReservation
from chalicelib.domain.models import (
    ApiToken,
    BuiltSource,
    Deployment,
    Environment,
    Project,
    Release,
    Service,
    ServiceVariables,
    SharedVariables,
)
from chalicelib.domain.ports import AuditRecord, Entity, PendingBuild

INDEX_NAME = "gsi1"
UNFINISHED_INDEX_NAME = "gsi2"  # sparse: only deployments in progress carry its keys

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

E = TypeVar(
    "E",
    Project,
    Environment,
    Service,
    ServiceVariables,
    SharedVariables,
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
    """Where an entity lives in the table (the layout table in the package docstring)."""
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
        case SharedVariables():
            # The environment's partition, as a service's variables live in the service's.
            return _Keys(_key(ENV, entity.environment_id), VARIABLES)
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
        case SharedVariables():
            return f"shared variables of environment {entity.environment_id}"
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
