"""A small typed client for the Railyard HTTP API (docs/api.md), used by the CLI.

One method per route the CLI needs; each returns the documented JSON shape as a TypedDict. Errors:

- an HTTP error answer becomes ``ApiError(status, code, message)`` from the ``{"Code", "Message"}``
  body (or a best-effort code when some proxy answered with something else);
- a network failure becomes ``ApiConnectionError`` naming the URL it could not reach, so the CLI
  can print one clear line instead of a urllib3 traceback.

Every request that creates something (a project, service, deployment, rollback, variables change,
cron run) carries an ``Idempotency-Key``: a fresh uuid per call, i.e. per user action. Such a call
is retried with the same key when no answer came back or the server asks for a retry (502/503/504,
or 409 RequestInProgress while an earlier try still runs), so a lost answer never makes a second
deployment: the server answers the first one again.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, NotRequired, TypedDict, cast
from urllib.parse import urlsplit

import requests

USER_AGENT = "railyard-cli/0.1"
# (connect, read) seconds. Every API call is a short request; the upload gets a longer read budget.
API_TIMEOUT = (5.0, 30.0)
UPLOAD_TIMEOUT = (5.0, 600.0)
IDEMPOTENCY_HEADER = "Idempotency-Key"
# Seconds to wait before each retry of a creating request: 4 retries, 7.5 s in all, about the time
# the local platform takes to come back after a restart.
RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0)
RETRY_STATUSES = frozenset({502, 503, 504})  # a gateway or the API said: not now, try again
RETRY_CODES = frozenset({"RequestInProgress"})  # the first try with this key has not finished yet


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
    url: str | None
    settings: dict[str, Any]
    activeDeploymentId: str | None
    activeReleaseId: str | None
    createdAt: str


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
    cronSchedule: NotRequired[str | None]
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


class VariablesUpdate(TypedDict):
    variables: dict[str, str]
    sealed: list[str]  # names only: a sealed value is never sent back
    deployment: Deployment | None


class ApiError(Exception):
    """The API answered with an error status; ``code`` is its ``Code`` (e.g. ``NotFound``)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class ApiConnectionError(Exception):
    """No HTTP answer at all from ``url`` (refused, DNS, timeout)."""

    def __init__(self, url: str, detail: str) -> None:
        super().__init__(f"cannot reach {url} ({detail})")
        self.url = url
        self.detail = detail


def _origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: enough to name a server without leaking a signed query."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _describe_network_error(exc: requests.RequestException) -> str:
    """A short human reason for a network failure; the urllib3 chain is too long for one line."""
    if isinstance(exc, requests.Timeout):
        return "timed out"
    text = str(exc)
    if "Connection refused" in text or "ConnectionRefused" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "unknown host"
    return type(exc).__name__


