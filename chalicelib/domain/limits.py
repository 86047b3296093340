"""Every limit a user can hit: the sizes and counts of what they send (request bodies, variables,
uploads, sources), and the time limits of the deploy workflow's task steps with what a user reads
when a step hits one. docs/api.md ("Limits") lists them for users.

Sizes and counts: each is declared once below and checked where the thing enters the platform: a
request body before it is parsed (chalicelib/api/routing.py), variables before they are saved
(`check_variables`), an upload by S3's presigned POST policy (and again before the build reads it,
since moto does not enforce the policy), a source tarball member by member before anything is
extracted (`SourceTally`). Together they keep every DynamoDB item well under its 400 KB limit: a
deployment or release carries the variables (at most MAX_VARIABLES_BYTES) and the settings, whose
strings the API and the config files bound (MAX_COMMAND_CHARS ...), so even JSON's worst escaping
(6 bytes for a control character) stays under ~220 KB; the dynamo adapter maps DynamoDB's own
refusal to PayloadTooLarge as the last line of defence.

Time: one table: the execution input carries every task step's limits for the deployment (the ASL reads
them through HeartbeatSecondsPath/TimeoutSecondsPath and holds no number of its own but the events'
60 s), and docs/reliability.md explains them. A step that has a worker
beating for it (a local build, every deploy) fails after HEARTBEAT_SECONDS without a beat, so a dead
worker is noticed in two minutes whatever the step's own limit; a step nobody can beat for (a
CodeBuild build, which reports only its end) has only its timeout, just above the build's own.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from chalicelib.domain.errors import BadRequest, BuildFailed, PayloadTooLarge

if TYPE_CHECKING:  # models imports this module's limits
    from chalicelib.domain.models import ServiceSettings

# --- sizes and counts ----------------------------------------------------------------------------
MAX_REQUEST_BODY_BYTES = 256 * 1024  # an API request's body, checked before it is parsed
MAX_JSON_DEPTH = 32  # nested arrays/objects in a request body
MAX_VARIABLES = 200  # variables per service (Railway-like)
MAX_VARIABLE_BYTES = 32 * 1024  # one value, UTF-8
# All names and values of a service as stored (JSON, non-ASCII escaped): what bounds the variables
# item and the copy every deployment and release carries. Heroku's config vars have the same 64 KB.
MAX_VARIABLES_BYTES = 64 * 1024
MAX_COMMAND_CHARS = 4096  # startCommand, preDeployCommand, buildCommand (API and config files)
MAX_PATH_CHARS = 1024  # healthcheckPath, dockerfilePath, a watch pattern
MAX_CRON_CHARS = 256  # cronSchedule
MAX_WATCH_PATTERNS = 100  # build.watchPatterns entries
MAX_CUSTOM_DOMAINS = 20  # custom domains per service (chalicelib/domain/domains.py)
MAX_UPLOAD_BYTES = 500 * 1024**2  # a source upload, compressed: RAILYARD_MAX_UPLOAD_BYTES's default
MAX_SOURCE_FILES = 50_000  # entries (files, directories, links) in one source tarball
MAX_SOURCE_BYTES = 2 * 1024**3  # a source tarball's content, uncompressed
MAX_CONFIG_FILE_BYTES = 256 * 1024  # railway.json / railway.toml / railyard.toml, each
DYNAMODB_ITEM_BYTES = 400 * 1024  # DynamoDB's own limit on an item; ours keep far below it

# --- deploy settings: one range each, for the API's service settings and for config files ------
# Railway's own limit where it has one; where Railway sets none (its timeouts), what Railyard's
# Deploy step can wait for. A config file asking for more is applied at the limit with a warning
# (railway_config); the API refuses it (domain/service_settings.py).
MAX_REPLICAS = 200  # numReplicas, a multiRegionConfig's total, autoscaleMaxReplicas (Railway: 200)
MAX_HEALTHCHECK_TIMEOUT_SECONDS = 3600  # healthcheckTimeout
MAX_TEARDOWN_SECONDS = 3600  # overlapSeconds and drainingSeconds, each
MAX_RESTART_RETRIES = 100  # restartPolicyMaxRetries
MAX_BUILD_TIMEOUT_SECONDS = 7200  # buildTimeout (the build's Step Functions timeout adds a margin)

HEARTBEAT_EVERY_SECONDS = 20.0  # how often a worker beats while a step runs
HEARTBEAT_SECONDS = 120  # a step with a beating worker fails after this long without a beat
# The Build step's timeout over the app's buildTimeout: downloading the source, uploading the
# artifact, waiting for a free worker or for CodeBuild to provision.
BUILD_MARGIN_SECONDS = 300
# A build runner that cannot beat (CodeBuild) enforces buildTimeout itself, in whole minutes and at
# least five; the step waits that long plus the margin for the build's end event.
UNBEATEN_BUILD_MINIMUM_SECONDS = 300
DEPLOY_TIMEOUT_SECONDS = MAX_HEALTHCHECK_TIMEOUT_SECONDS + 300  # the longest health check or rollout
MARK_FAILED_TIMEOUT_SECONDS = 300  # a free deploy worker records the end in well under a second
PREPARE_TIMEOUT_SECONDS = 300  # likewise: a deploy worker finds the upload and an earlier build
EVENT_TIMEOUT_SECONDS = 60  # each events:putEvents state (a request/response call)

STATES_TIMEOUT = "States.Timeout"  # a task's timeout; moto reports a missed heartbeat as this too
STATES_HEARTBEAT_TIMEOUT = "States.HeartbeatTimeout"  # AWS: a missed heartbeat
TIMEOUT_ERRORS = frozenset({STATES_TIMEOUT, STATES_HEARTBEAT_TIMEOUT})


@dataclass(frozen=True)
class StepLimits:
    """The task steps' bounds for one deployment: the execution input's `limits`, which the ASL
    reads with HeartbeatSecondsPath/TimeoutSecondsPath (so the state machine holds no number of
    its own, and a test can shrink them)."""

    build_timeout_seconds: int
    build_heartbeat_seconds: int  # timeout - 1 when nobody beats (the ASL needs heartbeat < timeout)
    build_beats: bool  # False: a build service that reports only its end (CodeBuild)
    app_build_timeout_seconds: float  # the app's buildTimeout, for the reason a user reads
    deploy_timeout_seconds: int = DEPLOY_TIMEOUT_SECONDS
    deploy_heartbeat_seconds: int = HEARTBEAT_SECONDS
    mark_failed_timeout_seconds: int = MARK_FAILED_TIMEOUT_SECONDS
    prepare_timeout_seconds: int = PREPARE_TIMEOUT_SECONDS

    def workflow_input(self) -> dict[str, Any]:
        return {
            "buildTimeoutSeconds": self.build_timeout_seconds,
            "buildHeartbeatSeconds": self.build_heartbeat_seconds,
            "buildBeats": self.build_beats,
            "appBuildTimeoutSeconds": self.app_build_timeout_seconds,
            "deployTimeoutSeconds": self.deploy_timeout_seconds,
            "deployHeartbeatSeconds": self.deploy_heartbeat_seconds,
            "markFailedTimeoutSeconds": self.mark_failed_timeout_seconds,
            "prepareTimeoutSeconds": self.prepare_timeout_seconds,
        }

    @classmethod
    def from_input(cls, limits: Any) -> StepLimits | None:
        """Back from the execution input (MarkFailed's message, an execution's history)."""
        if not isinstance(limits, dict):
            return None
        try:
            return cls(
                build_timeout_seconds=int(limits["buildTimeoutSeconds"]),
                build_heartbeat_seconds=int(limits["buildHeartbeatSeconds"]),
                build_beats=bool(limits["buildBeats"]),
                app_build_timeout_seconds=float(limits["appBuildTimeoutSeconds"]),
                deploy_timeout_seconds=int(limits["deployTimeoutSeconds"]),
                deploy_heartbeat_seconds=int(limits["deployHeartbeatSeconds"]),
                mark_failed_timeout_seconds=int(limits["markFailedTimeoutSeconds"]),
                # absent from executions started before the Prepare step existed
                prepare_timeout_seconds=int(limits.get("prepareTimeoutSeconds", PREPARE_TIMEOUT_SECONDS)),
            )
        except (KeyError, TypeError, ValueError):
            return None


def step_limits(settings: ServiceSettings, builds_beat: bool) -> StepLimits:
    """`builds_beat`: the build runner heartbeats while it builds (the local runner does)."""
    if builds_beat:
        timeout = math.ceil(settings.build_timeout) + BUILD_MARGIN_SECONDS
        return StepLimits(timeout, HEARTBEAT_SECONDS, True, settings.build_timeout)
    own = max(UNBEATEN_BUILD_MINIMUM_SECONDS, 60 * math.ceil(settings.build_timeout / 60))
    timeout = own + BUILD_MARGIN_SECONDS
    return StepLimits(timeout, timeout - 1, False, settings.build_timeout)


@dataclass(frozen=True)
class StepFailure:
    """How a task step ended the workflow's happy path, as its Catch recorded it."""

    step: str  # the state's name: Build, Deploy, Requested, ...; "" when the workflow did not say
    error: str  # a worker's error name (BuildFailed), or a States.* name
    cause: str = ""

    @classmethod
    def from_catch(cls, failure: Any) -> StepFailure | None:
        """From the ASL's `$.failure`: {"<Step>": {"Error": ..., "Cause": ...}} (one step)."""
        if not isinstance(failure, dict) or len(failure) != 1:
            return None
        ((step, caught),) = failure.items()
        if not isinstance(caught, dict):
            return None
        return cls(str(step), str(caught.get("Error") or "Error"), str(caught.get("Cause") or ""))


