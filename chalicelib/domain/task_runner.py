"""The worker's dispatcher: one work-queue message → one pipeline step (domain/pipeline.py) →
SendTaskSuccess / SendTaskFailure on the message's task token; and an asynchronous build's
state-change event → the outcome of the Build step that waits for it
(docs/decisions/0006-codebuild-completion.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from chalicelib.domain.errors import Conflict, DomainError, TaskExpired, TransientError
from chalicelib.domain.limits import StepFailure, StepLimits
from chalicelib.domain.pipeline import Pipeline
from chalicelib.domain.ports import BUILD_ENDED, BuildStateChange, PendingBuild, TaskCallbacks
from chalicelib.domain.promotion import TaskLease

_log = logging.getLogger(__name__)


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
