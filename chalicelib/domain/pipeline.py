"""The worker side of a deployment: the steps the deploy state machine hands to workers.

Each step is idempotent (a redelivered SQS message or a retried task runs it again without harm):
it reads the deployment, skips what is already done, and only moves the status forward through the
transition table. `TaskRunner` turns a work-queue message into one step and reports the outcome on
the message's task token.

With an asynchronous build runner (CodeBuild) the Build step only starts the build and stores its
task token in a PendingBuild; the build's state-change event later reaches
`TaskRunner.build_changed`, which records the result and completes that token
(docs/decisions/0006-codebuild-completion.md).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from chalicelib.domain.built_release import BuiltRelease
from chalicelib.domain.errors import (
    BuildFailed,
    Conflict,
    DeploymentCancelled,
    DomainError,
    NotFound,
    Superseded,
    TaskExpired,
    TransientError,
)
from chalicelib.domain.ids import Clock, iso, parse_iso
from chalicelib.domain.intake import SourceIntake
from chalicelib.domain.limits import (
    HEARTBEAT_EVERY_SECONDS,
    MAX_COMMAND_CHARS,
    StepFailure,
    StepLimits,
    failure_reason,
)
from chalicelib.domain.live_end import record_live_end
from chalicelib.domain.models import (
    IN_PROGRESS,
    BuiltSource,
    ConfigSnapshot,
    Deployment,
    DeploymentKind,
    DeploymentStatus,
    Release,
    Service,
    no_cache_requested,
    source_fingerprint,
)
from chalicelib.domain.ports import (
    BUILD_ENDED,
    BUILD_STOPPED,
    BUILD_SUCCEEDED,
    AsyncBuildRunner,
    BuildRequest,
    BuildResult,
    BuildRunner,
    BuildStateChange,
    LogSink,
    LogStore,
    PendingBuild,
    Progress,
    Repository,
    Runtime,
    SourceInspector,
    TaskCallbacks,
)
from chalicelib.domain.promotion import (
    COMMIT_ATTEMPTS,
    ReleasePromotion,
    TaskLease,
    ensure_not_superseded,
    ensure_running,
)
from chalicelib.domain.release_spec import release_spec
from chalicelib.domain.retention import ensure_not_pruned
from chalicelib.domain.sealing import Sealer
from chalicelib.domain.watch import decide

S = DeploymentStatus
_log = logging.getLogger(__name__)
CANCEL_CHECK_EVERY = 1.0
# How long a PendingBuild outlives its start: longer than any Build task (7500 s) and than SQS keeps
# a duplicate of the build's event (4 days by default), so a late duplicate still finds it finished.
PENDING_BUILD_TTL = 7 * 24 * 3600


class Pipeline:
    def __init__(
        self,
        repo: Repository,
        builds: BuildRunner | AsyncBuildRunner,  # an AsyncBuildRunner makes the Build step asynchronous
        runtime: Runtime,
        logs: LogStore,
        clock: Clock,
        monotonic: Callable[[], float] = time.monotonic,
        sources: SourceInspector | None = None,  # None: watch patterns are not checked
        sealer: Sealer | None = None,  # opens sealed variables for the runtime (None: they fail)
        intake: SourceIntake | None = None,  # the Prepare step (None: this worker cannot run it)
    ) -> None:
        self._intake = intake
        self._sources = sources
        self._sealer = sealer
        self._repo = repo
        self._builds = builds
        self._runtime = runtime
        self._logs = logs
        self._clock = clock
        self._monotonic = monotonic

    # --- Prepare (domain/intake.py) ------------------------------------------------------------

    def prepare(self, deployment_id: str) -> dict[str, Any]:
        if self._intake is None:
            raise TypeError("this worker was built without a source intake for the Prepare step")
        return self._intake.prepare(deployment_id)

    # --- Build ---------------------------------------------------------------------------------

    def build(
        self, deployment_id: str, heartbeat: Callable[[], None], task_token: str | None = None
    ) -> dict[str, Any] | None:
        """The step's output, or None when an asynchronous build was started (or found running)
        and `task_token` waits for its state-change event (`finish_build`)."""
        deployment = self._repo.get_deployment(deployment_id)
        if deployment.artifact_key and deployment.status != S.QUEUED:
            return self._build_output(deployment)  # already built: a redelivered message
        if deployment.status == S.SKIPPED:  # a redelivered message after the watch-pattern check
            return {"skipped": True, "artifactKey": None, "cached": False}
        ensure_running(deployment)
        source_key = deployment.source_key
        if source_key is None:
            raise BuildFailed(f"deployment {deployment_id} has no source to build")
        environment = self._repo.get_environment(deployment.environment_id).name
        if self._watch_skips(deployment, environment):
            return {"skipped": True, "artifactKey": None, "cached": False}
        if deployment.status == S.QUEUED:
            deployment = self._move(deployment, S.BUILDING)
        request = BuildRequest(
            deployment_id=deployment.id,
            service_id=deployment.service_id,
            source_key=source_key,
            settings=deployment.requested.settings,
            variables=deployment.requested.variables,
            no_cache=deployment.no_cache,
            environment=environment,
            project_id=deployment.project_id,
        )
        with self._build_log(deployment_id) as log:
            if deployment.requested.sealed:  # never in a build's environment (docs/decisions/0023)
                withheld = ", ".join(sorted(deployment.requested.sealed))
                log.write(f"build: sealed variables are not given to builds: {withheld}")
            if isinstance(self._builds, AsyncBuildRunner):
                if task_token is None:
                    raise ValueError("an asynchronous build needs the step's task token")
                self._start_build(self._builds, request, task_token, log)
                return None
            result = self._builds.build(request, log, self._progress(deployment_id, heartbeat))
            config = _with_config_file_settings(deployment.requested, result.built, log)
        return self._record_build(deployment, result, config)

    @contextlib.contextmanager
    def _build_log(self, deployment_id: str) -> Iterator[LogSink]:
        """The deployment's build log, closed on the way out; a domain error is its last line."""
        log = self._logs.open(deployment_id, "build")
        try:
            yield log
        except DomainError as error:
            log.write(f"build failed: {error}")
            raise
        finally:
            log.close()

    def _watch_skips(self, deployment: Deployment, environment: str) -> bool:
        """build.watchPatterns: True (and the deployment SKIPPED) when no file the patterns watch
        changed since the live release's source (docs/decisions/0007)."""
        if self._sources is None or deployment.source_key is None or deployment.source_etag is None:
            return False
        with self._build_log(deployment.id) as log:
            snapshot = self._sources.inspect(deployment.source_key, environment)
            if snapshot.manifest:
                self._sources.save_manifest(deployment.service_id, deployment.source_etag, snapshot.manifest)
            if not snapshot.watch_patterns:
                return False
            if deployment.no_cache or no_cache_requested(deployment.requested.variables):
                log.write("watch patterns: not checked, a cold build was asked for")
                return False
            decision = decide(snapshot.watch_patterns, self._live_manifest(deployment), snapshot.manifest)
            log.write(decision.reason)
            if decision.deploy:
                return False
            reason = "watch patterns matched no changed file; the live release keeps serving"
            if deployment.status != S.SKIPPED:
                self._repo.save(deployment.moved_to(S.SKIPPED, iso(self._clock()), reason=reason))
            return True

    def _live_manifest(self, deployment: Deployment) -> dict[str, str] | None:
        assert self._sources is not None
        service = self._repo.get_service(deployment.service_id)
        if service.active_release_id is None:
            return None
        live = self._repo.get_deployment(self._repo.get_release(service.active_release_id).deployment_id)
        if live.source_etag is None:  # a redeploy's release: no upload of its own to compare with
            return None
        return self._sources.load_manifest(service.id, live.source_etag)

    def _start_build(self, runner: AsyncBuildRunner, request: BuildRequest, token: str, log: LogSink) -> None:
        """Starts the deployment's build once; a retried step re-points the waiting token at the
        build already running instead of starting another."""
        running = [p for p in self._repo.list_pending_builds(request.deployment_id) if p.finished is None]
        if running:
            pending = running[-1]
            log.write(f"build: waiting for CodeBuild build {pending.build_id}, started earlier")
        else:
            build_id = runner.start(request, log)  # logs "build: started CodeBuild build <id>"
            now = self._clock()
            pending = PendingBuild(
                build_id=build_id,
                deployment_id=request.deployment_id,
                task_token=token,
                created_at=iso(now),
                expires_at=int(now.timestamp()) + PENDING_BUILD_TTL,
            )
            try:
                self._repo.save(pending)
                return
            except Conflict:  # CodeBuild's idempotency token gave back a build recorded meanwhile
                pending = self._repo.get_pending_build(build_id)
        if pending.finished is not None:  # its event was handled meanwhile: decide on the stored state
            raise TransientError(f"CodeBuild build {pending.build_id} ended while the step started")
        if pending.task_token == token:
            return
        try:
            self._repo.save(pending.bumped(task_token=token))
        except Conflict:
            # Its event was handled meanwhile and completed the previous token; a retry of this
            # step finds the outcome recorded on the deployment.
            raise TransientError(
                f"CodeBuild build {pending.build_id} ended while the step was retried"
            ) from None

    # --- Build, asynchronously: the build's state-change event -------------------------------------

    def pending_build(self, build_id: str) -> PendingBuild | None:
        """The Build step waiting for this build; None for a build this platform did not start."""
        try:
            return self._repo.get_pending_build(build_id)
        except NotFound:
            return None

    def finish_build(self, pending: PendingBuild, change: BuildStateChange) -> dict[str, Any]:
        """Records an ended build on its deployment and returns the Build step's output (as the
        synchronous path does); raises BuildFailed with CodeBuild's reason when it did not succeed,
        DeploymentCancelled when the deployment was cancelled meanwhile. Idempotent."""
        if not isinstance(self._builds, AsyncBuildRunner):
            raise TypeError("build state changes need an asynchronous build runner")
        deployment = self._repo.get_deployment(pending.deployment_id)
        if deployment.artifact_key and deployment.status != S.QUEUED:
            return self._build_output(deployment)  # recorded by an earlier delivery of the event
        ensure_running(deployment)
        with self._build_log(deployment.id) as log:
            if change.status != BUILD_SUCCEEDED:
                raise BuildFailed(_build_failure(change))
            try:
                result = self._builds.result(deployment.id)
            except NotFound as error:
                raise BuildFailed(f"CodeBuild build {change.build_id} succeeded, but {error}") from None
            log.write(f"build: CodeBuild build {change.build_id} SUCCEEDED")
            if result.built.image:
                log.write(f"build: image {result.built.image}")
            config = _with_config_file_settings(deployment.requested, result.built, log)
        return self._record_build(deployment, result, config)

    def close_pending_build(self, pending: PendingBuild, status: str) -> PendingBuild | None:
        """Marks the build's step completed. None when done; the stored PendingBuild when it changed
        meanwhile (a retried step re-pointed it at a new task token, which must hear the outcome)."""
        try:
            self._repo.save(pending.bumped(finished=status))
            return None
        except Conflict:
            return self._repo.get_pending_build(pending.build_id)

    # --- Build, either way: the result on the deployment ---------------------------------------

    def _record_build(
        self, deployment: Deployment, result: BuildResult, config: ConfigSnapshot
    ) -> dict[str, Any]:
        requested_config = deployment.requested
        start_command = result.built.start_command
        if len(start_command) > MAX_COMMAND_CHARS:  # detected or from a config file
            raise BuildFailed(
                f"start command limit: the start command is {len(start_command)} characters; "
                f"the limit is {MAX_COMMAND_CHARS}"
            )
        built = dict(
            built=result.built,
            build_cached=result.cached,
            build_cache=result.cache,
            config=config,
            updated_at=iso(self._clock()),
        )
        try:
            deployment = deployment.bumped(**built)
            self._repo.save(deployment)
        except Conflict:  # changed meanwhile (a cancel?): decide on the stored version
            deployment = self._repo.get_deployment(deployment.id)
            ensure_running(deployment)
            deployment = deployment.bumped(**built)
            self._repo.save(deployment)
        self._remember_build(deployment, requested_config)
        return self._build_output(deployment)

    def _remember_build(self, deployment: Deployment, requested: ConfigSnapshot) -> None:
        """So that deploying the same bytes with the same inputs again skips the Build step. The
        fingerprint is over the config the deployment was requested with: the API computes it
        before any config file was read."""
        if deployment.source_etag is None or deployment.built is None:
            return
        fingerprint = source_fingerprint(deployment.source_etag, requested)
        with contextlib.suppress(Conflict):  # an identical build recorded it first
            self._repo.save(
                BuiltSource(deployment.service_id, fingerprint, deployment.built, iso(self._clock()))
            )

    @staticmethod
    def _build_output(deployment: Deployment) -> dict[str, Any]:
        return {
            "artifactKey": deployment.artifact_key,
            "cached": bool(deployment.build_cached),
            "skipped": False,
        }

    # --- Deploy --------------------------------------------------------------------------------

    def deploy(self, deployment_id: str, heartbeat: Callable[[], None]) -> dict[str, Any]:
        """Rolls the deployment's release out; the runtime commits the promotion (the conditional
        write that makes it the service's active release) right before it moves the traffic. A
        deployment that a newer one superseded ends SKIPPED, never FAILED."""
        deployment = self._repo.get_deployment(deployment_id)
        if deployment.status in (S.SUCCESS, S.COMPLETED, S.SKIPPED):  # decided by an earlier delivery
            return _deploy_output(deployment)
        ensure_running(deployment)
        try:
            return self._deploy(deployment, heartbeat)
        except Superseded as superseded:
            return self._end_superseded(deployment_id, str(superseded))

    def _deploy(self, deployment: Deployment, heartbeat: Callable[[], None]) -> dict[str, Any]:
        service = self._repo.get_service(deployment.service_id)
        # Cheap and early, before a release is numbered for nothing; the commit decides for sure.
        ensure_not_superseded(deployment, service.active_deployment_id)
        skipped_build = deployment.kind == DeploymentKind.SOURCE and deployment.status == S.QUEUED
        deployment, release = self._start_deploying(deployment, service)
        log = self._logs.open(deployment.id, "deploy")
        if skipped_build:
            log.write(f"build: skipped: this exact source was built before ({release.artifact_key})")
        log.write(
            f"deploy: release v{release.number} ({release.id}) of {service.name}: `{release.start_command}`"
        )
        promotion = ReleasePromotion(self._repo, self._clock, deployment.id, release, heartbeat)
        try:
            self._runtime.activate(
                release_spec(self._repo, service, release, deployment.id, self._sealer),
                log,
                self._progress(deployment.id, heartbeat),
                promotion,
            )
            promotion.commit()  # a no-op unless the runtime found this release serving already
        except Superseded as superseded:
            log.write(f"deploy: not switched: {superseded}; the live release keeps serving")
            log.flush()
            raise
        except DomainError as error:
            log.write(f"deploy failed: {error}")
            log.flush()
            raise
        ran = "ran to completion (COMPLETED)" if promotion.status == S.COMPLETED else "is live"
        log.write(f"deploy: v{release.number} {ran}")
        log.flush()
        return {"status": str(promotion.status), "releaseId": release.id}

    def _end_superseded(self, deployment_id: str, reason: str) -> dict[str, Any]:
        """SKIPPED with the reason: a newer deployment is live, nothing of this one ever served."""
        log = self._logs.open(deployment_id, "deploy")
        log.write(f"deployment SKIPPED: {reason}")
        log.close()  # before the status, so a client that sees SKIPPED also sees why
        for _ in range(5):
            deployment = self._repo.get_deployment(deployment_id)
            if deployment.status not in IN_PROGRESS:
                return _deploy_output(deployment)
            try:
                self._repo.save(deployment.moved_to(S.SKIPPED, iso(self._clock()), reason=reason))
            except Conflict:
                continue
            return {"status": str(S.SKIPPED), "releaseId": None}
        raise TransientError(f"could not record deployment {deployment_id} as superseded")

    def _start_deploying(self, deployment: Deployment, service: Service) -> tuple[Deployment, Release]:
        """DEPLOYING, and the release this deployment activates, in one transaction. A new release
        is numbered from the service's counter; a rollback re-uses its release unchanged."""
        for _ in range(COMMIT_ATTEMPTS):  # concurrent deployments of the service take numbers too
            if deployment.release_id is not None:  # a rollback, or a retried step
                release = self._repo.get_release(deployment.release_id)
                ensure_not_pruned(release)  # retention pruned it after the rollback was accepted
                if deployment.status != S.DEPLOYING:
                    deployment = self._move(deployment, S.DEPLOYING)
                return deployment, release
            if deployment.built is None:
                raise BuildFailed(f"deployment {deployment.id} has no artifact to deploy")
            now = iso(self._clock())
            release = Release(
                id="rel_" + deployment.id.removeprefix("dep_"),  # deterministic: retries reuse it
                service_id=service.id,
                number=service.release_count + 1,
                built=deployment.built,
                config=deployment.requested,
                deployment_id=deployment.id,
                created_at=now,
                workspace_id=deployment.workspace_id or service.workspace_id,
                project_id=service.project_id,
                environment_id=service.environment_id,
            )
            changes = dict(release_id=release.id, release_number=release.number)
            moved = (
                deployment.moved_to(S.DEPLOYING, now, **changes)
                if deployment.status != S.DEPLOYING
                else deployment.bumped(updated_at=now, **changes)
            )
            try:
                self._repo.save(moved, release, service.bumped(release_count=release.number))
                return moved, release
            except Conflict:  # another release took the number, or the deployment changed: re-read
                deployment = self._repo.get_deployment(deployment.id)
                ensure_running(deployment)
                service = self._repo.get_service(deployment.service_id)
        raise TransientError(f"could not number a release for deployment {deployment.id}")

    # --- Ends ------------------------------------------------------------------------------------

    def mark_failed(
        self, deployment_id: str, failure: StepFailure, limits: StepLimits | None = None
    ) -> dict[str, Any]:
        """The workflow's failure path. Idempotent: an already-ended deployment keeps its status.
        A timeout's reason names the step and the limit it hit (chalicelib/domain/limits.py)."""
        deployment = self._repo.get_deployment(deployment_id)
        if deployment.status not in IN_PROGRESS:
            return {"status": str(deployment.status)}
        now = self._clock()
        reason = failure_reason(failure, limits, parse_iso(deployment.updated_at), now)
        log = self._logs.open(deployment_id, "deploy")
        log.write(f"deployment FAILED: {reason}")
        log.close()  # before the status, so a client that sees FAILED also sees why
        for _ in range(5):
            try:
                self._repo.save(deployment.moved_to(S.FAILED, iso(now), reason=reason))
                return {"status": str(S.FAILED)}
            except Conflict:  # moved meanwhile (its worker's last write): decide on the stored one
                deployment = self._repo.get_deployment(deployment_id)
                if deployment.status not in IN_PROGRESS:
                    return {"status": str(deployment.status)}
        raise TransientError(f"could not record deployment {deployment_id} as failed")

    def mark_crashed(self, deployment_id: str, reason: str, completed: bool = False) -> None:
        """The live release stopped for good: CRASHED, or COMPLETED when its processes exited 0
        and are not restarted (a job: domain/workloads.py)."""
        record_live_end(self._repo, self._clock, deployment_id, reason, completed)

    # --- helpers ---------------------------------------------------------------------------------

    def _move(self, deployment: Deployment, status: DeploymentStatus) -> Deployment:
        moved = deployment.moved_to(status, iso(self._clock()))
        self._repo.save(moved)
        return moved

    def _progress(self, deployment_id: str, heartbeat: Callable[[], None]) -> Progress:
        last_beat = last_check = self._monotonic()

        def progress() -> None:
            nonlocal last_beat, last_check
            now = self._monotonic()
            if now - last_check >= CANCEL_CHECK_EVERY:
                last_check = now
                if self._repo.get_deployment(deployment_id).status == S.CANCELLED:
                    raise DeploymentCancelled(f"deployment {deployment_id} was cancelled")
            if now - last_beat >= HEARTBEAT_EVERY_SECONDS:
                last_beat = now
                heartbeat()

        return progress


