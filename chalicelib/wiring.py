"""The composition root: builds adapters once per container (lazily) and hands services out.

Entry points call `container()`; nothing else constructs adapters. Tests replace parts with
`use(Container(settings, repository=fake, ...))` instead of patching boto3. Heavy imports (boto3,
pynamodb, the runtimes, the kubernetes client) happen inside the factories, so importing this module
is cheap. Settings that cannot work (RAILYARD_RUNTIME=kubernetes without a cluster or a base domain)
raise a ValueError naming the variable when the container's settings are read.
"""

from __future__ import annotations

import threading
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

from chalicelib.config import Settings
from chalicelib.domain.ids import IdFactory, new_id, utcnow
from chalicelib.wiring_accounts import AccountParts
from chalicelib.wiring_compute import ComputeParts
from chalicelib.wiring_git import GitParts
from chalicelib.wiring_webhooks import WebhookParts

if TYPE_CHECKING:
    from chalicelib.adapters.idempotency import DynamoIdempotency
    from chalicelib.domain import metrics_service
    from chalicelib.domain.authentication import AuthService
    from chalicelib.domain.cron_jobs import CronJobs
    from chalicelib.domain.domains import DomainService
    from chalicelib.domain.environments import Environments
    from chalicelib.domain.live import LiveFeed
    from chalicelib.domain.pipeline import Pipeline
    from chalicelib.domain.ports import (
        BlobStore,
        CronTrigger,
        EventPublisher,
        LiveReleaseWatch,
        LogStore,
        Repository,
        TaskCallbacks,
        WorkflowStarter,
    )
    from chalicelib.domain.projects import ProjectService
    from chalicelib.domain.retention import Retention
    from chalicelib.domain.sealing import Sealer
    from chalicelib.domain.services import DeploymentService
    from chalicelib.domain.sweeper import DeploymentSweeper
    from chalicelib.domain.task_runner import TaskRunner
    from chalicelib.domain.variable_resolution import VariableResolution
    from chalicelib.domain.variables import VariableService


