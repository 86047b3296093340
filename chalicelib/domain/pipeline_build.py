"""The Build step: skips a source its watch patterns do not watch, builds it (synchronously, or by
starting a CodeBuild build whose state-change event finishes it later) and records the result on the
deployment, with the built source remembered so the same bytes and inputs skip the step next time.

With an asynchronous build runner (CodeBuild) the step only starts the build and stores its task
token in a PendingBuild; the build's state-change event later reaches `TaskRunner.build_changed`
(domain/task_runner.py), which has `finish_build` record the result and completes that token
(docs/decisions/0006-codebuild-completion.md).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

from chalicelib.domain.built_release import BuiltRelease
from chalicelib.domain.errors import BuildFailed, Conflict, DomainError, NotFound, TransientError
from chalicelib.domain.ids import iso
from chalicelib.domain.limits import MAX_COMMAND_CHARS
from chalicelib.domain.models import (
    BuiltSource,
    ConfigSnapshot,
    Deployment,
    DeploymentStatus,
    no_cache_requested,
    source_fingerprint,
)
from chalicelib.domain.pipeline_context import StepContext
from chalicelib.domain.ports import (
    BUILD_STOPPED,
    BUILD_SUCCEEDED,
    AsyncBuildRunner,
    BuildRequest,
    BuildResult,
    BuildRunner,
    BuildStateChange,
    LogSink,
    PendingBuild,
    SourceInspector,
)
from chalicelib.domain.promotion import ensure_running
from chalicelib.domain.watch import decide

S = DeploymentStatus
# How long a PendingBuild outlives its start: longer than any Build task (7500 s) and than SQS keeps
# a duplicate of the build's event (4 days by default), so a late duplicate still finds it finished.
PENDING_BUILD_TTL = 7 * 24 * 3600


class BuildStep:
    def __init__(
        self,
        context: StepContext,
        builds: BuildRunner | AsyncBuildRunner,  # an AsyncBuildRunner makes the step asynchronous
        sources: SourceInspector | None,  # None: watch patterns are not checked
    ) -> None:
        self._context = context
        self._builds = builds
        self._sources = sources

    def build(
        self, deployment_id: str, heartbeat: Callable[[], None], task_token: str | None = None
    ) -> dict[str, Any] | None:
        """The step's output, or None when an asynchronous build was started (or found running)
        and `task_token` waits for its state-change event (`finish_build`)."""
        deployment = self._context.repo.get_deployment(deployment_id)
        if deployment.artifact_key and deployment.status != S.QUEUED:
            return self._build_output(deployment)  # already built: a redelivered message
        if deployment.status == S.SKIPPED:  # a redelivered message after the watch-pattern check
            return {"skipped": True, "artifactKey": None, "cached": False}
        ensure_running(deployment)
        source_key = deployment.source_key
        if source_key is None:
            raise BuildFailed(f"deployment {deployment_id} has no source to build")
        environment = self._context.repo.get_environment(deployment.environment_id).name
        if self._watch_skips(deployment, environment):
            return {"skipped": True, "artifactKey": None, "cached": False}
        if deployment.status == S.QUEUED:
            deployment = self._context.move(deployment, S.BUILDING)
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
            result = self._builds.build(request, log, self._context.progress(deployment_id, heartbeat))
            config = _with_config_file_settings(deployment.requested, result.built, log)
        return self._record_build(deployment, result, config)

    @contextlib.contextmanager
    def _build_log(self, deployment_id: str) -> Iterator[LogSink]:
        """The deployment's build log, closed on the way out; a domain error is its last line."""
        log = self._context.logs.open(deployment_id, "build")
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
                self._context.repo.save(
                    deployment.moved_to(S.SKIPPED, iso(self._context.clock()), reason=reason)
                )
            return True

    def _live_manifest(self, deployment: Deployment) -> dict[str, str] | None:
        assert self._sources is not None
        service = self._context.repo.get_service(deployment.service_id)
        if service.active_release_id is None:
            return None
        live = self._context.repo.get_deployment(
            self._context.repo.get_release(service.active_release_id).deployment_id
        )
        if live.source_etag is None:  # a redeploy's release: no upload of its own to compare with
            return None
        return self._sources.load_manifest(service.id, live.source_etag)

    def _start_build(self, runner: AsyncBuildRunner, request: BuildRequest, token: str, log: LogSink) -> None:
        """Starts the deployment's build once; a retried step re-points the waiting token at the
        build already running instead of starting another."""
        running = [
            p for p in self._context.repo.list_pending_builds(request.deployment_id) if p.finished is None
        ]
        if running:
            pending = running[-1]
            log.write(f"build: waiting for CodeBuild build {pending.build_id}, started earlier")
        else:
            build_id = runner.start(request, log)  # logs "build: started CodeBuild build <id>"
            now = self._context.clock()
            pending = PendingBuild(
                build_id=build_id,
                deployment_id=request.deployment_id,
                task_token=token,
                created_at=iso(now),
                expires_at=int(now.timestamp()) + PENDING_BUILD_TTL,
            )
            try:
                self._context.repo.save(pending)
                return
            except Conflict:  # CodeBuild's idempotency token gave back a build recorded meanwhile
                pending = self._context.repo.get_pending_build(build_id)
        if pending.finished is not None:  # its event was handled meanwhile: decide on the stored state
            raise TransientError(f"CodeBuild build {pending.build_id} ended while the step started")
        if pending.task_token == token:
            return
        try:
            self._context.repo.save(pending.bumped(task_token=token))
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
            return self._context.repo.get_pending_build(build_id)
        except NotFound:
            return None

    def finish_build(self, pending: PendingBuild, change: BuildStateChange) -> dict[str, Any]:
        """Records an ended build on its deployment and returns the Build step's output (as the
        synchronous path does); raises BuildFailed with CodeBuild's reason when it did not succeed,
        DeploymentCancelled when the deployment was cancelled meanwhile. Idempotent."""
        if not isinstance(self._builds, AsyncBuildRunner):
            raise TypeError("build state changes need an asynchronous build runner")
        deployment = self._context.repo.get_deployment(pending.deployment_id)
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
            self._context.repo.save(pending.bumped(finished=status))
            return None
        except Conflict:
            return self._context.repo.get_pending_build(pending.build_id)

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
            updated_at=iso(self._context.clock()),
        )
        try:
            deployment = deployment.bumped(**built)
            self._context.repo.save(deployment)
        except Conflict:  # changed meanwhile (a cancel?): decide on the stored version
            deployment = self._context.repo.get_deployment(deployment.id)
            ensure_running(deployment)
            deployment = deployment.bumped(**built)
            self._context.repo.save(deployment)
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
            self._context.repo.save(
                BuiltSource(deployment.service_id, fingerprint, deployment.built, iso(self._context.clock()))
            )

    @staticmethod
    def _build_output(deployment: Deployment) -> dict[str, Any]:
        return {
            "artifactKey": deployment.artifact_key,
            "cached": bool(deployment.build_cached),
            "skipped": False,
        }


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