class TaskRunner:
    """One work-queue message → one pipeline step → SendTaskSuccess / SendTaskFailure.

    A message carries the step's `heartbeatSeconds` (the ASL's limit): the step's TaskLease treats
    that long without an acknowledged beat as the task given up. A step whose task the workflow gave
    up stops where it is and reports nothing: the workflow's failure path (MarkFailed, or the
    sweeper when no worker runs it) records the end with the step and the limit."""

    def __init__(
        self, pipeline: Pipeline, callbacks: TaskCallbacks, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._pipeline = pipeline
        self._callbacks = callbacks
        self._monotonic = monotonic

    def run(self, message: dict[str, Any], queued_seconds: float = 0.0) -> None:
        """`queued_seconds`: how long the message waited for a worker (its task's clock ran)."""
        token = message["taskToken"]
        deployment_id = message["deploymentId"]
        action = message["action"]
        step = _STEPS.get(action, action)
        limit = _seconds(message.get("heartbeatSeconds"))
        lease = TaskLease(lambda: self._callbacks.heartbeat(token), limit, self._monotonic, queued_seconds)
        output: dict[str, Any] | None
        try:
            if action == "prepare":
                lease.check()  # given up while its message waited: not worked on
                output = self._pipeline.prepare(deployment_id)
            elif action == "build":
                lease.beat()  # a task given up while its message waited is not worked on
                output = self._pipeline.build(deployment_id, lease.beat, token)
            elif action == "deploy":
                lease.check()  # given up while its message waited: not worked on (no extra call)
                output = self._pipeline.deploy(deployment_id, lease.beat)
            elif action == "fail":
                output = self._pipeline.mark_failed(
                    deployment_id, _caught(message), StepLimits.from_input(message.get("limits"))
                )
            else:
                raise ValueError(f"unknown action {action!r}")
        except TaskExpired as expired:
            _log.warning("step %s of %s stopped: %s", step, deployment_id, expired)
            return
        except DomainError as error:
            self._fail(token, deployment_id, type(error).__name__, str(error), step)
            return
        except Exception as error:
            # A bug or an unexpected dependency failure: fail the step now rather than leave the
            # user waiting for the heartbeat timeout; the traceback goes to the worker's log.
            _log.exception("step %s of %s crashed", step, deployment_id)
            self._fail(token, deployment_id, "InternalError", f"{type(error).__name__}: {error}", step)
            return
        if output is not None:  # None: an asynchronous build's event completes the token later
            self._callbacks.succeed(token, output)

    def build_changed(self, change: BuildStateChange) -> None:
        """An asynchronous build's state-change event → the waiting Build step's outcome.

        Ignores builds it does not know, progress (IN_PROGRESS) and events of a build whose step is
        already completed (SQS delivers at least once). The outcome is reported before the build is
        marked completed, so a crash in between only means a duplicate report, which the workflow
        ignores; a token re-pointed meanwhile by a retried step hears the outcome too."""
        pending = self._pipeline.pending_build(change.build_id)
        if pending is None or pending.finished is not None or change.status not in BUILD_ENDED:
            _log.info(
                "build %s %s: nothing to do (%s)",
                change.build_id,
                change.reported_status,
                "unknown build" if pending is None else pending.finished or "not ended",
            )
            return
        deployment_id = pending.deployment_id
        report: Callable[[str], None]
        try:
            output = self._pipeline.finish_build(pending, change)
            report = lambda token: self._callbacks.succeed(token, output)  # noqa: E731
        except DomainError as error:
            name, cause = type(error).__name__, str(error)
            report = lambda token: self._fail(token, deployment_id, name, cause, "Build")  # noqa: E731
        except Exception as error:
            _log.exception("build %s of %s: recording its end crashed", change.build_id, deployment_id)
            cause = f"{type(error).__name__}: {error}"
            report = lambda token: self._fail(token, deployment_id, "InternalError", cause, "Build")  # noqa: E731
        waiting: PendingBuild | None = pending
        for _ in range(5):
            if waiting is None or waiting.finished is not None:
                return
            report(waiting.task_token)
            waiting = self._pipeline.close_pending_build(waiting, change.status)
        raise Conflict(f"could not mark build {change.build_id} completed")

    def _fail(self, token: str, deployment_id: str, error: str, cause: str, step: str) -> None:
        # The worker records the reason itself before failing the task: the workflow's failure path
        # (MarkFailed) then finds the deployment already FAILED. Relying on the task failure's
        # `cause` travelling through the workflow is not enough: moto drops it (LOCAL_AWS_FACTS).
        # TransientErrors are left to the ASL's retry; a failing MarkFailed is retried by the ASL.
        try:
            if error != TransientError.__name__ and step != _STEPS["fail"]:
                self._pipeline.mark_failed(deployment_id, StepFailure(step, error, cause))
        except Exception:
            _log.exception("could not mark %s failed; the workflow's MarkFailed step will", deployment_id)
        self._callbacks.fail(token, error, cause)


def _build_failure(change: BuildStateChange) -> str:
    """Why a build did not succeed, for the build log and the deployment's reason: CodeBuild's
    status and phase, its explanation, and where the build's own log is."""
    if change.status == BUILD_STOPPED:
        text = f"CodeBuild build {change.build_id} was stopped before it finished"
    else:
        text = f"CodeBuild build {change.build_id} {change.reported_status}"
    if change.phase:
        text += f" in phase {change.phase}"
    if change.context:
        text += f": {change.context}"
    if change.logs:
        text += f"; build log: {change.logs}"
    return text


# The ASL's state for each work-queue action, as reasons name it.
_STEPS = {"prepare": "Prepare", "build": "Build", "deploy": "Deploy", "fail": "MarkFailed"}


def _caught(message: dict[str, Any]) -> StepFailure:
    """The failed step from MarkFailed's message: `failure` ({"<Step>": {"Error", "Cause"}}, as the
    Catch records it), or `error` alone from an execution started by an earlier definition."""
    failure = StepFailure.from_catch(message.get("failure"))
    if failure is not None:
        return failure
    error = message.get("error") or {}
    return StepFailure("", str(error.get("Error") or "Error"), str(error.get("Cause") or ""))


def _seconds(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and value > 0 else None


def _deploy_output(deployment: Deployment) -> dict[str, Any]:
    """The Deploy step's output for a deployment it already decided: SUCCESS, COMPLETED or SKIPPED."""
    live = deployment.status in (S.SUCCESS, S.COMPLETED)
    return {"status": str(deployment.status), "releaseId": deployment.release_id if live else None}


def _with_config_file_settings(config: ConfigSnapshot, built: BuiltRelease, log: LogSink) -> ConfigSnapshot:
    """The deployment's config with the build's config-file settings applied (they win)."""
    if not built.deploy_settings:
        return config
    try:
        settings = built.effective_settings(config.settings)
    except DomainError as error:
        raise BuildFailed(f"config file deploy settings: {error}") from None
    applied = ", ".join(f"{k}={v}" for k, v in built.deploy_settings.items())
    log.write(f"config: deploy settings from the config file: {applied}")
    return dataclasses.replace(config, settings=settings)
