"""The deploy workflow on the moto fixture with the real workers (functions/task_worker.py behind
local pollers), DynamoDB, S3 and SQS, and fakes for the build runner and runtime: for tests of the
workflow and of worker faults. `shrunk` makes the steps' limits short enough for a test.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from chalicelib import wiring
from chalicelib.adapters.aws import client
from chalicelib.config import Settings
from chalicelib.domain.events import Envelope
from chalicelib.domain.limits import StepLimits, step_limits
from chalicelib.domain.models import ServiceSettings
from railyard.localdev.bootstrap import bootstrap
from railyard.localdev.pollers import QueuePoller
from tests.fakes import FakeBuildRunner, FakeRuntime
from tests.support.principals import admin_access

WHO = admin_access("org_default")


class Platform:
    """The workflow on moto with the real workers (unless `workers` is False: they are down) and
    the steps' limits from `limits` (shrunk by the tests of timeouts)."""

    def __init__(
        self,
        builds: FakeBuildRunner,
        limits: Callable[[ServiceSettings, bool], StepLimits] = step_limits,
        workers: bool = True,
    ) -> None:
        from chalicelib.adapters.workflows import StepFunctionsWorkflow

        self.settings = Settings.from_env()
        self.resources = bootstrap(self.settings.catalogue, self.settings.account_id)
        self.runtime = FakeRuntime()
        workflow = StepFunctionsWorkflow(self.settings.state_machine_arn, limits=limits)
        self.container = wiring.Container(
            self.settings, build_runner=builds, runtime=self.runtime, workflow=workflow
        )
        wiring.use(self.container)
        self.stop = threading.Event()
        if workers:
            self.start_workers()
        _, envs = self.container.projects.create_project(WHO, f"demo{id(self) % 100000}")
        self.service = self.container.projects.create_service(WHO, envs[0].id, "web", None)

    def start_workers(self) -> None:
        """Pollers on the build and deploy queues calling functions/task_worker.py, as Lambda would."""
        from functions.task_worker import handler

        self.stop = threading.Event()
        for key in ("build", "deploy"):
            QueuePoller(
                f"{key}-test",
                self.resources.queue_urls[key],
                self.resources.queue_arns[key],
                handler,
                self.stop,
            ).start()

    def stop_workers(self) -> None:
        """The workers die; moto, the table and the buckets stay as they are."""
        self.stop.set()
        time.sleep(1.5)  # a poller's long poll lasts 1 s; let the last one return and stop

    def deploy(self) -> str:
        _, key = self.container.deployments.presign_upload(WHO, self.service.id)
        self.container.blobs.put_bytes(self.settings.sources_bucket, key, b"source")
        return self.container.deployments.deploy_source(WHO, self.service.id, key).id

    def wait(self, deployment_id: str, timeout: float = 20) -> dict[str, Any]:
        arn = self.settings.state_machine_arn.replace(":stateMachine:", ":execution:") + ":" + deployment_id
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            execution = client("stepfunctions").describe_execution(executionArn=arn)
            if execution["status"] != "RUNNING":
                events = client("stepfunctions").get_execution_history(executionArn=arn, maxResults=1000)[
                    "events"
                ]
                execution["entered"] = [
                    e["stateEnteredEventDetails"]["name"]
                    for e in events
                    if e["type"].endswith("StateEntered")
                ]
                return execution  # type: ignore[no-any-return]
            time.sleep(0.05)
        raise AssertionError(f"execution {deployment_id} still RUNNING after {timeout}s")

    def events(self, queue: str) -> list[Envelope]:
        return drain_events(self.resources.queue_urls[queue])


def drain_events(queue_url: str) -> list[Envelope]:
    """Every event envelope waiting on an event fan-out queue (EventBridge delivered them there)."""
    found: list[Envelope] = []
    sqs = client("sqs")
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        )
        if not batch:
            return found
        found.extend(Envelope.model_validate(json.loads(m["Body"])["detail"]) for m in batch)


def shrunk(**changes: int) -> Callable[[ServiceSettings, bool], StepLimits]:
    """The real limits with some of them made short enough for a test."""
    return lambda settings, beats: dataclasses.replace(step_limits(settings, beats), **changes)  # type: ignore[arg-type]


class ShortenedLimits:
    """Step limits shortened only for the deployments made while `short` is set. Under CPU load a
    healthy step may outlast a 1 s limit, so the deployments a test needs to succeed keep the real
    limits and only the one meant to time out gets the short ones (each execution's limits are
    fixed in its input when it is started)."""

    def __init__(self, **changes: int) -> None:
        self._changes = changes
        self.short = False

    def __call__(self, settings: ServiceSettings, beats: bool) -> StepLimits:
        limits = step_limits(settings, beats)
        return dataclasses.replace(limits, **self._changes) if self.short else limits  # type: ignore[arg-type]


@contextlib.contextmanager
def platforms() -> Iterator[Callable[..., Platform]]:
    """Makes Platforms (`make(builds, limits=..., workers=...)`) on the `aws` fixture's moto; stops
    their workers at the end. A test module's `platform` fixture wraps it."""
    made: list[Platform] = []

    def make(builds: FakeBuildRunner | None = None, **options: Any) -> Platform:
        made.append(Platform(builds or FakeBuildRunner(), **options))
        return made[-1]

    try:
        yield make
    finally:
        for p in made:
            p.stop.set()
        wiring.use(None)
