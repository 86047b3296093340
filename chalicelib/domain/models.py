"""Entities of the control plane and the deployment status machine.

Entities are frozen dataclasses. Every mutable aggregate carries `version`: a new entity has
version 1, and `bumped()` returns the next version; the repository writes version N only if the
stored item still has version N-1 (optimistic concurrency). Releases are immutable: a rollback is a
new Deployment that re-activates an older Release.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Self

from chalicelib.domain import limits
from chalicelib.domain.built_release import BuiltRelease, CarriesBuiltRelease
from chalicelib.domain.deployment_actor import DeploymentActor
from chalicelib.domain.errors import InvalidTransition

# Re-exported: ServiceSettings and its table live in domain/service_settings.py.
from chalicelib.domain.service_settings import RESTART_POLICIES, RETIRED_SETTINGS, ServiceSettings
from chalicelib.domain.workloads import Workload

__all__ = ["RESTART_POLICIES", "RETIRED_SETTINGS", "BuiltRelease", "ServiceSettings"]


class Versioned:
    version: int

    def bumped(self, **changes: Any) -> Self:
        """The next version of this entity with `changes` applied."""
        return dataclasses.replace(self, version=self.version + 1, **changes)  # type: ignore[type-var]


class DeploymentStatus(StrEnum):
    QUEUED = "QUEUED"
    BUILDING = "BUILDING"
    DEPLOYING = "DEPLOYING"
    SUCCESS = "SUCCESS"
    FAILED = "FAILED"
    CRASHED = "CRASHED"
    CANCELLED = "CANCELLED"
    REMOVED = "REMOVED"
    # Nothing of it went live and the live release keeps serving: watch patterns matched no changed
    # file, or a newer deployment of the service went live first (superseded).
    SKIPPED = "SKIPPED"
    # Its process exited 0 on its own and is not restarted (a job; Railway's "Completed"). It is
    # the service's active deployment, as SUCCESS is: domain/workloads.py.
    COMPLETED = "COMPLETED"


S = DeploymentStatus

# The one transition table. SUCCESS, CRASHED and COMPLETED are "live" ends: a later deployment
# replaces them (REMOVED); a crash after success is CRASHED, a clean exit after success COMPLETED.
TRANSITIONS: dict[DeploymentStatus, frozenset[DeploymentStatus]] = {
    S.QUEUED: frozenset({S.BUILDING, S.DEPLOYING, S.FAILED, S.CANCELLED, S.SKIPPED}),
    S.BUILDING: frozenset({S.DEPLOYING, S.FAILED, S.CANCELLED, S.SKIPPED}),
    S.DEPLOYING: frozenset({S.SUCCESS, S.COMPLETED, S.FAILED, S.CANCELLED, S.SKIPPED}),
    S.SUCCESS: frozenset({S.REMOVED, S.CRASHED, S.COMPLETED}),
    S.CRASHED: frozenset({S.REMOVED}),
    S.COMPLETED: frozenset({S.REMOVED}),
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
    S.REMOVED: frozenset(),
    S.SKIPPED: frozenset(),
}

IN_PROGRESS = frozenset({S.QUEUED, S.BUILDING, S.DEPLOYING})
TERMINAL = frozenset(DeploymentStatus) - IN_PROGRESS
# Ends a deployment of the service's active release reaches; the next deployment REMOVES them.
LIVE_ENDS = frozenset(status for status, nexts in TRANSITIONS.items() if S.REMOVED in nexts)


def check_transition(current: DeploymentStatus, target: DeploymentStatus) -> None:
    if target not in TRANSITIONS[current]:
        raise InvalidTransition(f"a deployment cannot go from {current} to {target}")


class DeploymentKind(StrEnum):
    SOURCE = "source"  # build an uploaded source tree
    REDEPLOY = "redeploy"  # the active release's artifact with the current variables/settings
    ROLLBACK = "rollback"  # re-activate an existing release unchanged
    # another environment's live artifact (no rebuild) with this service's variables/settings
    PROMOTION = "promotion"


MAX_REPLICAS = limits.MAX_REPLICAS  # declared in limits; kept here for its importers


@dataclass(frozen=True)
class Project(Versioned):
    id: str
    org_id: str
    name: str
    created_at: str
    version: int = 1


@dataclass(frozen=True)
class Environment(Versioned):
    id: str
    project_id: str
    name: str
    created_at: str
    version: int = 1
    # Copied from the project so an access check needs no read of it ("" on items written before
    # issue 10: the check then reads the project once, see domain/resources.py).
    workspace_id: str = ""


@dataclass(frozen=True)
class Service(Versioned):
    """A service instance in one environment of a project (see docs/decisions/0002)."""

    id: str
    project_id: str
    environment_id: str
    name: str
    # The router's Host label, reserved platform-wide (chalicelib/domain/hostnames.py):
    # `<service>-<environment>-<project>`, or that with a short suffix when it was taken.
    hostname: str
    created_at: str
    settings: ServiceSettings = field(default_factory=ServiceSettings)
    # Its VERIFIED custom domains (chalicelib/domain/domains.py keeps this in step with the domain
    # records, in the same transactions), so a deploy routes them without reading the records.
    domains: tuple[str, ...] = ()
    active_deployment_id: str | None = None
    active_release_id: str | None = None
    release_count: int = 0
    version: int = 1
    workspace_id: str = ""  # as Environment.workspace_id
    # What its active release is (set with the active pointers): a URL is shown for WEB only.
    workload: Workload = Workload.WEB


@dataclass(frozen=True)
class ServiceVariables(Versioned):
    """All variables of a service, one item so N changes are one conditional write. A name is in
    `values` (plain, exact bytes) or in `sealed` (name -> SealedValue text: ciphertext only,
    domain/sealing.py), never in both."""

    service_id: str
    values: dict[str, str] = field(default_factory=dict)
    version: int = 0  # 0 = never stored
    sealed: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SharedVariables(Versioned):
    """An environment's shared variables (Railway's "shared variables"): every service of the
    environment sees them, a service's own value of a name wins (docs/variables.md). Same rules as
    ServiceVariables; sealed ones are bound to the environment's id (domain/shared_variables.py)."""

    environment_id: str
    values: dict[str, str] = field(default_factory=dict)
    version: int = 0  # 0 = never stored
    sealed: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VariableListing:
    """What a user may read of a service's variables: plain values, and only the names of the
    sealed ones (their values never leave the platform except into the running release)."""

    plain: dict[str, str]
    sealed: tuple[str, ...]

    @classmethod
    def of(cls, variables: ServiceVariables | SharedVariables) -> VariableListing:
        return cls(dict(variables.values), tuple(sorted(variables.sealed)))


