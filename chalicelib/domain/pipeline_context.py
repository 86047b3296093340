"""What every worker step works with (the table, the logs, the clocks) and the two things they all do
with it: move a deployment one status forward through the transition table, and report progress
while a long build or rollout runs (a heartbeat, and a stop when the deployment was cancelled).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from chalicelib.domain.errors import DeploymentCancelled
from chalicelib.domain.ids import Clock, iso
from chalicelib.domain.limits import HEARTBEAT_EVERY_SECONDS
from chalicelib.domain.models import Deployment, DeploymentStatus
from chalicelib.domain.ports import LogStore, Progress, Repository

S = DeploymentStatus
CANCEL_CHECK_EVERY = 1.0


@dataclasses.dataclass(frozen=True)
class StepContext:
    repo: Repository
    logs: LogStore
    clock: Clock
    monotonic: Callable[[], float]

    def move(self, deployment: Deployment, status: DeploymentStatus) -> Deployment:
        moved = deployment.moved_to(status, iso(self.clock()))
        self.repo.save(moved)
        return moved

    def progress(self, deployment_id: str, heartbeat: Callable[[], None]) -> Progress:
        last_beat = last_check = self.monotonic()

        def progress() -> None:
            nonlocal last_beat, last_check
            now = self.monotonic()
            if now - last_check >= CANCEL_CHECK_EVERY:
                last_check = now
                if self.repo.get_deployment(deployment_id).status == S.CANCELLED:
                    raise DeploymentCancelled(f"deployment {deployment_id} was cancelled")
            if now - last_beat >= HEARTBEAT_EVERY_SECONDS:
                last_beat = now
                heartbeat()

        return progress
