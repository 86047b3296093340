"""Fakes of the domain's ports for unit tests: in-memory, synchronous, no sockets."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.built_release import BuiltRelease
from chalicelib.domain.errors import Conflict, NotFound, TaskExpired
from chalicelib.domain.events import AuditRecorded
from chalicelib.domain.limits import step_limits
from chalicelib.domain.models import (
    ApiToken,
    BuiltSource,
    Deployment,
    Environment,
    Project,
    Release,
    Service,
    ServiceSettings,
    ServiceVariables,
    SharedVariables,
)
from chalicelib.domain.ports import (
    BuildRequest,
    BuildResult,
    Entity,
    LogLine,
    PendingBuild,
    PresignedUpload,
    Progress,
    Promotion,
    ReleaseEnd,
    ReleaseSpec,
    WorkflowRun,
)
from chalicelib.domain.sealing import SealedValue, SealedValueUnreadable
from chalicelib.domain.workloads import Workload


def _key(entity: Entity) -> tuple[str, str]:
    if isinstance(entity, ServiceVariables):
        return ("vars", entity.service_id)
    if isinstance(entity, SharedVariables):
        return ("shared-vars", entity.environment_id)
    if isinstance(entity, ApiToken):
        return ("token", entity.token_hash)
    if isinstance(entity, BuiltSource):
        return ("built", f"{entity.service_id}#{entity.fingerprint}")
    if isinstance(entity, PendingBuild):
        return ("pending", entity.build_id)
    return (type(entity).__name__, entity.id)


class InMemoryRepository:
    """Same contract as DynamoRepository: all-or-nothing saves conditioned on versions."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], Any] = {}
        self.tokens_used: list[tuple[str, str]] = []  # mark_token_used calls
        self._lock = threading.Lock()

    def save(self, *entities: Entity) -> None:
        with self._lock:
            for entity in entities:
                stored = self.items.get(_key(entity))
                expected = entity.version - 1
                if (stored.version if stored else 0) != expected or (stored is None and expected != 0):
                    raise Conflict(f"{type(entity).__name__} changed concurrently")
            for entity in entities:
                self.items[_key(entity)] = entity

    def save_for_service(self, service_id: str, *entities: Entity) -> None:
        # A deletion racing this check is the Dynamo adapter's to refuse (one transaction).
        if ("Service", service_id) not in self.items:
            raise NotFound(f"service {service_id} not found")
        self.save(*entities)

    def _get(self, kind: str, ident: str) -> Any:
        found = self.items.get((kind, ident))
        if found is None:
            raise NotFound(f"{kind.lower()} {ident} not found")
        return found

    def _all(self, kind: type) -> list[Any]:
        return [v for v in self.items.values() if isinstance(v, kind)]

    def get_token(self, token_hash: str) -> ApiToken:
        return self._get("token", token_hash)  # type: ignore[no-any-return]

    def mark_token_used(self, token_hash: str, at: str) -> None:
        self.tokens_used.append((token_hash, at))

    def get_project(self, project_id: str) -> Project:
        return self._get("Project", project_id)  # type: ignore[no-any-return]

    def list_projects(self, org_id: str) -> list[Project]:
        return sorted((p for p in self._all(Project) if p.org_id == org_id), key=lambda p: p.id)

    def get_environment(self, environment_id: str) -> Environment:
        return self._get("Environment", environment_id)  # type: ignore[no-any-return]

    def list_environments(self, project_id: str) -> list[Environment]:
        return sorted((e for e in self._all(Environment) if e.project_id == project_id), key=lambda e: e.id)

    def get_service(self, service_id: str) -> Service:
        return self._get("Service", service_id)  # type: ignore[no-any-return]

    def list_services(self, environment_id: str) -> list[Service]:
        return sorted(
            (s for s in self._all(Service) if s.environment_id == environment_id), key=lambda s: s.id
        )

    def get_service_with_variables(self, service_id: str) -> tuple[Service, ServiceVariables]:
        return self.get_service(service_id), self.get_variables(service_id)

    def get_shared_variables(self, environment_id: str) -> SharedVariables:
        return self.items.get(("shared-vars", environment_id)) or SharedVariables(environment_id, {}, 0)

    def get_variables(self, service_id: str) -> ServiceVariables:
        return self.items.get(("vars", service_id)) or ServiceVariables(service_id, {}, 0)

    def get_deployment(self, deployment_id: str) -> Deployment:
        return self._get("Deployment", deployment_id)  # type: ignore[no-any-return]

    def list_deployments(self, service_id: str, limit: int = 20) -> list[Deployment]:
        found = [d for d in self._all(Deployment) if d.service_id == service_id]
        return sorted(found, key=lambda d: d.id, reverse=True)[:limit]

    def get_release(self, release_id: str) -> Release:
        return self._get("Release", release_id)  # type: ignore[no-any-return]

    def get_built_source(self, service_id: str, fingerprint: str) -> BuiltSource:
        return self._get("built", f"{service_id}#{fingerprint}")  # type: ignore[no-any-return]

    def list_releases(self, service_id: str, limit: int = 20) -> list[Release]:
        found = [r for r in self._all(Release) if r.service_id == service_id]
        return sorted(found, key=lambda r: r.number, reverse=True)[:limit]

    def get_pending_build(self, build_id: str) -> PendingBuild:
        return self._get("pending", build_id)  # type: ignore[no-any-return]

    def list_pending_builds(self, deployment_id: str) -> list[PendingBuild]:
        found = [p for p in self._all(PendingBuild) if p.deployment_id == deployment_id]
        return sorted(found, key=lambda p: (p.created_at, p.build_id))

    def list_unfinished_deployments(self) -> list[Deployment]:
        return sorted((d for d in self._all(Deployment) if d.in_progress), key=lambda d: d.id)


