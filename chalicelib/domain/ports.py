"""Ports: the small Protocols through which the domain talks to the world.

Adapters in chalicelib/adapters implement them (DynamoDB, Step Functions, EventBridge, S3, the local
build runner and runtime); unit tests use the fakes in tests/fakes.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from chalicelib.domain.built_release import CarriesBuiltRelease
from chalicelib.domain.domains import CustomDomain
from chalicelib.domain.events import AuditRecorded, Envelope
from chalicelib.domain.hostnames import HostnameReservation
from chalicelib.domain.models import (
    ApiToken,
    BuiltRelease,
    BuiltSource,
    Deployment,
    Environment,
    Project,
    Release,
    Service,
    ServiceSettings,
    ServiceVariables,
    SharedVariables,
    Versioned,
)
from chalicelib.domain.release_spec import ReleaseSpec
from chalicelib.domain.workloads import Workload


@dataclass(frozen=True)
class PendingBuild(Versioned):
    """A build running elsewhere (CodeBuild) and the task token of the Build step waiting for it.

    Stored by build id, so the build's state-change event finds the token; listed by deployment,
    so a retried Build step finds the build it already started instead of starting another.
    `finished` is the status the build ended with once its step was completed (a later duplicate
    event is then ignored); `expires_at` (epoch seconds) lets the table's TTL delete it."""

    build_id: str
    deployment_id: str
    task_token: str
    created_at: str
    expires_at: int
    finished: str | None = None
    version: int = 1


@dataclass(frozen=True)
class AuditRecord:
    """An audit entry saved in the same transaction as the change it records, kept until
    `expires_at` (epoch seconds): a use case that creates a deployment writes its request's entry
    with it (docs/decisions/0027-one-write-per-deployment.md)."""

    entry: AuditRecorded
    expires_at: int
    version: int = 1  # written once, on the condition that it does not exist

    @property
    def id(self) -> str:
        return self.entry.id


Entity = (
    Project
    | Environment
    | Service
    | ServiceVariables
    | SharedVariables
    | Deployment
    | Release
    | ApiToken
    | BuiltSource
    | PendingBuild
    | HostnameReservation
    | CustomDomain
    | AuditRecord
)


class Repository(Protocol):
    """The single table. `save` writes entities in one transaction, each conditioned on its version
    (version 1 = must not exist; version N = stored version must be N-1); a failed condition raises
    Conflict and writes nothing. Getters raise NotFound."""

    def save(self, *entities: Entity) -> None: ...
    def save_for_service(self, service_id: str, *entities: Entity) -> None:
        """`save`, in the same transaction as a check that the service exists (NotFound "service
        <id> not found" when it does not): what a deployment made from a service id alone needs."""
        ...

    def get_token(self, token_hash: str) -> ApiToken: ...
    def mark_token_used(self, token_hash: str, at: str) -> None: ...  # sets last_used_at in place
    def get_project(self, project_id: str) -> Project: ...
    def list_projects(self, org_id: str) -> list[Project]: ...
    def get_environment(self, environment_id: str) -> Environment: ...
    def list_environments(self, project_id: str) -> list[Environment]: ...
    def get_service(self, service_id: str) -> Service: ...
    def list_services(self, environment_id: str) -> list[Service]: ...
    def get_variables(self, service_id: str) -> ServiceVariables: ...  # version 0 when never set
    def get_service_with_variables(self, service_id: str) -> tuple[Service, ServiceVariables]:
        """Both in one read (they share a partition): what a deployment snapshots."""
        ...

    def get_shared_variables(self, environment_id: str) -> SharedVariables: ...  # version 0: never set

    def get_deployment(self, deployment_id: str) -> Deployment: ...
    def list_deployments(self, service_id: str, limit: int = 20) -> list[Deployment]: ...  # newest first
    def get_release(self, release_id: str) -> Release: ...
    def list_releases(self, service_id: str, limit: int = 20) -> list[Release]: ...  # newest first
    def get_built_source(self, service_id: str, fingerprint: str) -> BuiltSource: ...
    def get_pending_build(self, build_id: str) -> PendingBuild: ...
    def list_pending_builds(self, deployment_id: str) -> list[PendingBuild]: ...  # oldest first
    # Every deployment in QUEUED/BUILDING/DEPLOYING, of any service, oldest first: what a sweeper or
    # a restart must end or resume. Served by an index, so it may lag a save by a moment.
    def list_unfinished_deployments(self) -> list[Deployment]: ...