def failure_reason(
    failure: StepFailure, limits: StepLimits | None, step_started: datetime | None, now: datetime
) -> str:
    """The deployment's reason for a failed step: a timeout names the step and the limit it hit
    ("Build step timed out: no heartbeat for 120 s ..."), never `States.Timeout`; any other error
    keeps the worker's words. `step_started` (about when the step began; the deployment's last
    change) tells a missed heartbeat from the step's own limit where the workflow does not say."""
    if failure.error not in TIMEOUT_ERRORS:
        cause = _short(failure.cause)
        return f"{failure.error}: {cause}" if cause else failure.error
    step = failure.step
    limits = limits or StepLimits(0, 0, True, 0)  # an execution without limits: the defaults
    heartbeat: int | None
    if step == "Build" and limits.build_timeout_seconds:
        timeout = limits.build_timeout_seconds
        heartbeat = limits.build_heartbeat_seconds if limits.build_beats else None
        own = f"buildTimeout {limits.app_build_timeout_seconds:g} s + {BUILD_MARGIN_SECONDS} s"
    elif step == "Deploy":
        timeout, heartbeat = limits.deploy_timeout_seconds, limits.deploy_heartbeat_seconds
        own = "the longest health check or rollout + 300 s"
    elif step == "MarkFailed":
        seconds = limits.mark_failed_timeout_seconds
        return f"MarkFailed step timed out after {seconds} s: no worker recorded the end"
    elif step == "Prepare":
        seconds = limits.prepare_timeout_seconds
        return f"Prepare step timed out after {seconds} s: no worker looked for the source upload"
    else:
        return f"{step} step timed out" if step else "A step timed out"
    if heartbeat is None:
        return (
            f"{step} step timed out after {timeout} s: the build service never reported the build's "
            f"end ({own})"
        )
    elapsed = None if step_started is None else (now - step_started).total_seconds()
    missed_beat = failure.error == STATES_HEARTBEAT_TIMEOUT or (
        elapsed is not None and elapsed < timeout - heartbeat
    )
    if missed_beat:
        return f"{step} step timed out: no heartbeat for {heartbeat} s (its worker stopped or lost contact)"
    return f"{step} step timed out after {timeout} s ({own})"