@dataclass
class FakeWorkflow:
    started: list[Deployment] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    error: Exception | None = None
    runs: dict[str, WorkflowRun] = field(default_factory=dict)  # what describe() says, by deployment id
    audits: list[AuditRecorded] = field(default_factory=list)  # entries whose events a start emits

    def start(self, deployment: Deployment, audit: AuditRecorded | None = None) -> None:
        if self.error:
            raise self.error
        self.started.append(deployment)
        if audit is not None:
            self.audits.append(audit)

    def stop(self, deployment_id: str, cause: str) -> None:
        self.stopped.append(deployment_id)

    def describe(self, deployment_id: str) -> WorkflowRun | None:
        return self.runs.get(deployment_id)

    def limits(self, settings: ServiceSettings) -> dict[str, Any]:
        return step_limits(settings, builds_beat=True).workflow_input()


@dataclass
class FakeBlobStore:
    objects: dict[tuple[str, str], bytes] = field(default_factory=dict)

    def presign_post(self, bucket: str, key: str, expires_in: int, max_bytes: int) -> PresignedUpload:
        fields = {"key": key, "policy": f"expires={expires_in};max={max_bytes}"}
        return PresignedUpload(f"https://uploads.example/{bucket}", fields, max_bytes)

    def exists(self, bucket: str, key: str) -> bool:
        return (bucket, key) in self.objects

    def etag(self, bucket: str, key: str) -> str | None:
        body = self.objects.get((bucket, key))
        return None if body is None else hashlib.md5(body).hexdigest()

    def upload_file(self, bucket: str, key: str, path: str) -> None:
        with open(path, "rb") as f:
            self.objects[(bucket, key)] = f.read()

    def download_file(self, bucket: str, key: str, path: str) -> None:
        with open(path, "wb") as f:
            f.write(self.get_bytes(bucket, key))

    def put_bytes(self, bucket: str, key: str, body: bytes) -> None:
        self.objects[(bucket, key)] = body

    def get_bytes(self, bucket: str, key: str) -> bytes:
        try:
            return self.objects[(bucket, key)]
        except KeyError:  # as S3BlobStore translates a 404
            raise NotFound(f"s3://{bucket}/{key} does not exist") from None

    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        return sorted(k for b, k in self.objects if b == bucket and k.startswith(prefix))

    def delete_keys(self, bucket: str, keys: list[str]) -> None:
        for key in keys:
            self.objects.pop((bucket, key), None)


