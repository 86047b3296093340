"""Entities of the control plane and the deployment status machine.

Entities are frozen dataclasses. Every mutable aggregate carries `version`: a new entity has
version 1, and `bumped()` returns the next version; the repository writes version N only if the
stored item still has version N-1 (optimistic concurrency). Releases are immutable: a rollback is a
new Deployment that re-activates an older Release.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Self

from chalicelib.domain import limits
from chalicelib.domain.errors import BadRequest, InvalidTransition
from chalicelib.domain.schedule import cron_problem
from chalicelib.domain.workloads import Workload


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


RESTART_POLICIES = ("ON_FAILURE", "ALWAYS", "NEVER")
MAX_REPLICAS = limits.MAX_REPLICAS  # declared in limits; kept here for its importers
_PATH = re.compile(r"^/[\x21-\x7e]*$")
# A setting that no longer exists: custom domains are records that must be verified before they
# serve (chalicelib/domain/domains.py, docs/decisions/0024). Stored items may still carry it.
RETIRED_SETTINGS = ("custom_domains",)


@dataclass(frozen=True)
class ServiceSettings:
    """What a user configures per service (Railway's deploy settings, camelCase in the API)."""

    start_command: str | None = None
    # None: no HTTP check; live once the process opened $PORT or stayed up (domain/workloads.py).
    healthcheck_path: str | None = None
    healthcheck_timeout: float = 60.0
    restart_policy_type: str = "ON_FAILURE"
    restart_policy_max_retries: int = 3
    # Railway's teardown: the old release keeps serving `overlap_seconds` after the new one is live,
    # then gets SIGTERM and `draining_seconds` to exit before SIGKILL.
    overlap_seconds: float = 2.0
    draining_seconds: float = 5.0
    build_timeout: float = 900.0
    pre_deploy_command: str | None = None  # run once before a release starts (migrations)
    num_replicas: int = 1
    # A cron service runs its start command on this schedule (UTC) instead of serving traffic.
    cron_schedule: str | None = None
    # Resources per replica (Kubernetes requests/limits): CPU in millicores, memory in MiB.
    cpu_request_millis: int = 250
    cpu_limit_millis: int = 1000
    memory_request_mb: int = 256
    memory_limit_mb: int = 512
    # Autoscaling is on when autoscale_max_replicas is set; it then owns the replica count.
    autoscale_min_replicas: int = 1
    autoscale_max_replicas: int | None = None
    autoscale_cpu_percent: int | None = 70
    autoscale_memory_percent: int | None = None

    def __post_init__(self) -> None:
        if self.healthcheck_path is not None and not _PATH.match(self.healthcheck_path):
            raise BadRequest("settings.healthcheckPath must start with '/' and contain no spaces")
        if not 0 < self.healthcheck_timeout <= limits.MAX_HEALTHCHECK_TIMEOUT_SECONDS:
            raise BadRequest(
                "settings.healthcheckTimeout must be between 0 and "
                f"{limits.MAX_HEALTHCHECK_TIMEOUT_SECONDS} seconds"
            )
        if self.restart_policy_type not in RESTART_POLICIES:
            raise BadRequest(f"settings.restartPolicyType must be one of {', '.join(RESTART_POLICIES)}")
        if not 0 <= self.restart_policy_max_retries <= limits.MAX_RESTART_RETRIES:
            raise BadRequest(
                f"settings.restartPolicyMaxRetries must be between 0 and {limits.MAX_RESTART_RETRIES}"
            )
        for name, seconds in (
            ("overlapSeconds", self.overlap_seconds),
            ("drainingSeconds", self.draining_seconds),
        ):
            if not 0 <= seconds <= limits.MAX_TEARDOWN_SECONDS:
                raise BadRequest(f"settings.{name} must be between 0 and {limits.MAX_TEARDOWN_SECONDS}")
        if not 1 <= self.num_replicas <= MAX_REPLICAS:
            raise BadRequest(f"settings.numReplicas must be between 1 and {MAX_REPLICAS}")
        if self.cron_schedule is not None:
            problem = cron_problem(self.cron_schedule)
            if problem:
                raise BadRequest(f"settings.cronSchedule {self.cron_schedule!r} is not valid: {problem}")
        if not 0 < self.build_timeout <= 7200:
            raise BadRequest("settings.buildTimeout must be between 0 and 7200 seconds")
        self._check_resources()
        self._check_autoscaling()
        self._check_lengths()

    def _check_lengths(self) -> None:
        # The API's schema and the config files give these the same bounds; checked here too so
        # that whichever sets them, a deployment's item stays far below DynamoDB's item limit.
        for name, value, limit in (
            ("startCommand", self.start_command, limits.MAX_COMMAND_CHARS),
            ("preDeployCommand", self.pre_deploy_command, limits.MAX_COMMAND_CHARS),
            ("healthcheckPath", self.healthcheck_path, limits.MAX_PATH_CHARS),
            ("cronSchedule", self.cron_schedule, limits.MAX_CRON_CHARS),
        ):
            if value is not None and len(value) > limit:
                raise BadRequest(f"settings.{name} is {len(value)} characters; the limit is {limit}")

    def _check_resources(self) -> None:
        if not 10 <= self.cpu_request_millis <= self.cpu_limit_millis <= 32000:
            raise BadRequest(
                "settings.cpuRequestMillis and cpuLimitMillis must satisfy 10 <= request <= limit <= 32000"
            )
        if not 16 <= self.memory_request_mb <= self.memory_limit_mb <= 65536:
            raise BadRequest(
                "settings.memoryRequestMb and memoryLimitMb must satisfy 16 <= request <= limit <= 65536"
            )

    def _check_autoscaling(self) -> None:
        if self.autoscale_max_replicas is None:
            return
        if not 1 <= self.autoscale_min_replicas <= self.autoscale_max_replicas <= MAX_REPLICAS:
            raise BadRequest(
                "settings.autoscaleMinReplicas and autoscaleMaxReplicas must satisfy "
                f"1 <= min <= max <= {MAX_REPLICAS}"
            )
        targets = (self.autoscale_cpu_percent, self.autoscale_memory_percent)
        if all(t is None for t in targets):
            raise BadRequest(
                "settings.autoscaleCpuPercent or autoscaleMemoryPercent must be set to autoscale"
            )
        if any(t is not None and not 1 <= t <= 100 for t in targets):
            raise BadRequest(
                "settings.autoscaleCpuPercent and autoscaleMemoryPercent must be between 1 and 100"
            )

    @property
    def autoscaling(self) -> bool:
        return self.autoscale_max_replicas is not None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ServiceSettings:
        # Settings written before a setting was retired are read without it (never served again).
        return cls(**{name: value for name, value in data.items() if name not in RETIRED_SETTINGS})


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
class VariableListing:
    """What a user may read of a service's variables: plain values, and only the names of the
    sealed ones (their values never leave the platform except into the running release)."""

    plain: dict[str, str]
    sealed: tuple[str, ...]

    @classmethod
    def of(cls, variables: ServiceVariables) -> VariableListing:
        return cls(dict(variables.values), tuple(sorted(variables.sealed)))


@dataclass(frozen=True)
class ConfigSnapshot:
    """The configuration a deployment was requested with; copied into its release. `sealed` holds
    ciphertext (SealedValue text) only: the Deploy step opens it for the runtime."""

    variables: dict[str, str]
    settings: ServiceSettings
    sealed: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "variables": dict(self.variables),
            "settings": self.settings.to_dict(),
            "sealed": dict(self.sealed),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConfigSnapshot:
        return cls(
            variables=dict(data["variables"]),
            settings=ServiceSettings.from_dict(data["settings"]),
            sealed=dict(data.get("sealed") or {}),  # absent on items stored before sealed variables
        )


@dataclass(frozen=True)
class Release(Versioned):
    """Immutable: artifact + start command + config snapshot, numbered per service."""

    id: str
    service_id: str
    number: int
    artifact_key: str
    start_command: str
    config: ConfigSnapshot
    deployment_id: str
    created_at: str
    settings_overrides: dict[str, Any] = field(default_factory=dict)  # see Deployment
    image: str | None = None  # the container image, when the build pushed one
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
    config: ConfigSnapshot
    created_at: str
    updated_at: str
    source_key: str | None = None
    source_etag: str | None = None  # the uploaded object's ETag: identical bytes, identical etag
    artifact_key: str | None = None
    start_command: str | None = None
    release_id: str | None = None
    release_number: int | None = None
    build_cached: bool | None = None
    build_cache: dict[str, Any] | None = None  # the build's cache report (hits, misses, time saved)
    # Settings the source's config file set (railway.json deploy.*): they travel with the artifact,
    # so a redeploy of it (a variable change) keeps them.
    settings_overrides: dict[str, Any] = field(default_factory=dict)
    no_cache: bool = False
    reason: str | None = None
    image: str | None = None  # the container image the build pushed (AWS builds)
    version: int = 1
    workspace_id: str = ""  # as Environment.workspace_id
    hostname: str = ""  # the service's, for the view's URL without reading the service
    workload: Workload = Workload.WEB  # what its release turned out to be once it went live

    def moved_to(self, status: DeploymentStatus, at: str, **changes: Any) -> Deployment:
        check_transition(self.status, status)
        return self.bumped(status=status, updated_at=at, **changes)

    @property
    def in_progress(self) -> bool:
        return self.status in IN_PROGRESS


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
class BuiltSource(Versioned):
    """An uploaded source already built for a service, by fingerprint (its bytes plus every build
    input). Deploying the same fingerprint again reuses the artifact and skips the Build step."""

    service_id: str
    fingerprint: str
    artifact_key: str
    start_command: str
    created_at: str
    settings_overrides: dict[str, Any] = field(default_factory=dict)  # from the source's config file
    image: str | None = None
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