WORKFLOW_RUNNING = "RUNNING"  # a WorkflowRun's status while it runs; anything else has ended


@dataclass(frozen=True)
class WorkflowRun:
    """What the workflow of one deployment did, as far as the domain needs to end it."""

    status: str  # RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED
    # The failed step as its Catch recorded it (`$.failure`) and the execution's `limits`, when
    # the run got as far as MarkFailed; else the execution's own error and cause.
    failure: dict[str, Any] | None = None
    limits: dict[str, Any] | None = None
    error: str | None = None
    cause: str | None = None


class WorkflowStarter(Protocol):
    """Starts/stops the deploy state machine; execution name = deployment id (idempotent).
    `start`'s `audit`: the entry of the request that created the deployment, whose event the
    workflow emits (the request path does not). `describe` is None for a deployment whose workflow
    never started."""

    def start(self, deployment: Deployment, audit: AuditRecorded | None = None) -> None: ...
    def limits(self, settings: ServiceSettings) -> dict[str, Any]:
        """The execution input's `limits` for a deployment with these settings (the Prepare step
        gives them again once it filled a deployment's settings: ADR 0034)."""
        ...

    def stop(self, deployment_id: str, cause: str) -> None: ...
    def describe(self, deployment_id: str) -> WorkflowRun | None: ...


class TaskCallbacks(Protocol):
    """Reports a task-token step's outcome back to the workflow. `heartbeat` raises TaskExpired
    when the workflow no longer waits for the task (timed out, or its execution ended); reporting
    an outcome for such a task is a no-op."""

    def succeed(self, task_token: str, output: dict[str, Any]) -> None: ...
    def fail(self, task_token: str, error: str, cause: str) -> None: ...
    def heartbeat(self, task_token: str) -> None: ...


class EventPublisher(Protocol):
    """Puts one event on Railyard's bus, where the catalogue's rules route it by its name (the
    detail-type) as they route the deploy workflow's own; raises when the bus does not take it."""

    def publish(self, envelope: Envelope) -> None: ...


@dataclass(frozen=True)
class PresignedUpload:
    """An HTML-form-style upload (S3 presigned POST): send `fields` and then the file, as
    multipart/form-data, to `url`. The signed policy holds the key and the size range."""

    url: str
    fields: dict[str, str]
    max_bytes: int


class BlobStore(Protocol):
    """Object storage for sources, artifacts and logs (S3)."""

    def presign_post(self, bucket: str, key: str, expires_in: int, max_bytes: int) -> PresignedUpload: ...
    def exists(self, bucket: str, key: str) -> bool: ...
    def etag(self, bucket: str, key: str) -> str | None: ...  # None when the object does not exist
    def upload_file(self, bucket: str, key: str, path: str) -> None: ...
    def download_file(self, bucket: str, key: str, path: str) -> None: ...
    def put_bytes(self, bucket: str, key: str, body: bytes) -> None: ...
    def get_bytes(self, bucket: str, key: str) -> bytes: ...
    def list_keys(self, bucket: str, prefix: str) -> list[str]: ...  # sorted ascending
    def delete_keys(self, bucket: str, keys: list[str]) -> None: ...  # in order; a missing key is no error


class LogSink(Protocol):
    """Where one stream of a deployment's log goes while it is produced."""

    def write(self, message: str) -> None: ...
    def flush(self) -> None: ...