def _error_from_response(response: requests.Response) -> ApiError:
    """Build an ApiError from an error answer, whatever shape its body has."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        code = body.get("Code") or body.get("code")
        message = body.get("Message") or body.get("message")
        if code or message:
            return ApiError(response.status_code, str(code or f"HTTP{response.status_code}"), str(message))
    # Not our API's error shape (a gateway, a proxy, S3's XML): keep the start of the body.
    snippet = " ".join(response.text.split())[:200] or response.reason or "no body"
    return ApiError(response.status_code, f"HTTP{response.status_code}", snippet)


def _worth_retrying(error: ApiConnectionError | ApiError) -> bool:
    if isinstance(error, ApiConnectionError):
        return True  # no answer: the request may or may not have run; the key makes that safe
    return error.status in RETRY_STATUSES or error.code in RETRY_CODES


class RailyardClient:
    """Talks to one Railyard API with one bearer token."""

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._token = token
        self._session = session or requests.Session()
        self._session.headers["User-Agent"] = USER_AGENT
        self._sleep = sleep

    # -- plumbing -------------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        url = f"{self.api_url}{path}"
        headers = {"Authorization": f"Bearer {self._token}"}
        if idempotency_key is not None:
            headers[IDEMPOTENCY_HEADER] = idempotency_key
        try:
            response = self._session.request(
                method, url, params=params, json=body, headers=headers, timeout=API_TIMEOUT
            )
        except requests.RequestException as exc:
            raise ApiConnectionError(self.api_url, _describe_network_error(exc)) from exc
        if response.status_code >= 400:
            raise _error_from_response(response)
        if not response.content:
            return {}
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise ApiError(
                response.status_code, "InvalidResponse", f"{method} {path} did not answer a JSON object"
            )
        return data

    def _create(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """A request that creates something: one fresh Idempotency-Key, reused on every retry."""
        key = str(uuid.uuid4())
        for delay in (*RETRY_DELAYS, None):
            try:
                return self._request(method, path, body=body, idempotency_key=key)
            except (ApiConnectionError, ApiError) as error:
                if delay is None or not _worth_retrying(error):
                    raise
            self._sleep(delay)
        raise AssertionError("unreachable: the last try returns or raises")

    # -- projects, environments, services ---------------------------------------------------

    def health(self) -> dict[str, Any]:
        return self._request("GET", "/v1/health")

    def list_projects(self) -> list[Project]:
        return cast(list[Project], self._request("GET", "/v1/projects")["projects"])

    def create_project(self, name: str) -> tuple[Project, list[Environment]]:
        data = self._create("POST", "/v1/projects", body={"name": name})
        return cast(Project, data["project"]), cast(list[Environment], data["environments"])

    def get_project(self, project_id: str) -> tuple[Project, list[Environment]]:
        data = self._request("GET", f"/v1/projects/{project_id}")
        return cast(Project, data["project"]), cast(list[Environment], data["environments"])

    def list_services(self, environment_id: str) -> list[Service]:
        data = self._request("GET", f"/v1/environments/{environment_id}/services")
        return cast(list[Service], data["services"])

    def create_service(self, environment_id: str, name: str) -> Service:
        data = self._create("POST", f"/v1/environments/{environment_id}/services", body={"name": name})
        return cast(Service, data["service"])

    def get_service(self, service_id: str) -> Service:
        return cast(Service, self._request("GET", f"/v1/services/{service_id}")["service"])

    def run_cron(self, service_id: str) -> dict[str, Any]:
        return self._create("POST", f"/v1/services/{service_id}/cron/run")

    # -- source and deployments ---------------------------------------------------------------

    def create_upload(self, service_id: str) -> Upload:
        return cast(Upload, self._request("POST", f"/v1/services/{service_id}/uploads"))

    def upload_source(self, upload_url: str, tarball: bytes) -> None:
        """PUT the tarball to the presigned URL.

        A bare ``requests.put`` on purpose: the URL carries its own signature, and an
        Authorization header (or our session's) would make S3 reject the request.
        """
        try:
            response = requests.put(upload_url, data=tarball, timeout=UPLOAD_TIMEOUT)
        except requests.RequestException as exc:
            raise ApiConnectionError(_origin(upload_url), _describe_network_error(exc)) from exc
        if response.status_code >= 300:
            error = _error_from_response(response)
            raise ApiError(error.status, "UploadFailed", error.message)

    def create_deployment(
        self, service_id: str, *, source_key: str | None = None, no_cache: bool = False
    ) -> Deployment:
        """Deploy an uploaded source, or redeploy the current release when ``source_key`` is None.
        ``no_cache`` asks for a cold build (no artifact, dependency-layer or earlier-build reuse)."""
        body: dict[str, Any] = {"sourceKey": source_key} if source_key else {"redeploy": True}
        if source_key and no_cache:
            body["noCache"] = True
        data = self._create("POST", f"/v1/services/{service_id}/deployments", body=body)
        return cast(Deployment, data["deployment"])

    def list_deployments(self, service_id: str, *, limit: int | None = None) -> list[Deployment]:
        params = {"limit": limit} if limit is not None else None
        data = self._request("GET", f"/v1/services/{service_id}/deployments", params=params)
        return cast(list[Deployment], data["deployments"])

    def get_deployment(self, deployment_id: str) -> Deployment:
        return cast(Deployment, self._request("GET", f"/v1/deployments/{deployment_id}")["deployment"])

    def cancel_deployment(self, deployment_id: str) -> Deployment:
        data = self._request("POST", f"/v1/deployments/{deployment_id}/cancel")
        return cast(Deployment, data["deployment"])

    def get_logs(
        self, deployment_id: str, *, stream: str, after: int = 0, limit: int | None = None
    ) -> LogPage:
        params: dict[str, Any] = {"stream": stream, "after": after}
        if limit is not None:
            params["limit"] = limit
        data = self._request("GET", f"/v1/deployments/{deployment_id}/logs", params=params)
        return cast(LogPage, data)

    def rollback(self, service_id: str, *, deployment_id: str | None = None) -> Deployment:
        body = {"deploymentId": deployment_id} if deployment_id else {}
        data = self._create("POST", f"/v1/services/{service_id}/rollback", body=body)
        return cast(Deployment, data["deployment"])

    # -- variables --------------------------------------------------------------------------------

    def list_variables(self, service_id: str) -> dict[str, str]:
        return self.variables(service_id)[0]

    def variables(self, service_id: str) -> tuple[dict[str, str], list[str]]:
        """Plain variables with their values, and the names of the sealed ones."""
        data = self._request("GET", f"/v1/services/{service_id}/variables")
        return cast(dict[str, str], data["variables"]), cast(list[str], data.get("sealed", []))

    def update_variables(
        self,
        service_id: str,
        *,
        set_: dict[str, str] | None = None,
        unset: list[str] | None = None,
        sealed: dict[str, str] | None = None,
    ) -> VariablesUpdate:
        """One PATCH for every change, so the server makes at most one deployment of them;
        `sealed` values are stored encrypted and never shown again."""
        body: dict[str, Any] = {}
        if set_:
            body["set"] = set_
        if sealed:
            body["sealed"] = sealed
        if unset:
            body["unset"] = unset
        data = self._create("PATCH", f"/v1/services/{service_id}/variables", body=body)
        return cast(VariablesUpdate, data)