class Container(AccountParts, ComputeParts, GitParts, WebhookParts):
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
        from chalicelib.adapters.dynamo.repository import DynamoRepository
        from chalicelib.domain.live import PublishingRepository

        # Every saved deployment is pushed to its live subscribers (docs/decisions/0040).
        return cast("Repository", PublishingRepository(DynamoRepository(self.settings.table_name), self.live))

    @cached_property
    def blobs(self) -> BlobStore:
        from chalicelib.adapters.storage import S3BlobStore

        return S3BlobStore(region=self.settings.primary_region)

    @cached_property
    def logs(self) -> LogStore:
        from chalicelib.adapters.logs import S3LogStore

        return S3LogStore(self.blobs, self.settings.logs_bucket, on_flush=self._live_log_lines)

    def _live_log_lines(self, deployment_id: str, stream: str, after: int, lines: list[Any]) -> None:
        feed = self.live()
        if feed is not None:
            feed.log_lines(deployment_id, stream, after, lines)

    def live(self) -> LiveFeed | None:
        """Live updates over WebSocket (docs/decisions/0040); None when RAILYARD_WEBSOCKET_URL is unset."""
        if not self.settings.websocket_url:
            return None
        return self._live_feed

    @cached_property
    def _live_feed(self) -> LiveFeed:
        from chalicelib.adapters.live_channel import ApiGatewayChannel
        from chalicelib.adapters.live_store import DynamoLiveConnections
        from chalicelib.domain.live import LiveFeed

        s = self.settings
        assert s.websocket_url is not None
        return LiveFeed(
            DynamoLiveConnections(s.table_name),
            ApiGatewayChannel(s.websocket_url, s.region),
            self.repository,
            self.logs,
            self.clock,
        )

    @cached_property
    def workflow(self) -> WorkflowStarter:
        from chalicelib.adapters.workflows import StepFunctionsWorkflow

        # A local build beats while it runs; a CodeBuild build reports only its end.
        builds_beat = self.settings.builder != "codebuild"
        return StepFunctionsWorkflow(self.settings.state_machine_arn, builds_beat=builds_beat)

    @cached_property
    def events(self) -> EventPublisher:
        """Events put by code rather than the workflow: a live release's end (domain/live_end.py)."""
        from chalicelib.adapters.bus import EventBridgePublisher

        return EventBridgePublisher(self.settings.catalogue.event_bus, self.settings.region)

    @cached_property
    def idempotency(self) -> DynamoIdempotency:
        """The API's Idempotency-Key records (an API concern the domain never sees: no port)."""
        from chalicelib.adapters.idempotency import DynamoIdempotency

        return DynamoIdempotency(self.settings.table_name, self.settings.idempotency_ttl_seconds)

    @cached_property
    def sealer(self) -> Sealer:
        """Sealed variables' envelope encryption (docs/decisions/0023); KMS is called on first use."""
        from chalicelib.adapters.sealing import KmsSealer

        return KmsSealer(self.settings.sealing_key_id)

    @cached_property
    def callbacks(self) -> TaskCallbacks:
        from chalicelib.adapters.workflows import StepFunctionsCallbacks

        return StepFunctionsCallbacks()

    # --- use cases -------------------------------------------------------------------------------

    @cached_property
    def auth(self) -> AuthService:
        from chalicelib.domain.authentication import AuthService

        return AuthService(self.repository, self.clock, sessions=self.access_tokens)

    @cached_property
    def cron(self) -> CronJobs:
        from chalicelib.domain.cron_jobs import CronJobs

        return CronJobs(self.repository, self.projects, cast("CronTrigger", self.runtime))

    @cached_property
    def projects(self) -> ProjectService:
        from chalicelib.domain.projects import ProjectService

        return ProjectService(self.repository, self.clock, self.ids)

    @cached_property
    def domains(self) -> DomainService:
        """Custom domains: records in the table, TXT checks over DNS (RAILYARD_DNS_RESOLVER), and
        the local runtime told at once when one starts or stops serving (docs/decisions/0024)."""
        from chalicelib.adapters.domains import DnsTxtResolver, DynamoDomainStore
        from chalicelib.domain.domains import DomainRoutes, DomainRules, DomainService

        s = self.settings
        # Only the local runtime re-routes a live service; Kubernetes applies domains at the next
        # deploy, and building its client here would cost the API a cluster connection for nothing.
        live = self.runtime if s.runtime == "local" else None
        return DomainService(
            self.repository,
            DynamoDomainStore(s.table_name),
            self.projects,
            DnsTxtResolver(s.dns_nameserver),
            DomainRules(platform_domains=s.platform_domains, public_host=s.public_host),
            self.clock,
            routes=live if isinstance(live, DomainRoutes) else None,
        )

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
            sealer=self.sealer,
        )

    @cached_property
    def variable_resolution(self) -> VariableResolution:
        """Shared variables, references and injected variables (docs/decisions/0037)."""
        from chalicelib.adapters.addresses import SettingsAddresses
        from chalicelib.domain.variable_resolution import VariableResolution

        return VariableResolution(self.repository, SettingsAddresses(self.settings))

    @cached_property
    def variables(self) -> VariableService:
        from chalicelib.domain.variables import VariableService

        return VariableService(self.repository, self.projects, self.variable_resolution, self.sealer)

    @cached_property
    def environments(self) -> Environments:
        """Environments copied, deleted (their releases stopped: the runtime is built only then)
        and promoted (docs/decisions/0036)."""
        from chalicelib.adapters.dynamo.environments import DynamoEnvironmentStore
        from chalicelib.domain.environments import Environments
        from chalicelib.domain.ports import ArtifactObjects

        def artifact_objects(key: str) -> list[str]:  # the build runner knows them; built on use
            runner = self.build_runner
            return runner.artifact_objects(key) if isinstance(runner, ArtifactObjects) else [key]

        return Environments(
            self.repository,
            DynamoEnvironmentStore(self.settings.table_name),
            self.projects,
            self.deployments,
            lambda: self.runtime,
            self.workflow,
            self.blobs,
            self.logs,
            self.settings.artifacts_bucket,
            self.clock,
            artifact_objects=artifact_objects,
        )

    @cached_property
    def pipeline(self) -> Pipeline:
        from chalicelib.adapters.sources import TarballSources
        from chalicelib.domain.intake import SourceIntake
        from chalicelib.domain.pipeline import Pipeline

        s = self.settings
        sources = TarballSources(self.blobs, s.sources_bucket, s.max_upload_bytes)
        intake = SourceIntake(
            self.repository,
            self.blobs,
            self.clock,
            s.sources_bucket,
            s.artifacts_bucket,
            limits=self.workflow.limits,  # the limits its executions start with, for the filled settings
            resolution=self.variable_resolution,
        )
        return Pipeline(
            self.repository,
            self.build_runner,
            self.runtime,
            self.logs,
            self.clock,
            sources=sources,
            sealer=self.sealer,
            intake=intake,
            resolution=self.variable_resolution,
            events=self.events,
        )

    @cached_property
    def task_runner(self) -> TaskRunner:
        from chalicelib.domain.task_runner import TaskRunner

        return TaskRunner(self.pipeline, self.callbacks)

    @cached_property
    def sweeper(self) -> DeploymentSweeper:
        """Ends deployments whose workflow ended without recording it (docs/decisions/0010), and
        live releases Kubernetes shows stopped for good (docs/decisions/0030; the local runtime
        reports those itself)."""
        from chalicelib.domain.sweeper import DeploymentSweeper

        live = cast("LiveReleaseWatch", self.runtime) if self.settings.runtime == "kubernetes" else None
        return DeploymentSweeper(
            self.repository, self.workflow, self.logs, self.clock, live=live, events=self.events
        )

    @cached_property
    def retention(self) -> Retention:
        from datetime import timedelta

        from chalicelib.domain.ports import ArtifactObjects
        from chalicelib.domain.retention import Retention, RetentionPolicy

        s = self.settings
        runner = self.build_runner  # it knows which objects make up one of its artifacts
        return Retention(
            self.repository,
            self.blobs,
            self.logs,
            self.runtime,
            s.artifacts_bucket,
            RetentionPolicy(s.keep_releases, timedelta(days=s.log_retention_days)),
            self.clock,
            artifact_objects=runner.artifact_objects if isinstance(runner, ArtifactObjects) else None,
        )

    @cached_property
    def metrics_store(self) -> metrics_service.MetricsStore:
        from chalicelib.adapters.metrics_store import DynamoMetricsStore

        return DynamoMetricsStore(self.settings.table_name)

    @cached_property
    def metrics(self) -> metrics_service.DeploymentMetrics:
        """Per-project deployment metrics (docs/decisions/0039): the metrics consumer records, the
        API reads."""
        from chalicelib.domain.metrics_service import DeploymentMetrics

        return DeploymentMetrics(self.metrics_store, self.repository, self.projects, self.clock)


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
