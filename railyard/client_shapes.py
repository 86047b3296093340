"""The JSON shapes the Railyard HTTP API answers with (docs/api.md), as TypedDicts: what
``railyard.client.RailyardClient`` returns. Type-only: importing this costs nothing.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict


class Project(TypedDict):
    id: str
    name: str
    createdAt: str


class Environment(TypedDict):
    id: str
    projectId: str
    name: str
    createdAt: str


class Service(TypedDict):
    id: str
    projectId: str
    environmentId: str
    name: str
    hostname: str
    url: str | None  # None for a worker or a job
    workload: NotRequired[str]  # web | worker | job: what its active release is
    settings: dict[str, Any]
    activeDeploymentId: str | None
    activeReleaseId: str | None
    createdAt: str


class DeploymentActor(TypedDict):
    kind: str  # user | token | git | system
    name: str
    userId: str | None
    label: str  # how it reads in a list ("token ci", "GitHub push by Ada")


class Deployment(TypedDict):
    id: str
    serviceId: str
    projectId: str
    environmentId: str
    kind: str
    status: str
    reason: NotRequired[str | None]
    releaseId: NotRequired[str | None]
    releaseNumber: NotRequired[int | None]
    buildCached: NotRequired[bool | None]
    url: NotRequired[str | None]
    workload: NotRequired[str]  # web | worker | job, once it went live
    cronSchedule: NotRequired[str | None]
    commitSha: NotRequired[str | None]  # a pushed commit's (docs/decisions/0035)
    commitMessage: NotRequired[str | None]
    commitAuthor: NotRequired[str | None]
    branch: NotRequired[str | None]
    createdBy: NotRequired[DeploymentActor | None]  # null on deployments made before ADR 0042
    createdAt: str
    updatedAt: NotRequired[str]


class LogLine(TypedDict):
    seq: int
    ts: Any
    message: str


class LogPage(TypedDict):
    lines: list[LogLine]
    next: int
    done: bool


class Upload(TypedDict):
    uploadUrl: str
    sourceKey: str
    expiresIn: int
    # A presigned POST: these form fields, then the file. Absent from servers older than the upload
    # limit, which hand out a presigned PUT URL instead.
    uploadFields: NotRequired[dict[str, str]]
    maxBytes: NotRequired[int]  # the largest upload the server accepts


class VariablesUpdate(TypedDict):
    variables: dict[str, str]
    sealed: list[str]  # names only: a sealed value is never sent back
    deployment: Deployment | None


class DeviceAuthorization(TypedDict):
    deviceCode: str
    userCode: str
    verificationUri: str
    verificationUriComplete: str
    expiresIn: int
    interval: int


class SessionTokens(TypedDict):
    accessToken: str
    refreshToken: str
    tokenType: str
    expiresIn: int
    sessionId: str


class WhoamiGrant(TypedDict):
    workspaceId: str
    projectId: NotRequired[str]
    environmentId: NotRequired[str]
    serviceId: NotRequired[str]
    role: str | None
    actions: list[str]


class Whoami(TypedDict):
    kind: str
    name: str
    userId: str | None
    tokenId: str | None
    sessionId: str | None
    grants: list[WhoamiGrant]