class FakeLog:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, message: str) -> None:
        self.lines.append(message)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def text(self) -> str:
        return "\n".join(self.lines)


class FakeLogStore:
    def __init__(self) -> None:
        self.streams: dict[tuple[str, str], FakeLog] = {}

    def open(self, deployment_id: str, stream: str) -> FakeLog:
        return self.streams.setdefault((deployment_id, stream), FakeLog())

    def read(self, deployment_id: str, stream: str, after: int, limit: int) -> list[LogLine]:
        lines = self.streams.get((deployment_id, stream), FakeLog()).lines
        return [LogLine(i + 1, "", m) for i, m in enumerate(lines)][after : after + limit]

    def delete(self, deployment_id: str) -> int:
        gone = [key for key in self.streams if key[0] == deployment_id]
        for key in gone:
            del self.streams[key]
        return len(gone)


@dataclass
class FakeBuildRunner:
    error: Exception | None = None
    calls: list[BuildRequest] = field(default_factory=list)
    deploy_settings: dict[str, Any] = field(default_factory=dict)  # the config file's
    image: str | None = None  # the container image the build "pushed" (None: a local build, no image)

    def build(self, request: BuildRequest, log: Any, progress: Progress) -> BuildResult:
        self.calls.append(request)
        progress()
        if self.error:
            raise self.error
        log.write("built")
        built = BuiltRelease(
            f"artifacts/{request.source_key}.tar.gz", "python3 main.py", self.image, self.deploy_settings
        )
        return BuildResult(
            built, False, "python", cache={"artifact": "miss", "deps": "none", "savedSeconds": 0.0}
        )


@dataclass
class FakeAsyncBuildRunner:
    """An AsyncBuildRunner (as CodeBuildRunner): start() hands out build ids; the test then plays
    the build's state-change event. Like CodeBuild's idempotency token, a second start() for the
    same deployment within `idempotent` gives the same build back."""

    started: list[BuildRequest] = field(default_factory=list)
    image: str | None = "123456789012.dkr.ecr.us-east-1.amazonaws.com/railyard:dep"
    deploy_settings: dict[str, Any] = field(default_factory=dict)  # the config file's
    error: Exception | None = None
    idempotent: bool = False

    def start(self, request: BuildRequest, log: Any) -> str:
        if self.error:
            raise self.error
        earlier = [r for r in self.started if r.deployment_id == request.deployment_id]
        if self.idempotent and earlier:
            return f"builds:{request.deployment_id}-1"
        self.started.append(request)
        build_id = f"builds:{request.deployment_id}-{len(earlier) + 1}"
        log.write(f"build: started CodeBuild build {build_id}")
        return build_id

    def result(self, deployment_id: str) -> BuildResult:
        if not any(r.deployment_id == deployment_id for r in self.started):
            raise NotFound(f"no build record for {deployment_id}")
        artifact_key = f"artifacts/codebuild/{deployment_id}/artifact.tar.gz"
        return BuildResult(
            BuiltRelease(artifact_key, "node server.js", self.image, self.deploy_settings), False, "node"
        )