def _short(text: str) -> str:
    """Step Functions carries a failure's cause as text; keep it short for the deployment reason."""
    return text if len(text) <= 500 else text[:497] + "..."


def stored_size(values: dict[str, str]) -> int:
    """The bytes `values` take in an item's JSON body (json.dumps escapes non-ASCII and control
    characters, so this can exceed the UTF-8 size)."""
    return len(json.dumps(values))


def check_variables(
    values: dict[str, str],
    before: dict[str, str] | None = None,
    sealed: dict[str, str] | None = None,
    sealed_before: dict[str, str] | None = None,
) -> None:
    """A service's variables after a change: at most MAX_VARIABLES of them, each value at most
    MAX_VARIABLE_BYTES, all of them at most MAX_VARIABLES_BYTES as stored. Sealed ones count in
    the number and the stored total as their stored (sealed) text; their plaintext is checked by
    size before sealing. A change that does not grow a count or size already over its limit
    (stored before the limit) is let through, so such a service can always shrink back under it."""
    before = {**(before or {}), **(sealed_before or {})}
    for name, value in values.items():
        size = len(value.encode())
        if size > MAX_VARIABLE_BYTES:
            raise PayloadTooLarge(
                f"variable {name!r} is {size} bytes; a value is at most {MAX_VARIABLE_BYTES} bytes"
            )
    values = {**values, **(sealed or {})}
    if len(values) > MAX_VARIABLES and len(values) > len(before):
        raise BadRequest(
            f"a service has at most {MAX_VARIABLES} variables; this change would leave {len(values)}"
        )
    total = stored_size(values)
    if total > MAX_VARIABLES_BYTES and total > stored_size(before):
        raise PayloadTooLarge(
            f"a service's variables take at most {MAX_VARIABLES_BYTES} bytes together (names and "
            f"values, JSON-encoded as stored); this change would make {total}"
        )


