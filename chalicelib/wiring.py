"""The composition root: builds adapters once per container (lazily) and hands services out.

Entry points call `container()`; nothing else constructs adapters. Tests replace parts with
`use(Container(settings, repository=fake, ...))` instead of patching boto3. Heavy imports (boto3,
pynamodb, the runtimes) happen inside the factories, so importing this module is cheap.
"""

from __future__ import annotations

import threading
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

from chalicelib.config import Settings
from chalicelib.domain.ids import IdFactory, new_id, utcnow

if TYPE_CHECKING:
    from chalicelib.domain.pipeline import Pipeline, TaskRunner
    from chalicelib.domain.ports import (
        BlobStore,
        BuildRunner,
        CronTrigger,
        LogStore,
        Repository,
        Runtime,
        TaskCallbacks,
        WorkflowStarter,
    )
    from chalicelib.domain.services import AuthService, CronJobs, DeploymentService, ProjectService


class Container:
    """Every collaborator, built on first use. Keyword overrides win (tests, the local platform)."""

    def __init__(self, settings: Settings | None = None, **overrides: Any) -> None:
        self.settings = settings or Settings.from_env()
        self.clock = utcnow
        self.ids: IdFactory = new_id
        for name, value in overrides.items():
            setattr(self, name, value)

    # --- adapters --------------------------------------------------------------------------------

    @cached_property
    def repository(self) -> Repository:
        from chalicelib.adapters.dynamo import DynamoRepository

        return DynamoRepository(self.settings.table_name)

    @cached_property
    def blobs(self) -> BlobStore:
        from chalicelib.adapters.storage import S3BlobStore

        return S3BlobStore()

    @cached_property
    def logs(self) -> LogStore:
        from chalicelib.adapters.logs import S3LogStore

        return S3LogStore(self.blobs, self.settings.logs_bucket)

    @cached_property
    def workflow(self) -> WorkflowStarter:
        from chalicelib.adapters.workflows import StepFunctionsWorkflow

        return StepFunctionsWorkflow(self.settings.state_machine_arn)

    @cached_property
    def callbacks(self) -> TaskCallbacks:
        from chalicelib.adapters.workflows import StepFunctionsCallbacks

        return StepFunctionsCallbacks()

    @cached_property
    def build_runner(self) -> BuildRunner:
        s = self.settings
        if s.builder == "codebuild":  # asynchronous: the pipeline starts builds, events end them
            from chalicelib.adapters.builds.codebuild import CodeBuildRunner

            return CodeBuildRunner(
                s.catalogue.codebuild_project,
                self.blobs,
                s.sources_bucket,
                s.artifacts_bucket,
                s.ecr_repository_uri,
                cache_bucket=s.artifacts_bucket,  # under deps-cache/<service id>/
            )
        if s.builder != "local":
            raise ValueError(f"RAILYARD_BUILDER={s.builder!r} is not a builder (use 'local' or 'codebuild')")
        from chalicelib.adapters.builds.local import LocalBuildRunner

        return LocalBuildRunner(s.data_dir, self.blobs, s.sources_bucket, s.artifacts_bucket)

    @cached_property
    def runtime(self) -> Runtime:
        if self.settings.runtime != "local":
            raise ValueError(f"RAILYARD_RUNTIME={self.settings.runtime!r} is not available yet (use 'local')")
        from chalicelib.adapters.runtime.local import LocalRuntime

        s = self.settings
        return LocalRuntime(
            s.data_dir, self.blobs, s.artifacts_bucket, on_crash=lambda d, r: self.pipeline.mark_crashed(d, r)
        )

    # --- use cases -------------------------------------------------------------------------------

    @cached_property
    def auth(self) -> AuthService:
        from chalicelib.domain.services import AuthService

        return AuthService(self.repository, self.clock)

    @cached_property
    def cron(self) -> CronJobs:
        from chalicelib.domain.services import CronJobs

        return CronJobs(self.repository, self.projects, cast("CronTrigger", self.runtime))

    @cached_property
    def projects(self) -> ProjectService:
        from chalicelib.domain.services import ProjectService

        return ProjectService(self.repository, self.clock, self.ids)

    @cached_property
    def deployments(self) -> DeploymentService:
        from chalicelib.domain.services import DeploymentService

        return DeploymentService(
            self.repository,
            self.workflow,
            self.blobs,
            self.projects,
            self.logs,
            self.settings.sources_bucket,
            self.clock,
            self.ids,
        )

    @cached_property
    def pipeline(self) -> Pipeline:
        from chalicelib.domain.pipeline import Pipeline

        return Pipeline(self.repository, self.build_runner, self.runtime, self.logs, self.clock)

    @cached_property
    def task_runner(self) -> TaskRunner:
        from chalicelib.domain.pipeline import TaskRunner

        return TaskRunner(self.pipeline, self.callbacks)


_container: Container | None = None
_lock = threading.Lock()


def container() -> Container:
    global _container
    if _container is None:
        with _lock:
            if _container is None:
                _container = Container()
    return _container


def use(replacement: Container | None) -> None:
    """Install a container (tests, the local platform); None forgets it."""
    global _container
    _container = replacement
