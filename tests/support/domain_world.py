"""A whole domain on fakes, for unit tests: services, pipeline and task runner wired as the
composition root wires them, with a fixed clock and counting ids; `run_workflow` plays the state
machine's steps in order (Prepare and Build for a source, Deploy; MarkFailed with the failed step
on an error)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from chalicelib.domain.intake import SourceIntake
from chalicelib.domain.limits import step_limits
from chalicelib.domain.models import Service, ServiceSettings
from chalicelib.domain.pipeline import Pipeline
from chalicelib.domain.projects import ProjectService
from chalicelib.domain.services import DeploymentService
from chalicelib.domain.task_runner import TaskRunner
from chalicelib.domain.variable_resolution import VariableResolution
from tests.fakes import (
    FakeBlobStore,
    FakeBuildRunner,
    FakeCallbacks,
    FakeLogStore,
    FakeRuntime,
    FakeSealer,
    FakeWorkflow,
    InMemoryRepository,
)
from tests.support.event_fakes import FakeEventPublisher
from tests.support.principals import admin_access

WHO = admin_access("org_1")
NOW = datetime(2026, 1, 1, tzinfo=UTC)
STEPS = {"prepare": "Prepare", "build": "Build", "deploy": "Deploy"}
LIMITS = step_limits(ServiceSettings(), builds_beat=True).workflow_input()


class World:
    """`resolve_variables`: variables are resolved as the composition root wires it (shared ones,
    references, injected ones: domain/variable_resolution.py, with `LocalAddresses`)."""

    def __init__(self, resolve_variables: bool = False) -> None:
        counter = itertools.count(1)
        self.repo = InMemoryRepository()
        self.workflow = FakeWorkflow()
        self.blobs = FakeBlobStore()
        self.builds = FakeBuildRunner()
        self.runtime = FakeRuntime()
        self.logs = FakeLogStore()
        self.callbacks = FakeCallbacks()
        self.sealer = FakeSealer()
        self.events = FakeEventPublisher()  # what the pipeline put on the bus itself (live ends)
        clock = lambda: NOW  # noqa: E731
        ids = lambda prefix: f"{prefix}_{next(counter):06d}"  # noqa: E731
        self.projects = ProjectService(self.repo, clock, ids)
        self.deployments = DeploymentService(
            self.repo,
            self.workflow,
            self.blobs,
            self.projects,
            self.logs,
            "sources",
            clock,
            ids,
            sealer=self.sealer,
        )
        self.clock = clock
        self.resolution = VariableResolution(self.repo, LocalAddresses()) if resolve_variables else None
        self.intake = SourceIntake(self.repo, self.blobs, clock, "sources", resolution=self.resolution)
        self.pipeline = Pipeline(
            self.repo,
            self.builds,
            self.runtime,
            self.logs,
            clock,
            sealer=self.sealer,
            intake=self.intake,
            resolution=self.resolution,
            events=self.events,
        )
        self.runner = TaskRunner(self.pipeline, self.callbacks)
        _project, envs = self.projects.create_project(WHO, "demo")
        self.service = self.projects.create_service(WHO, envs[0].id, "web", {"healthcheck_path": "/health"})

    def upload(self, content: bytes | None = None) -> str:
        _, key = self.deployments.presign_upload(WHO, self.service.id)
        self.blobs.put_bytes("sources", key, content if content is not None else key.encode())  # unique
        return key

    def run_workflow(self, deployment_id: str) -> None:
        """What the state machine does: Prepare and Build (for sources), Deploy, MarkFailed on error."""
        deployment = self.repo.get_deployment(deployment_id)
        # as the ASL's NeedsBuild: only a deployment without an artifact is prepared and built
        steps = ["prepare", "build", "deploy"] if deployment.artifact_key is None else ["deploy"]
        for action in steps:
            self.runner.run({"taskToken": action, "deploymentId": deployment_id, "action": action})
            outcome = self.callbacks.outcomes[-1]
            if outcome[0] == "success" and outcome[2].get("skipped"):  # as the ASL's Built choice
                return
            if action == "prepare" and outcome[0] == "success" and not outcome[2]["needsBuild"]:
                steps.remove("build")  # as the ASL's Cached choice
            if outcome[0] == "failure":
                error, cause = outcome[2]
                self.mark_failed(deployment_id, STEPS[action], error, cause)
                return

    def mark_failed(self, deployment_id: str, step: str, error: str, cause: str = "") -> None:
        """The ASL's MarkFailed: the failed step as its Catch records it, and the limits."""
        self.runner.run(
            {
                "taskToken": "f",
                "deploymentId": deployment_id,
                "action": "fail",
                "failure": {step: {"Error": error, "Cause": cause}},
                "limits": LIMITS,
            }
        )

    def deploy(self) -> str:
        deployment = self.deployments.deploy_source(WHO, self.service.id, self.upload())
        self.run_workflow(deployment.id)
        return deployment.id


class LocalAddresses:
    """ServiceAddresses as the local runtime names them (chalicelib/adapters/addresses.py)."""

    def public_url(self, service: Service) -> str:
        return f"http://{service.hostname}.localhost:8080"

    def public_domain(self, service: Service) -> str:
        return f"{service.hostname}.localhost"

    def private_domain(self, service: Service) -> str:
        return f"{service.hostname}.localhost"