@dataclass(frozen=True)
class ConfigSnapshot:
    """The configuration a deployment was requested with; copied into its release. `sealed` holds
    ciphertext (SealedValue text) only: the Deploy step opens it for the runtime.

    `resolved` (docs/decisions/0037): False while `variables` are the service's own as stored
    (references unresolved, shared variables not merged); the workflow resolves them once and
    then `variables` are the effective values, `shared_sealed` the environment's sealed ones the
    service does not override (bound to the environment), `injected` the platform's variables
    (domain/injected_variables.py). A release keeps the resolved snapshot: a rollback reuses it."""

    variables: dict[str, str]
    settings: ServiceSettings
    sealed: dict[str, str] = field(default_factory=dict)
    resolved: bool = False
    injected: dict[str, str] = field(default_factory=dict)
    shared_sealed: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "variables": dict(self.variables),
            "settings": self.settings.to_dict(),
            "sealed": dict(self.sealed),
            "resolved": self.resolved,
            "injected": dict(self.injected),
            "sharedSealed": dict(self.shared_sealed),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConfigSnapshot:
        return cls(
            variables=dict(data["variables"]),
            settings=ServiceSettings.from_dict(data["settings"]),
            sealed=dict(data.get("sealed") or {}),  # absent on items stored before sealed variables
            # Absent on items stored before ADR 0037: they had no references to resolve.
            resolved=bool(data.get("resolved", True)),
            injected=dict(data.get("injected") or {}),
            shared_sealed=dict(data.get("sharedSealed") or {}),
        )


@dataclass(frozen=True)
class Release(CarriesBuiltRelease, Versioned):
    """Immutable: a build's output + config snapshot, numbered per service. `config.settings` are
    the effective ones (the build's config-file settings applied)."""

    id: str
    service_id: str
    number: int
    built: BuiltRelease
    config: ConfigSnapshot
    deployment_id: str
    created_at: str
    # Set once retention removed the artifact (docs/decisions/0008): the release can no longer run,
    # and deploying it again is refused with the reason, e.g. "pruned by retention (keep 10)".
    pruned_at: str | None = None
    pruned_reason: str | None = None
    version: int = 1
    # Where it lives (as Environment.workspace_id): lists of releases are checked from their items.
    workspace_id: str = ""
    project_id: str = ""
    environment_id: str = ""

    @property
    def pruned(self) -> bool:
        return self.pruned_at is not None