@dataclass(frozen=True)
class LogLine:
    seq: int
    ts: str
    message: str


class LogStore(Protocol):
    """Deployment logs (streams "build" and "deploy"), appended while produced, read by cursor."""

    def open(self, deployment_id: str, stream: str) -> LogWriter: ...
    def read(self, deployment_id: str, stream: str, after: int, limit: int) -> list[LogLine]: ...
    def delete(self, deployment_id: str) -> int: ...  # every stream of it; how many objects went


class LogWriter(LogSink, Protocol):
    def close(self) -> None: ...


@dataclass(frozen=True)
class BuildRequest:
    deployment_id: str
    service_id: str
    source_key: str
    settings: ServiceSettings
    variables: dict[str, str] = field(default_factory=dict)
    no_cache: bool = False  # force a cold build (`railyard up --no-cache` or NO_CACHE=1)
    environment: str = "production"  # the environment name, for config files' environments.<name>
    # The project the service belongs to: a CodeBuild build runs as that project's role and reads
    # and writes only under its prefixes (catalogue.BuildIsolation). "" only in tests of other runners.
    project_id: str = ""


@dataclass(frozen=True)
class BuildResult(CarriesBuiltRelease):
    # The artifact, its start command, image and the config file's deploy settings (which win
    # over the service's settings for this release, as config as code does on Railway).
    built: BuiltRelease
    cached: bool  # True when an identical source was built before and its artifact reused
    provider: str
    # What the build cache did, for users: {"artifact": "hit"|"miss"|"disabled", "deps": ...,
    # "savedSeconds": float}; None when the runner does not report it.
    cache: dict[str, Any] | None = None


# Called by long steps now and then: sends a heartbeat and raises DeploymentCancelled if the
# deployment was cancelled meanwhile.
Progress = Callable[[], None]


class BuildRunner(Protocol):
    """Turns an uploaded source into an artifact. Raises BuildFailed / NothingToBuild."""

    def build(self, request: BuildRequest, log: LogSink, progress: Progress) -> BuildResult: ...


@runtime_checkable
class AsyncBuildRunner(Protocol):
    """A build runner whose builds run elsewhere and end minutes later (CodeBuild). The Build step
    starts the build and leaves its task token waiting; the build's state-change event, read into
    a BuildStateChange, completes the step. The pipeline uses this port when its runner has it."""

    def start(self, request: BuildRequest, log: LogSink) -> str: ...  # the build id; BuildFailed
    def result(self, deployment_id: str) -> BuildResult: ...  # once SUCCEEDED; NotFound before


@runtime_checkable
class ArtifactObjects(Protocol):
    """A build runner that writes more than the artifact itself (a metadata object that marks it
    complete): the keys that make up one artifact, in the order to delete them (markers first, so a
    cache lookup never finds a half-deleted artifact). Retention deletes just the artifact's own key
    when the runner does not have this."""

    def artifact_objects(self, artifact_key: str) -> list[str]: ...


# The statuses an asynchronous build ends with (BuildStateChange.status); others are progress.
BUILD_SUCCEEDED = "SUCCEEDED"
BUILD_FAILED = "FAILED"
BUILD_STOPPED = "STOPPED"
BUILD_ENDED = frozenset({BUILD_SUCCEEDED, BUILD_FAILED, BUILD_STOPPED})


@dataclass(frozen=True)
class BuildStateChange:
    """What an asynchronous build's state-change event says, in the domain's terms."""

    build_id: str
    status: str  # SUCCEEDED, FAILED, STOPPED or IN_PROGRESS (a timeout or a fault counts as FAILED)
    reported_status: str  # as the build service said it: TIMED_OUT, FAULT, ...
    phase: str | None = None  # the phase that failed, else the current one
    context: str = ""  # the build service's explanation of the failed phase
    logs: str | None = None  # where the build's own output can be read (a console link)


