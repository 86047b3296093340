"""CodeBuildRunner: the BuildRunner port on AWS, as a build that CodeBuild runs and reports later.

The port's `build()` is synchronous, but a CodeBuild build takes minutes and the house rule is no
sleep loops. So on AWS the Build step is split in two (the task-token pattern of the deploy
workflow; docs/decisions/0006): the pipeline calls `start()` (the AsyncBuildRunner port), which
plans the source, hands CodeBuild a rendered buildspec and returns the build id, and stores the
step's task token under that id; CodeBuild's "Build State Change" event then travels rule -> SQS ->
functions/build_events.py, which reads it with `build_state_change()` and, on SUCCEEDED, records
`result()` and calls SendTaskSuccess (SendTaskFailure, with CodeBuild's reason, otherwise).

Every build is isolated to its project (docs/decisions/0014, catalogue.BuildIsolation): it runs as
the project's own role (serviceRoleOverride), reads its source from the project's source prefix,
writes its artifact and dependency layers under the project's prefixes, pushes to the project's
repository, logs to the project's log streams, and gets the user's variables as PARAMETER_STORE
references to the project's parameters (isolation.py ensures the role, repository and parameters).
The build's record (`result()` reads it) is kept outside every prefix a build may write, so a
build cannot rewrite what the platform believes it produced.

Why the source is downloaded here although CodeBuild downloads it again: the plan (which provider,
which commands) is computed from the files, by the same `plan_build` the local runner uses, and
CodeBuild's S3 source must be a ZIP (or a folder), never the .tar.gz the CLI uploads. So the
source is extracted safely once, planned, and repacked as a ZIP for CodeBuild.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import tempfile
import time
import zipfile
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from chalicelib.adapters.aws import client, error_code
from chalicelib.adapters.builds.isolation import ProjectBuildAccess
from chalicelib.adapters.builds.source_tree import Planner, plan_source
from chalicelib.adapters.builds.trees import extract
from chalicelib.domain.buildplan.report import log_lines
from chalicelib.domain.built_release import BuiltRelease
from chalicelib.domain.errors import BuildFailed, NotFound
from chalicelib.domain.ports import (
    BlobStore,
    BuildRequest,
    BuildResult,
    BuildStateChange,
    LogSink,
    Progress,
)
from chalicelib.domain.renderings import (
    ARTIFACT_NAME,
    VARIABLES_DIGEST_ENV,
    render_buildspec,
    variables_digest,
)

BUILD_STATE_CHANGE = "CodeBuild Build State Change"
STATUSES = ("SUCCEEDED", "FAILED", "STOPPED", "IN_PROGRESS")
# Statuses batch_get_builds knows that the workflow treats as a failure.
_FAILED_ALIASES = {"TIMED_OUT": "FAILED", "FAULT": "FAILED"}
# Never passed from a user's variables into the build: CodeBuild reserves CODEBUILD_*, RAILYARD_* is
# ours, and AWS_* would redirect the buildspec's own `aws ecr` / `aws s3` calls to other credentials.
_WITHHELD_PREFIXES = ("CODEBUILD_", "RAILYARD_", "AWS_")
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")  # also a valid ECR image tag
# A role this container has just created may be refused by CodeBuild until IAM has propagated it
# (seconds, rarely a minute): StartBuild is retried after these pauses, then the refusal stands.
ROLE_PROPAGATION_RETRIES = (2.0, 4.0, 8.0, 16.0)
_ROLE_FRESH_SECONDS = 120.0


class CodeBuildRunner:
    """Starts CodeBuild builds of sources in `source_bucket`; artifacts land in `artifact_bucket`,
    images (when `image_registry`, an ECR registry host, is set) in the project's repository of
    that registry, tagged with the deployment id.

    The CodeBuild project must exist (the build stack creates it: S3 source, privileged mode, a
    base role that can do nothing but log). `cache_bucket` turns on the content-addressed
    dependency layer, kept per service under the project's cache prefix (builds of one tenant must
    never restore another tenant's dependencies), and CodeBuild's own cache beside it."""

    def __init__(
        self,
        project_name: str,
        blobs: BlobStore,
        source_bucket: str,
        artifact_bucket: str,
        image_registry: str | None,
        planner: Planner | None = None,  # None: plan_build for the deployment's environment
        *,
        access: ProjectBuildAccess,
        cache_bucket: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._project_name = project_name
        self._blobs = blobs
        self._source_bucket = source_bucket
        self._artifact_bucket = artifact_bucket
        self._image_registry = image_registry.rstrip("/") if image_registry else None
        self._planner = planner
        self._access = access
        self._isolation = access.isolation
        self._cache_bucket = cache_bucket
        self._sleep = sleep

    def build(self, request: BuildRequest, log: LogSink, progress: Progress) -> BuildResult:
        raise NotImplementedError(
            "CodeBuildRunner does not build synchronously: on AWS the Build step completes via "
            "CodeBuild's state-change event. The worker calls start() and stores the task token; "
            "CodeBuild's state-change event -> rule -> SQS -> worker -> build_outcome() -> "
            "SendTaskSuccess (with result()) or SendTaskFailure."
        )

    def start(self, request: BuildRequest, log: LogSink) -> str:
        """Plans the source, starts its CodeBuild build as the project's role and returns the build
        id. Idempotent per deployment for CodeBuild's idempotency window (5 minutes): a retried
        step gets the same build. Raises BuildFailed / NothingToBuild for a source that cannot be
        planned."""
        deployment_id, project_id = request.deployment_id, request.project_id
        if not _SAFE_ID.match(deployment_id):
            raise ValueError(f"unsafe deployment id for an object key or image tag: {deployment_id!r}")
        self._access.check_project_id(project_id)
        zip_key = f"{self._isolation.source_prefix(project_id)}{deployment_id}.zip"
        with tempfile.TemporaryDirectory(prefix="railyard-codebuild-") as work:
            archive = os.path.join(work, "source.tar.gz")
            src = os.path.join(work, "src")
            os.makedirs(src)
            try:
                self._blobs.download_file(self._source_bucket, request.source_key, archive)
            except NotFound:
                raise BuildFailed(
                    f"the source archive {request.source_key} was not found; was the upload finished?"
                ) from None
            extract(archive, src)
            plan = plan_source(src, request, self._planner)
            zipped = os.path.join(work, "source.zip")
            _zip_tree(src, zipped)
            self._blobs.upload_file(self._source_bucket, zip_key, zipped)

        role_arn = self._access.role_arn(project_id)
        image_uri = None
        if self._image_registry:
            image_uri = f"{self._image_registry}/{self._access.repository(project_id)}:{deployment_id}"
        cache_path = self._deps_cache_path(project_id, request.service_id)
        buildspec = render_buildspec(plan, image_uri=image_uri, cache_bucket_path=cache_path)
        for line in log_lines(plan):
            log.write(line)

        variables = [
            {"name": "RAILYARD_DEPLOYMENT_ID", "value": deployment_id, "type": "PLAINTEXT"},
            {"name": "RAILYARD_SERVICE_ID", "value": request.service_id, "type": "PLAINTEXT"},
            {"name": "RAILYARD_PROJECT_ID", "value": project_id, "type": "PLAINTEXT"},
        ]
        withheld = sorted(n for n in request.variables if n.startswith(_WITHHELD_PREFIXES))
        passed = {k: v for k, v in request.variables.items() if k not in withheld}
        # The variables an install sees are part of the dependency key, as on the local runner.
        variables.append(
            {"name": VARIABLES_DIGEST_ENV, "value": variables_digest(passed), "type": "PLAINTEXT"}
        )
        self._access.sweep_parameters(project_id)
        # User variables reach the build like on the local runner (NEXT_PUBLIC_* and the like), but
        # as references: CodeBuild resolves them with the project's role when the build starts.
        references, refused = self._access.put_variables(project_id, deployment_id, passed)
        variables += references
        withheld = sorted(withheld + refused)
        if withheld:
            log.write(f"build: not passed to the build (reserved prefixes or names): {', '.join(withheld)}")

        try:
            response = self._start_build(zip_key, buildspec, variables, request, role_arn, log)
        except Exception as exc:
            code = error_code(exc)
            if code == "ResourceNotFoundException":
                raise BuildFailed(
                    f"the CodeBuild project {self._project_name!r} does not exist in this account and "
                    "region: deploy the platform's stack (it creates it) or set RAILYARD_BUILDER=local"
                ) from None
            if code in ("AccessDeniedException", "AccountLimitExceededException", "InvalidInputException"):
                raise BuildFailed(f"CodeBuild refused to start the build: {code}: {exc}") from None
            raise
        build_id = str(response["build"]["id"])
        # Written now, read by result() when the success event arrives: the event carries neither
        # the start command nor the provider.
        built = BuiltRelease(
            self.artifact_key(project_id, deployment_id),
            plan.start_command,
            image_uri,  # what the buildspec pushes, so releases carry it
            plan.deploy.settings_overrides(),
        )
        meta = {"build_id": build_id, "project_id": project_id, "provider": plan.provider, **built.to_dict()}
        self._blobs.put_bytes(
            self._artifact_bucket, self._result_key(deployment_id), json.dumps(meta, sort_keys=True).encode()
        )
        log.write(f"build: started CodeBuild build {build_id} (project {self._project_name})")
        log.write(f"build: runs as {self._isolation.role_name(project_id)}, this project's own role")
        if image_uri is not None:
            log.write(f"build: the image will be pushed as {image_uri}")
        log.flush()
        return build_id

    def result(self, deployment_id: str) -> BuildResult:
        """The BuildResult of a deployment whose build has SUCCEEDED (the worker calls it after
        `build_outcome()`). Raises NotFound when start() never ran for it."""
        meta = json.loads(self._blobs.get_bytes(self._artifact_bucket, self._result_key(deployment_id)))
        return BuildResult(BuiltRelease.from_dict(meta), cached=False, provider=str(meta["provider"]))

    def artifact_key(self, project_id: str, deployment_id: str) -> str:
        """Where CodeBuild uploads a deployment's artifact in the artifact bucket (see
        artifactsOverride: path/name/<file> with packaging NONE)."""
        return f"{self._isolation.artifact_prefix(project_id)}{deployment_id}/{ARTIFACT_NAME}"

    def artifact_objects(self, key: str) -> list[str]:
        """The ArtifactObjects port (retention): the build's record first (so the artifact is never
        believed complete once half deleted), then the artifact CodeBuild uploaded."""
        parts = key.split("/")
        # artifacts/codebuild/<project>/<deployment>/artifact.tar.gz
        if len(parts) >= 3 and parts[-1] == ARTIFACT_NAME:
            project_id, deployment_id = parts[-3], parts[-2]
            if key == self.artifact_key(project_id, deployment_id):
                return [self._result_key(deployment_id), key]
        return [key]

    def _result_key(self, deployment_id: str) -> str:
        return f"{self._isolation.results_prefix}{deployment_id}.json"

    def _deps_cache_path(self, project_id: str, service_id: str) -> str | None:
        if not self._cache_bucket:
            return None
        return f"{self._cache_bucket}/{self._isolation.cache_prefix(project_id)}{service_id}"

    def _start_build(
        self,
        zip_key: str,
        buildspec: str,
        variables: list[dict[str, str]],
        request: BuildRequest,
        role_arn: str,
        log: LogSink,
    ) -> Any:
        project_id, deployment_id = request.project_id, request.deployment_id
        params: dict[str, Any] = dict(
            projectName=self._project_name,
            serviceRoleOverride=role_arn,
            sourceTypeOverride="S3",
            sourceLocationOverride=f"{self._source_bucket}/{zip_key}",
            buildspecOverride=buildspec,
            environmentVariablesOverride=variables,
            artifactsOverride={
                "type": "S3",
                "location": self._artifact_bucket,
                "path": self._isolation.artifact_prefix(project_id).rstrip("/"),
                "name": deployment_id,
                "namespaceType": "NONE",
                "packaging": "NONE",  # the buildspec already made the .tar.gz of the contract
            },
            logsConfigOverride={
                "cloudWatchLogs": {
                    "status": "ENABLED",
                    "streamName": self._isolation.log_stream_prefix(project_id).rstrip("/"),
                },
                "s3Logs": {"status": "DISABLED"},
            },
            # CodeBuild counts whole minutes, at least 5; never cut a build shorter than configured.
            timeoutInMinutesOverride=max(5, math.ceil(request.settings.build_timeout / 60)),
            idempotencyToken=deployment_id,
        )
        if self._cache_bucket:
            # CodeBuild's own cache of the package managers' downloads: the project's, not shared.
            location = f"{self._cache_bucket}/{self._isolation.cache_prefix(project_id)}codebuild"
            params["cacheOverride"] = {"type": "S3", "location": location}
        else:
            params["cacheOverride"] = {"type": "NO_CACHE"}
        codebuild = client("codebuild")
        for pause in (*ROLE_PROPAGATION_RETRIES, None):
            try:
                return codebuild.start_build(**params)
            except Exception as exc:
                fresh = self._access.created_recently(project_id, _ROLE_FRESH_SECONDS)
                if pause is None or error_code(exc) != "InvalidInputException" or not fresh:
                    raise
                log.write(
                    f"build: CodeBuild cannot use the project's new role yet (IAM propagates it); "
                    f"trying again in {pause:g} s"
                )
                log.flush()
                self._sleep(pause)
        raise AssertionError("unreachable")  # the last pass returns or raises


def build_outcome(event: dict[str, Any]) -> tuple[str, str]:
    """(build id, status) from an EventBridge "CodeBuild Build State Change" event.

    The id is in start()'s form (`project:uuid`), not the ARN the event carries, so the worker can
    match it with what it stored. Status is SUCCEEDED, FAILED, STOPPED or IN_PROGRESS (TIMED_OUT and
    FAULT count as FAILED). Raises ValueError for any other event."""
    if event.get("detail-type") != BUILD_STATE_CHANGE or event.get("source") != "aws.codebuild":
        raise ValueError(
            f"not a {BUILD_STATE_CHANGE} event: source={event.get('source')!r}, "
            f"detail-type={event.get('detail-type')!r}"
        )
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise ValueError(f"{BUILD_STATE_CHANGE} event without a detail object")
    build_id = detail.get("build-id")
    status = detail.get("build-status")
    if not isinstance(build_id, str) or not build_id:
        raise ValueError(f"{BUILD_STATE_CHANGE} event without a build-id")
    if not isinstance(status, str):
        raise ValueError(f"{BUILD_STATE_CHANGE} event for {build_id} without a build-status")
    status = _FAILED_ALIASES.get(status, status)
    if status not in STATUSES:
        raise ValueError(f"unknown CodeBuild build status {status!r} for {build_id}")
    # arn:aws:codebuild:<region>:<account>:build/<project>:<uuid> -> <project>:<uuid>
    if build_id.startswith("arn:") and ":build/" in build_id:
        build_id = build_id.split(":build/", 1)[1]
    return build_id, status


def build_state_change(event: dict[str, Any]) -> BuildStateChange:
    """The domain's reading of a "CodeBuild Build State Change" event: `build_outcome()` plus why a
    build failed (the phase that did not succeed and CodeBuild's context for it) and where its log
    is. Raises ValueError for any other event."""
    build_id, status = build_outcome(event)
    detail = event["detail"]
    info = detail.get("additional-information")
    info = info if isinstance(info, dict) else {}
    phase, context = _failed_phase(info.get("phases"))
    if phase is None:
        phase = detail.get("current-phase") if isinstance(detail.get("current-phase"), str) else None
    return BuildStateChange(
        build_id=build_id,
        status=status,
        reported_status=str(detail["build-status"]),
        phase=phase,
        context=context,
        logs=_logs_link(info.get("logs"), event, build_id),
    )


def _failed_phase(phases: object) -> tuple[str | None, str]:
    """The first phase that ended other than SUCCEEDED, and CodeBuild's explanation for it."""
    for phase in phases if isinstance(phases, list) else []:
        if not isinstance(phase, dict):
            continue
        status = phase.get("phase-status")
        if status is None or status == "SUCCEEDED":
            continue
        context = phase.get("phase-context")
        lines = [c.strip() for c in context if isinstance(c, str)] if isinstance(context, list) else []
        explained = "; ".join(c for c in lines if c.strip(": "))
        return f"{phase.get('phase-type', '?')} ({status})", explained
    return None, ""


def _logs_link(logs: object, event: dict[str, Any], build_id: str) -> str:
    """CodeBuild's own link to the build's CloudWatch log, else the build's page in the console."""
    if isinstance(logs, dict) and isinstance(logs.get("deep-link"), str) and logs["deep-link"]:
        return str(logs["deep-link"])
    region = event.get("region") or "us-east-1"
    project, _, _ = build_id.partition(":")
    return (
        f"https://{region}.console.aws.amazon.com/codesuite/codebuild/{event.get('account', '')}"
        f"/projects/{project}/build/{quote(build_id, safe='')}/?region={region}"
    )


def event_deployment_id(event: dict[str, Any]) -> str | None:
    """The RAILYARD_DEPLOYMENT_ID that start() gave the build, as the state-change event echoes it
    (detail.additional-information.environment.environment-variables); None when absent."""
    info = event.get("detail", {}).get("additional-information", {})
    variables = info.get("environment", {}).get("environment-variables", [])
    for variable in variables if isinstance(variables, list) else []:
        if isinstance(variable, dict) and variable.get("name") == "RAILYARD_DEPLOYMENT_ID":
            value = variable.get("value")
            return value if isinstance(value, str) else None
    return None


def _zip_tree(root: str, path: str) -> None:
    """ZIP of root with paths relative to it, keeping executable bits and symlinks (start.sh, and
    node_modules/.bin in a source that ships it)."""
    entries: list[str] = []
    for directory, dirs, files in os.walk(root):
        dirs.sort()
        # os.walk lists symlinks to directories under dirs; they are stored as links, not walked.
        for name in sorted(files + [d for d in dirs if os.path.islink(os.path.join(directory, d))]):
            entries.append(os.path.join(directory, name))
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(directory, d))]
    # strict_timestamps=False: tar entries may carry mtime 0, which ZIP cannot store (it clamps).
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, strict_timestamps=False) as archive:
        for full in entries:
            rel = os.path.relpath(full, root).replace(os.sep, "/")
            if os.path.islink(full):
                info = zipfile.ZipInfo(rel)
                info.create_system = 3  # unix, so extractors read the mode in external_attr
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                archive.writestr(info, os.readlink(full))
            else:
                archive.write(full, rel)  # ZipInfo.from_file keeps the file's mode
