"""The worker side of a deployment: the steps the deploy state machine hands to workers, as the one
object the composition root builds and `TaskRunner` (domain/task_runner.py) dispatches messages to.

Each step is idempotent (a redelivered SQS message or a retried task runs it again without harm):
it reads the deployment, skips what is already done, and only moves the status forward through the
transition table. This module only assembles them; each lives in its own:

- Prepare: domain/intake.py
- Build, and an asynchronous build's end: domain/pipeline_build.py
- Deploy (release numbering, rollout, promotion, superseded ends): domain/pipeline_deploy.py
- MarkFailed: domain/pipeline_failure.py; a live release that stops: domain/live_end.py
- what they share (table, logs, clocks, status moves, progress): domain/pipeline_context.py
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from chalicelib.domain.ids import Clock
from chalicelib.domain.intake import SourceIntake
from chalicelib.domain.limits import StepFailure, StepLimits
from chalicelib.domain.live_end import record_live_end
from chalicelib.domain.pipeline_build import BuildStep
from chalicelib.domain.pipeline_context import StepContext
from chalicelib.domain.pipeline_deploy import DeployStep
from chalicelib.domain.pipeline_failure import mark_failed
from chalicelib.domain.ports import (
    AsyncBuildRunner,
    BuildRunner,
    BuildStateChange,
    EventPublisher,
    LogStore,
    PendingBuild,
    Repository,
    Runtime,
    SourceInspector,
)
from chalicelib.domain.sealing import Sealer
from chalicelib.domain.variable_resolution import VariableResolution


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
        resolution: VariableResolution | None = None,  # a redeploy's variables (None: as stored)
        events: EventPublisher | None = None,  # hears of a live release's end (None: nobody)
    ) -> None:
        self._intake = intake
        self._events = events
        self._context = StepContext(repo, logs, clock, monotonic)
        self._build_step = BuildStep(self._context, builds, sources)
        self._deploy_step = DeployStep(self._context, runtime, sealer, resolution)

    def prepare(self, deployment_id: str) -> dict[str, Any]:
        if self._intake is None:
            raise TypeError("this worker was built without a source intake for the Prepare step")
        return self._intake.prepare(deployment_id)

    def build(
        self, deployment_id: str, heartbeat: Callable[[], None], task_token: str | None = None
    ) -> dict[str, Any] | None:
        """The step's output, or None when an asynchronous build was started (or found running)
        and `task_token` waits for its state-change event (`finish_build`)."""
        return self._build_step.build(deployment_id, heartbeat, task_token)

    def pending_build(self, build_id: str) -> PendingBuild | None:
        """The Build step waiting for this build; None for a build this platform did not start."""
        return self._build_step.pending_build(build_id)

    def finish_build(self, pending: PendingBuild, change: BuildStateChange) -> dict[str, Any]:
        """Records an ended asynchronous build; the Build step's output (pipeline_build.py)."""
        return self._build_step.finish_build(pending, change)

    def close_pending_build(self, pending: PendingBuild, status: str) -> PendingBuild | None:
        """Marks the build's step completed (pipeline_build.py)."""
        return self._build_step.close_pending_build(pending, status)

    def deploy(self, deployment_id: str, heartbeat: Callable[[], None]) -> dict[str, Any]:
        """Rolls the deployment's release out and commits its promotion (pipeline_deploy.py)."""
        return self._deploy_step.deploy(deployment_id, heartbeat)

    def mark_failed(
        self, deployment_id: str, failure: StepFailure, limits: StepLimits | None = None
    ) -> dict[str, Any]:
        """The workflow's failure path (pipeline_failure.py)."""
        return mark_failed(self._context, deployment_id, failure, limits)

    def mark_crashed(self, deployment_id: str, reason: str, completed: bool = False) -> None:
        """The live release stopped for good: CRASHED, or COMPLETED when its processes exited 0
        and are not restarted (a job: domain/workloads.py)."""
        context = self._context
        record_live_end(context.repo, context.clock, deployment_id, reason, completed, events=self._events)