@dataclass
class SourceTally:
    """Counts a source tarball's entries as they are read, before any is extracted: the first entry
    past MAX_SOURCE_FILES, or whose declared size takes the total past MAX_SOURCE_BYTES, raises
    BuildFailed naming the limit. A tar bomb (a small gzip declaring huge members) therefore fails
    at its first oversized header, before its data is decompressed or written."""

    max_files: int = MAX_SOURCE_FILES
    max_bytes: int = MAX_SOURCE_BYTES
    files: int = 0
    bytes: int = 0

    def add(self, name: str, size: int) -> None:
        self.files += 1
        self.bytes += max(0, size)
        if self.files > self.max_files:
            raise BuildFailed(
                f"source limit: the source has more than {self.max_files} files (the limit); "
                "exclude dependencies and build outputs (.railyardignore)"
            )
        if self.bytes > self.max_bytes:
            raise BuildFailed(
                f"source limit: the source expands to more than {_mib(self.max_bytes)} (the limit; "
                f"{name!r} alone is {_mib(size)}); exclude dependencies and build outputs"
            )


def check_upload_size(size: int, max_bytes: int) -> None:
    """An uploaded source above the upload limit (S3 enforces it in AWS; moto does not)."""
    if size > max_bytes:
        raise BuildFailed(
            f"upload limit: the uploaded source is {_mib(size)}, over the {_mib(max_bytes)} limit "
            "(RAILYARD_MAX_UPLOAD_BYTES)"
        )


def _mib(size: int) -> str:
    return f"{size / 1024**2:.1f} MiB"
