"""Domain errors: plain exceptions named for what happened.

The API maps these to HTTP statuses in one table (chalicelib/api/errors.py); workers raise the
build/deploy ones by name so the state machine's Retry/Catch lists can name them. Never branch on
message text.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""


class BadRequest(DomainError):
    """The input is malformed or names an unknown field."""


class NotFound(DomainError):
    """The named entity does not exist (or is not visible to the caller)."""


class Conflict(DomainError):
    """A concurrent change won, or the entity already exists."""


class IdempotencyKeyReused(Conflict):
    """An Idempotency-Key already answered a different request (another body) of the same caller."""


class ProductionEnvironment(Conflict):
    """The production environment cannot be deleted (a 409): every project keeps one."""


class RequestInProgress(Conflict):
    """The first request with this Idempotency-Key has not finished yet; retry shortly."""


class InvalidTransition(DomainError):
    """A status change the deployment state machine does not allow."""


class Unauthorized(DomainError):
    """No valid bearer token."""


class Forbidden(DomainError):
    """A valid token without the needed scope."""


class QuotaExceeded(DomainError):
    """A limit of the workspace was reached."""


class RateLimited(QuotaExceeded):
    """Too many attempts (sign-ins, token creation) in a window: retry after `retry_after` seconds.
    The API answers 429 with a Retry-After header."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))


class PayloadTooLarge(BadRequest):
    """A request body, an item or an upload above its limit (413)."""


class UnresolvedReference(BadRequest):
    """A variable's `${{service.VAR}}` / `${{shared.VAR}}` reference names a missing service or
    variable, a sealed value, or makes a cycle (domain/references.py). The deployment fails."""


class BuildFailed(DomainError):
    """The build ran and failed (non-zero exit, timeout, bad source). Not retried."""


class NothingToBuild(BuildFailed):
    """No provider recognised the source tree."""


class SourceNotUploaded(BuildFailed):
    """A source deployment's upload was not found when its workflow began (domain/intake.py)."""


class ServiceGone(BuildFailed):
    """A deployment's service was deleted before its workflow's Prepare step read it (ADR 0034)."""


class HealthCheckFailed(DomainError):
    """The new release never answered its health check in time. Not retried."""


class Superseded(DomainError):
    """A newer deployment of the same service went live first; this one must not replace it."""


class PreDeployFailed(DomainError):
    """The pre-deploy command exited non-zero or timed out; the release never started."""


class DeploymentCancelled(DomainError):
    """The deployment was cancelled while a step was running."""


class TaskExpired(DomainError):
    """The workflow stopped waiting for this step: its task timed out (no heartbeat in time, or past
    its limit) or its execution ended. The step must stop its work and never switch traffic; the
    workflow's failure path (or the sweeper) records why the deployment ended."""


class TransientError(DomainError):
    """A dependency failed in a way worth retrying (the ASL retries this name)."""


class ReleaseNotRunnable(DomainError):
    """The release cannot run on the configured runtime (e.g. a kind of service it does not
    support). Not retried."""


class ReleasePruned(Conflict):
    """Retention removed the release's artifact: it can no longer be deployed (a 409 from the API,
    a FAILED deployment from a worker). Not retried."""


class ImageMissing(ReleaseNotRunnable):
    """The release has no container image, and the runtime runs images (Kubernetes). Not retried."""


class RuntimeUnavailable(DomainError):
    """The runtime's backend (a Kubernetes API) stayed unreachable or failing after bounded retries."""


class RuntimeRefused(DomainError):
    """The runtime's backend refused a request: not authorized (RBAC), or an object it rejects."""
