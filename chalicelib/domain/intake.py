"""The deploy workflow's Prepare step: what creating a source deployment used to check while the
client waited, done by a worker right after the one write that created it
(docs/decisions/0027-one-write-per-deployment.md).

A deployment created from its service's id alone (docs/decisions/0034-ids-carry-their-place.md)
has no configuration yet: Prepare reads the service and its variables (one Query of the service's
partition) and fixes them on the deployment, with the hostname, in the same conditional write as the
rest (a retry finds them filled and never changes them); a service deleted meanwhile fails the
deployment (ServiceGone). Its output carries the step limits for the filled settings, which the
workflow takes for the steps after it.

It finds the upload (its ETag is the source's fingerprint; a missing upload fails the deployment
with a reason that says so), resolves its variables (shared ones, references, injected ones:
domain/variable_resolution.py; one that does not resolve fails it) and whether these exact
bytes were built before with the same build inputs: then the deployment takes that build's
artifact and the workflow skips its Build step, as it did when the API decided it. Idempotent: a
redelivered message finds the ETag recorded and answers from the stored deployment.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from chalicelib.domain.errors import Conflict, NotFound, ServiceGone, SourceNotUploaded
from chalicelib.domain.ids import Clock, iso
from chalicelib.domain.limits import step_limits
from chalicelib.domain.models import (
    BuiltSource,
    ConfigSnapshot,
    Deployment,
    ServiceSettings,
    no_cache_requested,
    source_fingerprint,
)
from chalicelib.domain.ports import BlobStore, Repository
from chalicelib.domain.promotion import ensure_running
from chalicelib.domain.variable_resolution import VariableResolution

# How a deployment that reuses an earlier build says so (the deployment view's buildCache).
REUSED_BUILD_CACHE = {"artifact": "hit", "deps": "none", "skippedBuild": True}


def default_limits(settings: ServiceSettings) -> dict[str, Any]:
    """The step limits with a build runner that beats (the local one): what a worker built
    without the workflow's own limits (unit tests) reports."""
    return step_limits(settings, builds_beat=True).workflow_input()


class SourceIntake:
    def __init__(
        self,
        repo: Repository,
        blobs: BlobStore,
        clock: Clock,
        sources_bucket: str,
        artifacts_bucket: str | None = None,  # set: a reused build's artifact is checked to exist
        limits: Callable[[ServiceSettings], dict[str, Any]] = default_limits,  # WorkflowStarter.limits
        resolution: VariableResolution | None = None,  # None: variables are taken as stored
    ) -> None:
        self._resolution = resolution
        self._limits = limits
        self._repo = repo
        self._blobs = blobs
        self._clock = clock
        self._sources_bucket = sources_bucket
        self._artifacts_bucket = artifacts_bucket

    def prepare(self, deployment_id: str) -> dict[str, Any]:
        """The step's output: `needsBuild`, False when an earlier build's artifact was taken, and
        the `limits` of the steps after it."""
        deployment = self._repo.get_deployment(deployment_id)
        for attempt in (1, 2):
            ensure_running(deployment)  # a cancelled deployment is not worked on
            source_key = deployment.source_key
            if deployment.source_etag is not None or source_key is None:
                return self._output(deployment)  # prepared by an earlier delivery, or nothing to find
            deployment = self._configured(deployment)
            if self._resolution is not None:  # before the build: it sees the resolved values
                deployment = self._resolution.resolve(deployment)
            etag = self._blobs.etag(self._sources_bucket, source_key)
            if etag is None:
                raise SourceNotUploaded(
                    f"the source upload was not found: {source_key!r} was never uploaded "
                    "(POST the tarball to the uploadUrl before creating the deployment)"
                )
            prepared = _with_build(deployment, self._earlier_build(deployment, etag))
            prepared = prepared.bumped(source_etag=etag, updated_at=iso(self._clock()))
            try:
                self._repo.save(prepared)
                return self._output(prepared)
            except Conflict:  # changed meanwhile (a cancel?): decide on the stored version
                if attempt == 2:
                    raise
                deployment = self._repo.get_deployment(deployment_id)
        raise AssertionError("unreachable")

    def _configured(self, deployment: Deployment) -> Deployment:
        """The deployment with its service's variables, settings and hostname as they are now, if it
        has none yet (saved with the rest of the step's findings, so fixed from then on)."""
        if deployment.config is not None:
            return deployment
        try:
            service, variables = self._repo.get_service_with_variables(deployment.service_id)
        except NotFound:
            raise ServiceGone(
                f"service {deployment.service_id} was deleted before its deployment could start"
            ) from None
        config = ConfigSnapshot(
            variables=dict(variables.values), settings=service.settings, sealed=dict(variables.sealed)
        )
        return dataclasses.replace(deployment, config=config, hostname=service.hostname)

    def _output(self, deployment: Deployment) -> dict[str, Any]:
        settings = deployment.config.settings if deployment.config else ServiceSettings()
        return {"needsBuild": deployment.artifact_key is None, "limits": self._limits(settings)}

    def _earlier_build(self, deployment: Deployment, etag: str) -> BuiltSource | None:
        """The build of these bytes with these build inputs, unless a cold build was asked for or
        retention pruned its artifact (then it is built again)."""
        if deployment.no_cache or no_cache_requested(deployment.requested.variables):
            return None
        try:
            built = self._repo.get_built_source(
                deployment.service_id, source_fingerprint(etag, deployment.requested)
            )
        except NotFound:
            return None
        if self._artifacts_bucket and not self._blobs.exists(self._artifacts_bucket, built.artifact_key):
            return None
        return built


def _with_build(deployment: Deployment, built: BuiltSource | None) -> Deployment:
    """The deployment carrying an earlier build's artifact; its config-file settings win, as they
    did for that build's own deployment."""
    if built is None:
        return deployment
    settings = built.built.effective_settings(deployment.requested.settings)
    return dataclasses.replace(
        deployment,
        built=built.built,
        build_cached=True,
        build_cache=dict(REUSED_BUILD_CACHE),
        config=dataclasses.replace(deployment.requested, settings=settings),
    )
