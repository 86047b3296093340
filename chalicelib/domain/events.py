"""Versioned domain-event contracts carried on the EventBridge bus.

Every event is an envelope `{data, metadata}`; `metadata.event_version` changes only with a breaking
change (which also gets a new model). The deploy state machine emits these shapes with
`events:putEvents`; tests parse what reaches the queues with these models, so the ASL and the
contract cannot drift apart silently. Code that puts an event itself builds it with `Envelope.of`
(validated against its model) and hands it to an `EventPublisher` (domain/ports.py).

A deployment has one `deployment.completed` from its workflow; one that went live (SUCCESS) and later
stopped for good has a second one, CRASHED or COMPLETED, whose `metadata.event_source` is
LIVE_END_SOURCE (domain/live_end.py puts it): consumers that keep one end per deployment tell the two
apart by it (`Envelope.is_live_end`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EventMetadata(_Frozen):
    event_name: str
    event_source: str
    event_version: Literal["1"]
    correlation_id: str  # the deployment id (a git.* event: its delivery id)
    created_at: str


class DeploymentRequested(_Frozen):
    deployment_id: str
    service_id: str


class BuildStarted(_Frozen):
    deployment_id: str
    service_id: str


class BuildCompleted(_Frozen):
    deployment_id: str
    service_id: str
    cached: bool
    artifact_key: str


class DeploymentCompleted(_Frozen):
    deployment_id: str
    service_id: str
    status: str  # a DeploymentStatus value


class AuditRecorded(_Frozen):
    """A change made through the API (chalicelib/domain/audit.py AuditEntry); the API puts it."""

    id: str
    workspace_id: str | None
    at: str
    actor: str
    user_id: str | None
    email: str | None
    token_id: str | None
    action: str
    method: str
    path: str
    status: int
    code: str | None
    resource_kind: str | None
    resource_id: str | None
    project_id: str | None
    environment_id: str | None
    service_id: str | None
    source_ip: str
    user_agent: str
    request: dict[str, object]  # field names; values only of fields that name things, never secrets


class GitPushed(_Frozen):
    """A signed push to a linked service's repository (domain/git.py); `branch` is "" for a tag."""

    delivery_id: str  # the Git host's delivery id: at most one deployment per delivery
    service_id: str  # the linked service whose webhook received it
    branch: str
    commit_sha: str
    commit_message: str
    commit_author: str
    deleted: bool  # the branch was deleted: nothing to deploy
    received_at: str


class GitPullRequest(_Frozen):
    """A signed pull-request event (opened, reopened, synchronize, closed ...) of a linked repository."""

    delivery_id: str
    service_id: str
    action: str
    number: int
    base_branch: str
    head_branch: str
    commit_sha: str  # the head's
    title: str
    author: str
    merged: bool
    received_at: str


GIT_PUSH = "git.push"
DEPLOYMENT_COMPLETED = "deployment.completed"
# The envelope's metadata.event_source of a live release's end (the workflow's is "railyard.workflow").
LIVE_END_SOURCE = "railyard.runtime"
GIT_PULL_REQUEST = "git.pull_request"
GIT_EVENTS = (GIT_PUSH, GIT_PULL_REQUEST)  # what the GitHub webhook puts on the bus (domain/git.py)

DATA_MODELS: dict[str, type[_Frozen]] = {
    "deployment.requested": DeploymentRequested,
    "build.started": BuildStarted,
    "build.completed": BuildCompleted,
    DEPLOYMENT_COMPLETED: DeploymentCompleted,
    "railyard.audit": AuditRecorded,
    GIT_PUSH: GitPushed,
    GIT_PULL_REQUEST: GitPullRequest,
}


class Envelope(_Frozen):
    data: dict[str, object]
    metadata: EventMetadata

    @classmethod
    def of(
        cls, event_name: str, data: _Frozen, source: str, correlation_id: str, created_at: str
    ) -> Envelope:
        """The envelope of an event a Railyard component puts itself (version 1, as the ASL's)."""
        model = DATA_MODELS[event_name]
        if not isinstance(data, model):
            raise TypeError(f"{event_name} carries {model.__name__}, not {type(data).__name__}")
        metadata = EventMetadata(
            event_name=event_name,
            event_source=source,
            event_version="1",
            correlation_id=correlation_id,
            created_at=created_at,
        )
        return cls(data=data.model_dump(), metadata=metadata)

    def typed_data(self) -> _Frozen:
        """The payload validated against the model of its event name (raises on drift)."""
        return DATA_MODELS[self.metadata.event_name].model_validate(self.data)

    @property
    def is_live_end(self) -> bool:
        """A deployment's second end: its live release stopped for good after it went live."""
        metadata = self.metadata
        return metadata.event_name == DEPLOYMENT_COMPLETED and metadata.event_source == LIVE_END_SOURCE