@dataclass(frozen=True)
class Deployment(Versioned):
    id: str
    service_id: str
    project_id: str
    environment_id: str
    kind: DeploymentKind
    status: DeploymentStatus
    # What it deploys, fixed once: None on a source deployment created from its service's id alone
    # until the workflow's Prepare step reads the service and fills it (with `hostname`; ADR 0034).
    config: ConfigSnapshot | None
    created_at: str
    updated_at: str
    source_key: str | None = None
    source_etag: str | None = None  # the uploaded object's ETag: identical bytes, identical etag
    # What its build produced (or the earlier build it reuses, or the release it redeploys); None
    # until then. Its config-file settings travel with it, so a redeploy of it keeps them.
    built: BuiltRelease | None = None
    release_id: str | None = None
    release_number: int | None = None
    build_cached: bool | None = None
    build_cache: dict[str, Any] | None = None  # the build's cache report (hits, misses, time saved)
    no_cache: bool = False
    reason: str | None = None
    version: int = 1
    workspace_id: str = ""  # as Environment.workspace_id
    hostname: str = ""  # the service's, for the view's URL without reading the service
    workload: Workload = Workload.WEB  # what its release turned out to be once it went live
    # The pushed commit it deploys (domain/git_deploys.py); None for `railyard up` and the rest.
    # It is also RAILYARD_GIT_COMMIT_SHA (domain/injected_variables.py).
    commit_sha: str | None = None
    commit_message: str | None = None
    commit_author: str | None = None
    branch: str | None = None
    # Who made it (ADR 0042), fixed at creation; None on items written before it was recorded.
    created_by: DeploymentActor | None = None

    @property
    def requested(self) -> ConfigSnapshot:
        """Its config; a worker step after Prepare can rely on it being filled."""
        if self.config is None:
            raise InvalidTransition(
                f"deployment {self.id} has no configuration yet: its Prepare step has not run"
            )
        return self.config

    def moved_to(self, status: DeploymentStatus, at: str, **changes: Any) -> Deployment:
        check_transition(self.status, status)
        return self.bumped(status=status, updated_at=at, **changes)

    @property
    def in_progress(self) -> bool:
        return self.status in IN_PROGRESS

    @property
    def artifact_key(self) -> str | None:
        return None if self.built is None else self.built.artifact_key

    @property
    def start_command(self) -> str | None:
        return None if self.built is None else self.built.start_command

    @property
    def image(self) -> str | None:
        return None if self.built is None else self.built.image


@dataclass(frozen=True)
class ApiToken(Versioned):
    """A bearer token, stored only as its SHA-256. `org_id` is its workspace; `scopes` its action
    names (chalicelib/domain/policy.py; "*" is every action); a project, environment or service id
    narrows it to that resource and what is below it."""

    token_hash: str
    org_id: str
    name: str
    scopes: tuple[str, ...]
    created_at: str
    version: int = 1
    id: str = ""  # shown in lists and the audit log (the hash is never shown)
    project_id: str | None = None
    environment_id: str | None = None
    service_id: str | None = None
    expires_at: str | None = None  # ISO-8601 UTC; None never expires


@dataclass(frozen=True)
class BuiltSource(CarriesBuiltRelease, Versioned):
    """An uploaded source already built for a service, by fingerprint (its bytes plus every build
    input). Deploying the same fingerprint again reuses the artifact and skips the Build step."""

    service_id: str
    fingerprint: str
    built: BuiltRelease
    created_at: str
    version: int = 1


def source_fingerprint(etag: str, config: ConfigSnapshot) -> str:
    """The build inputs of a source deployment: the upload's bytes (by ETag), the start command
    override and the variables the build sees (never the sealed ones: builds do not get them). The
    same inputs always build the same artifact."""
    digest = hashlib.sha256()
    for part in (
        etag,
        config.settings.start_command or "",
        *sorted(f"{k}={v}" for k, v in config.variables.items()),
    ):
        digest.update(len(part).to_bytes(8, "big") + part.encode())
    return digest.hexdigest()


NO_CACHE_VARIABLE = "NO_CACHE"
_FALSY = frozenset({"", "0", "false", "no", "off"})


def no_cache_requested(variables: dict[str, str]) -> bool:
    """`NO_CACHE=1` (any value but an empty/false-like one) asks for a cold build."""
    value = variables.get(NO_CACHE_VARIABLE)
    return value is not None and value.strip().lower() not in _FALSY
