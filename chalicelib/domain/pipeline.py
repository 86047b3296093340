"""The worker side of a deployment: the steps the deploy state machine hands to workers.

Each step is idempotent (a redelivered SQS message or a retried task runs it again without harm):
it reads the deployment, skips what is already done, and only moves the status forward through the
transition table. `TaskRunner` turns a work-queue message into one step and reports the outcome on
the message's task token.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

from chalicelib.domain.errors import (
    BuildFailed,
    Conflict,
    DeploymentCancelled,
    DomainError,
    InvalidTransition,
    Superseded,
    TransientError,
)
from chalicelib.domain.ids import Clock, iso
from chalicelib.domain.models import (
    IN_PROGRESS,
    BuiltSource,
    ConfigSnapshot,
    Deployment,
    DeploymentKind,
    DeploymentStatus,
    Release,
    Service,
    source_fingerprint,
)
from chalicelib.domain.ports import (
    BuildRequest,
    BuildRunner,
    LogStore,
    Progress,
    ReleaseSpec,
    Repository,
    Runtime,
    TaskCallbacks,
)

S = DeploymentStatus
_log = logging.getLogger(__name__)
HEARTBEAT_EVERY = 20.0  # seconds; the ASL's HeartbeatSeconds is 120
CANCEL_CHECK_EVERY = 1.0


class Pipeline:
    def __init__(
        self,
        repo: Repository,
        builds: BuildRunner,
        runtime: Runtime,
        logs: LogStore,
        clock: Clock,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._repo = repo
        self._builds = builds
        self._runtime = runtime
        self._logs = logs
        self._clock = clock
        self._monotonic = monotonic

    # --- Build ---------------------------------------------------------------------------------

    def build(self, deployment_id: str, heartbeat: Callable[[], None]) -> dict[str, Any]:
        deployment = self._repo.get_deployment(deployment_id)
        if deployment.artifact_key and deployment.status != S.QUEUED:
            return self._build_output(deployment)  # already built: a redelivered message
        self._ensure_running(deployment)
        if deployment.status == S.QUEUED:
            deployment = self._move(deployment, S.BUILDING)
        if deployment.source_key is None:
            raise BuildFailed(f"deployment {deployment_id} has no source to build")
        log = self._logs.open(deployment_id, "build")
        try:
            result = self._builds.build(
                BuildRequest(
                    deployment_id=deployment.id,
                    service_id=deployment.service_id,
                    source_key=deployment.source_key,
                    settings=deployment.config.settings,
                    variables=deployment.config.variables,
                    no_cache=deployment.no_cache,
                    environment=self._repo.get_environment(deployment.environment_id).name,
                ),
                log,
                self._progress(deployment_id, heartbeat),
            )
            config = self._with_overrides(deployment.config, result.settings_overrides, log)
        except DomainError as error:
            log.write(f"build failed: {error}")
            raise
        finally:
            log.close()
        requested_config = deployment.config
        built = dict(
            artifact_key=result.artifact_key,
            start_command=result.start_command,
            build_cached=result.cached,
            build_cache=result.cache,
            settings_overrides=dict(result.settings_overrides),
            image=result.image,
            config=config,
            updated_at=iso(self._clock()),
        )
        try:
            deployment = deployment.bumped(**built)
            self._repo.save(deployment)
        except Conflict:  # changed meanwhile (a cancel?): decide on the stored version
            deployment = self._repo.get_deployment(deployment_id)
            self._ensure_running(deployment)
            deployment = deployment.bumped(**built)
            self._repo.save(deployment)
        self._remember_build(deployment, requested_config, result.settings_overrides)
        return self._build_output(deployment)

    def _remember_build(
        self, deployment: Deployment, requested: ConfigSnapshot, overrides: dict[str, Any]
    ) -> None:
        """So that deploying the same bytes with the same inputs again skips the Build step. The
        fingerprint is over the config the deployment was requested with: the API computes it
        before any config file was read."""
        if (
            deployment.source_etag is None
            or deployment.artifact_key is None
            or deployment.start_command is None
        ):
            return
        fingerprint = source_fingerprint(deployment.source_etag, requested)
        with contextlib.suppress(Conflict):  # an identical build recorded it first
            self._repo.save(
                BuiltSource(
                    deployment.service_id,
                    fingerprint,
                    deployment.artifact_key,
                    deployment.start_command,
                    iso(self._clock()),
                    settings_overrides=overrides,
                    image=deployment.image,
                )
            )

    @staticmethod
    def _with_overrides(config: ConfigSnapshot, overrides: dict[str, Any], log: Any) -> ConfigSnapshot:
        """The source's config file (railway.json deploy.*) wins over the service's settings."""
        if not overrides:
            return config
        try:
            settings = dataclasses.replace(config.settings, **overrides)
        except (TypeError, DomainError) as error:  # validated like an API PATCH
            raise BuildFailed(f"config file deploy settings: {error}") from None
        log.write(
            "config: deploy settings from the config file: "
            + ", ".join(f"{k}={v}" for k, v in overrides.items())
        )
        return dataclasses.replace(config, settings=settings)

    @staticmethod
    def _build_output(deployment: Deployment) -> dict[str, Any]:
        return {"artifactKey": deployment.artifact_key, "cached": bool(deployment.build_cached)}

    # --- Deploy --------------------------------------------------------------------------------

    def deploy(self, deployment_id: str, heartbeat: Callable[[], None]) -> dict[str, Any]:
        deployment = self._repo.get_deployment(deployment_id)
        if deployment.status == S.SUCCESS:
            return {"status": str(S.SUCCESS), "releaseId": deployment.release_id}
        self._ensure_running(deployment)
        service = self._repo.get_service(deployment.service_id)
        self._ensure_not_superseded(deployment, service.active_deployment_id)
        skipped_build = deployment.kind == DeploymentKind.SOURCE and deployment.status == S.QUEUED
        deployment, release = self._start_deploying(deployment, service)
        log = self._logs.open(deployment_id, "deploy")
        if skipped_build:
            log.write(f"build: skipped: this exact source was built before ({release.artifact_key})")
        log.write(
            f"deploy: release v{release.number} ({release.id}) of {service.name}: `{release.start_command}`"
        )
        try:
            self._runtime.activate(
                ReleaseSpec(
                    service_id=service.id,
                    hostname=service.hostname,
                    deployment_id=deployment.id,
                    release_id=release.id,
                    artifact_key=release.artifact_key,
                    start_command=release.start_command,
                    variables=release.config.variables,
                    settings=release.config.settings,
                    image=release.image,
                    project=self._repo.get_project(service.project_id).name,
                    environment=self._repo.get_environment(service.environment_id).name,
                    service=service.name,
                ),
                log,
                self._progress(deployment_id, heartbeat),
            )
        except DomainError as error:
            log.write(f"deploy failed: {error}")
            log.flush()
            raise
        # The line goes out before the status: a client that sees SUCCESS has the whole log.
        log.write(f"deploy: v{release.number} is live")
        log.flush()
        self._promote(deployment_id, release)
        return {"status": str(S.SUCCESS), "releaseId": release.id}

    def _start_deploying(self, deployment: Deployment, service: Service) -> tuple[Deployment, Release]:
        """DEPLOYING, and the release this deployment activates, in one transaction. A new release
        is numbered from the service's counter; a rollback re-uses its release unchanged."""
        for _ in range(5):
            if deployment.release_id is not None:  # a rollback, or a retried step
                release = self._repo.get_release(deployment.release_id)
                if deployment.status != S.DEPLOYING:
                    deployment = self._move(deployment, S.DEPLOYING)
                return deployment, release
            if deployment.artifact_key is None or deployment.start_command is None:
                raise BuildFailed(f"deployment {deployment.id} has no artifact to deploy")
            now = iso(self._clock())
            release = Release(
                id="rel_" + deployment.id.removeprefix("dep_"),  # deterministic: retries reuse it
                service_id=service.id,
                number=service.release_count + 1,
                artifact_key=deployment.artifact_key,
                start_command=deployment.start_command,
                config=deployment.config,
                deployment_id=deployment.id,
                created_at=now,
                settings_overrides=dict(deployment.settings_overrides),
                image=deployment.image,
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
                self._ensure_running(deployment)
                service = self._repo.get_service(deployment.service_id)
        raise Conflict(f"could not number a release for deployment {deployment.id}")

    @staticmethod
    def _ensure_not_superseded(deployment: Deployment, active_deployment_id: str | None) -> None:
        # Ids sort by creation time: a newer deployment already live wins over an older one that
        # finished its build later; re-activating older code is what a rollback is for.
        if active_deployment_id is not None and active_deployment_id > deployment.id:
            raise Superseded(f"deployment {active_deployment_id}, created later, is already live")

    def _promote(self, deployment_id: str, release: Release) -> None:
        """SUCCESS for this deployment, REMOVED for the one it replaces, the service's pointers moved:
        one transaction, retried on a concurrent change."""
        for _ in range(5):
            deployment = self._repo.get_deployment(deployment_id)
            if deployment.status == S.SUCCESS:
                return
            service = self._repo.get_service(deployment.service_id)
            now = iso(self._clock())
            changes: list[Any] = [
                deployment.moved_to(S.SUCCESS, now),
                service.bumped(active_deployment_id=deployment.id, active_release_id=release.id),
            ]
            previous_id = service.active_deployment_id
            if previous_id and previous_id != deployment.id:
                previous = self._repo.get_deployment(previous_id)
                if previous.status in (S.SUCCESS, S.CRASHED):
                    changes.append(previous.moved_to(S.REMOVED, now, reason=f"replaced by {deployment.id}"))
            try:
                self._repo.save(*changes)
                return
            except Conflict:
                continue
        raise Conflict(f"could not promote deployment {deployment_id}")

    # --- Ends ------------------------------------------------------------------------------------

    def mark_failed(self, deployment_id: str, error: str, cause: str) -> dict[str, Any]:
        """The workflow's failure path. Idempotent: an already-ended deployment keeps its status."""
        deployment = self._repo.get_deployment(deployment_id)
        if deployment.status in IN_PROGRESS:
            reason = f"{error}: {cause}" if cause else error
            log = self._logs.open(deployment_id, "deploy")
            log.write(f"deployment FAILED: {reason}")
            log.close()  # before the status, so a client that sees FAILED also sees why
            deployment = deployment.moved_to(S.FAILED, iso(self._clock()), reason=reason)
            self._repo.save(deployment)
        return {"status": str(deployment.status)}

    def mark_crashed(self, deployment_id: str, reason: str) -> None:
        deployment = self._repo.get_deployment(deployment_id)
        if deployment.status == S.SUCCESS:
            self._repo.save(deployment.moved_to(S.CRASHED, iso(self._clock()), reason=reason))

    # --- helpers ---------------------------------------------------------------------------------

    def _move(self, deployment: Deployment, status: DeploymentStatus) -> Deployment:
        moved = deployment.moved_to(status, iso(self._clock()))
        self._repo.save(moved)
        return moved

    @staticmethod
    def _ensure_running(deployment: Deployment) -> None:
        if deployment.status == S.CANCELLED:
            raise DeploymentCancelled(f"deployment {deployment.id} was cancelled")
        if deployment.status not in IN_PROGRESS:
            raise InvalidTransition(f"deployment {deployment.id} is already {deployment.status}")

    def _progress(self, deployment_id: str, heartbeat: Callable[[], None]) -> Progress:
        last_beat = last_check = self._monotonic()

        def progress() -> None:
            nonlocal last_beat, last_check
            now = self._monotonic()
            if now - last_check >= CANCEL_CHECK_EVERY:
                last_check = now
                if self._repo.get_deployment(deployment_id).status == S.CANCELLED:
                    raise DeploymentCancelled(f"deployment {deployment_id} was cancelled")
            if now - last_beat >= HEARTBEAT_EVERY:
                last_beat = now
                heartbeat()

        return progress


class TaskRunner:
    """One work-queue message → one pipeline step → SendTaskSuccess / SendTaskFailure."""

    def __init__(self, pipeline: Pipeline, callbacks: TaskCallbacks) -> None:
        self._pipeline = pipeline
        self._callbacks = callbacks

    def run(self, message: dict[str, Any]) -> None:
        token = message["taskToken"]
        deployment_id = message["deploymentId"]
        action = message["action"]
        beat: Callable[[], None] = lambda: self._callbacks.heartbeat(token)  # noqa: E731
        try:
            if action == "build":
                output = self._pipeline.build(deployment_id, beat)
            elif action == "deploy":
                output = self._pipeline.deploy(deployment_id, beat)
            elif action == "fail":
                error = message.get("error") or {}
                output = self._pipeline.mark_failed(
                    deployment_id, str(error.get("Error", "Error")), _cause(error.get("Cause"))
                )
            else:
                raise ValueError(f"unknown action {action!r}")
        except DomainError as error:
            self._fail(token, deployment_id, type(error).__name__, str(error))
            return
        except Exception as error:
            # A bug or an unexpected dependency failure: fail the step now rather than leave the
            # user waiting for the heartbeat timeout; the traceback goes to the worker's log.
            _log.exception("step %s of %s crashed", action, deployment_id)
            self._fail(token, deployment_id, "InternalError", f"{type(error).__name__}: {error}")
            return
        self._callbacks.succeed(token, output)

    def _fail(self, token: str, deployment_id: str, error: str, cause: str) -> None:
        # The worker records the reason itself before failing the task: the workflow's failure path
        # (MarkFailed) then finds the deployment already FAILED. Relying on the task failure's
        # `cause` travelling through the workflow is not enough: moto drops it (LOCAL_AWS_FACTS).
        try:
            if error != TransientError.__name__:  # the workflow retries those; MarkFailed follows if not
                self._pipeline.mark_failed(deployment_id, error, _cause(cause))
        except Exception:
            _log.exception("could not mark %s failed; the workflow's MarkFailed step will", deployment_id)
        self._callbacks.fail(token, error, cause)


def _cause(cause: object) -> str:
    """Step Functions wraps a task's failure cause as text; keep it short for the deployment reason."""
    text = "" if cause is None else str(cause)
    return text if len(text) <= 500 else text[:497] + "..."