class Promotion(Protocol):
    """A deployment's right to take its service's traffic, asked by the runtime while it holds the
    service's activation lock (docs/decisions/0010).

    `check` only reads, and raises when the release must not go live: Superseded (a newer
    deployment is live), TaskExpired (the workflow gave the step up), DeploymentCancelled, ... A
    runtime calls it before it starts anything. `commit` is the commit point: it checks again and
    makes the release the service's active one with a conditional write. A runtime calls it right
    before it moves the traffic; when it raises, the new release is discarded and the previous one
    keeps serving. Both are idempotent (a committed promotion commits again as a no-op)."""

    def check(self) -> None: ...
    # `workload`: what the release turned out to be (domain/workloads.py); a JOB commits COMPLETED.
    def commit(self, workload: Workload = Workload.WEB) -> None: ...


class Runtime(Protocol):
    """Runs releases. `activate` returns once the new release is live (domain/workloads.py: healthy
    and receiving traffic, a worker that stayed up, or a job that ran to completion; the previous
    one drains in the background); it raises HealthCheckFailed, leaving the previous release
    serving. With a `promotion` it calls `promotion.check()` before starting the release
    and `promotion.commit()` right before moving the traffic (None: the caller already made this
    release the active one, as a restart restoring it does)."""

    def activate(
        self, spec: ReleaseSpec, log: LogSink, progress: Progress, promotion: Promotion | None = None
    ) -> None: ...
    def url_for(self, hostname: str) -> str: ...
    def stop(self, service_id: str) -> None: ...
    # Retention pruned the release: drop what the runtime keeps for it on its hosts (the local
    # runtime's unpacked directory). A release with a process still running keeps it; idempotent.
    def forget_release(self, release_id: str) -> None: ...


class CrashListener(Protocol):
    """The runtime tells the domain when a live release stopped for good: it exhausted its restarts
    (CRASHED), or `completed`: its processes exited 0 and are not restarted (COMPLETED, a job)."""

    def __call__(self, deployment_id: str, reason: str, completed: bool = False) -> None: ...


@dataclass(frozen=True)
class ReleaseEnd:
    """A live release that stopped for good, found by a runtime that looks (LiveReleaseWatch)."""

    service_id: str
    deployment_id: str
    release_id: str
    reason: str  # the exit code and why it is not restarted, as the user reads it
    completed: bool  # every process exited 0 (COMPLETED, a job); else CRASHED


class LiveReleaseWatch(Protocol):
    """A runtime that learns that a live release stopped for good by looking at it (Kubernetes: its
    pods' container statuses) instead of from processes it supervises (the local runtime calls its
    CrashListener). `ended_releases` only reads, so a sweep may call it as often as it likes;
    `retire` stops what is left of a release once its end is recorded, so it is not found again
    (idempotent; it leaves alone a service that has moved on to another release)."""

    def ended_releases(self) -> list[ReleaseEnd]: ...
    def retire(self, end: ReleaseEnd, log: LogSink) -> None: ...


class CronTrigger(Protocol):
    """Starts one run of a cron service's live release now; False when its previous run is still
    going (runs never overlap). Raises NotFound when the runtime has no schedule for it."""

    def run_now(self, service_id: str) -> bool: ...


@dataclass(frozen=True)
class SourceSnapshot:
    """An uploaded source as the watch-pattern check sees it."""

    manifest: dict[str, str]  # path -> content digest
    watch_patterns: tuple[str, ...]  # from the config files, for the deployment's environment


class SourceInspector(Protocol):
    """Reads uploaded sources for build.watchPatterns and keeps their manifests by upload ETag."""

    def inspect(self, source_key: str, environment: str) -> SourceSnapshot: ...
    def save_manifest(self, service_id: str, etag: str, manifest: dict[str, str]) -> None: ...
    def load_manifest(self, service_id: str, etag: str) -> dict[str, str] | None: ...