@dataclass
class FakeRuntime:
    """Checks a promotion before "starting" and commits it right before "switching", as a real
    runtime does; `before_commit` runs in between (another deployment's commit, a timeout)."""

    error: Exception | None = None
    activated: list[ReleaseSpec] = field(default_factory=list)
    before_commit: Callable[[ReleaseSpec], None] | None = None
    forgotten: list[str] = field(default_factory=list)  # release ids, in the order retention forgot them
    workload: Workload = Workload.WEB  # what every release "turns out" to be (a JOB commits COMPLETED)

    def activate(
        self, spec: ReleaseSpec, log: Any, progress: Progress, promotion: Promotion | None = None
    ) -> None:
        if promotion is not None:
            promotion.check()
        progress()
        if self.error:
            raise self.error
        if self.before_commit is not None:
            self.before_commit(spec)
        if promotion is not None:
            promotion.commit(self.workload)
        self.activated.append(spec)

    def url_for(self, hostname: str) -> str:
        return f"http://{hostname}.localhost"

    def stop(self, service_id: str) -> None:
        pass

    def forget_release(self, release_id: str) -> None:
        self.forgotten.append(release_id)


@dataclass
class FakeLiveReleaseWatch:
    """A runtime that finds live releases' ends by looking (Kubernetes): `ends` is what it finds
    (until retired), `error` what looking raises; `retired` records each retirement."""

    ends: list[ReleaseEnd] = field(default_factory=list)
    error: Exception | None = None
    retired: list[ReleaseEnd] = field(default_factory=list)

    def ended_releases(self) -> list[ReleaseEnd]:
        if self.error:
            raise self.error
        return [end for end in self.ends if end not in self.retired]

    def retire(self, end: ReleaseEnd, log: Any) -> None:
        log.write(f"retired {end.release_id}")
        self.retired.append(end)


@dataclass
class FakeSealer:
    """Envelope "encryption" bound to its context, as the KMS sealer is: the ciphertext is the value
    XORed with a keystream derived from the context, and the "encrypted key" is the context's
    digest, so opening under another context (another service or name) or a changed byte fails.
    Not cryptography: only the port's contract, and plaintext never appears in what it returns."""

    key_id: str = "fake-key"
    opened: list[dict[str, str]] = field(default_factory=list)  # the contexts it opened, in order

    def seal(self, plaintext: bytes, context: Mapping[str, str]) -> SealedValue:
        digest = _context_digest(context)
        body = bytes(b ^ k for b, k in zip(plaintext, _keystream(digest, len(plaintext)), strict=True))
        return SealedValue(body + hashlib.sha256(digest + plaintext).digest()[:8], digest, self.key_id)

    def open(self, sealed: SealedValue, context: Mapping[str, str]) -> bytes:
        digest = _context_digest(context)
        if sealed.encrypted_key != digest or sealed.key_id != self.key_id:
            raise SealedValueUnreadable("not sealed for this context")
        body, tag = sealed.ciphertext[:-8], sealed.ciphertext[-8:]
        plaintext = bytes(b ^ k for b, k in zip(body, _keystream(digest, len(body)), strict=True))
        if hashlib.sha256(digest + plaintext).digest()[:8] != tag:
            raise SealedValueUnreadable("its ciphertext does not verify")
        self.opened.append(dict(context))
        return plaintext


def _context_digest(context: Mapping[str, str]) -> bytes:
    return hashlib.sha256(repr(sorted(context.items())).encode()).digest()


def _keystream(seed: bytes, length: int) -> bytes:
    blocks = (hashlib.sha256(seed + i.to_bytes(8, "big")).digest() for i in range(length // 32 + 1))
    return b"".join(blocks)[:length]


@dataclass
class FakeCallbacks:
    outcomes: list[tuple[str, str, Any]] = field(default_factory=list)  # successes and failures
    beats: list[str] = field(default_factory=list)  # tokens, one per acknowledged heartbeat
    expired: set[str] = field(default_factory=set)  # tokens the workflow gave up: heartbeats raise

    def succeed(self, task_token: str, output: dict[str, Any]) -> None:
        self.outcomes.append(("success", task_token, output))

    def fail(self, task_token: str, error: str, cause: str) -> None:
        self.outcomes.append(("failure", task_token, (error, cause)))

    def heartbeat(self, task_token: str) -> None:
        if task_token in self.expired:
            raise TaskExpired(f"task {task_token} timed out")
        self.beats.append(task_token)
