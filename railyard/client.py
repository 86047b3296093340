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

A client made from a person's session (``refresh_token`` given) renews an expired access token
once, transparently: on a 401 it sends the refresh token to ``POST /v1/auth/refresh``, keeps the
new pair (through ``renew``, which also saves it: ``railyard.settings.renew_session``) and repeats
the request. A refresh that fails is ``ApiError(401, "SessionExpired", ...)``.
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
REFRESH_PATH = "/v1/auth/refresh"
# renew(refresh token, exchange) -> (access, refresh); exchange posts to REFRESH_PATH.
Renew = Callable[[str, Callable[[str], dict[str, Any]]], tuple[str, str]]


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


def _size(count: int) -> str:
    return f"{count} bytes" if count < 1024**2 else f"{count / 1024**2:.1f} MiB"


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
        refresh_token: str | None = None,
        renew: Renew | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._token = token
        self._session = session or requests.Session()
        self._session.headers["User-Agent"] = USER_AGENT
        self._sleep = sleep
        self._refresh_token = refresh_token
        self._renew = renew

    @classmethod
    def for_config(cls, config: Any) -> RailyardClient:
        """The client of a ``railyard.settings.Config``: a session renews itself and saves the pair."""
        from railyard.settings import renew_session

        return cls(config.api_url, config.token, refresh_token=config.refresh_token, renew=renew_session)

    @property
    def token(self) -> str:
        """The bearer token in use (a renewed access token after a refresh)."""
        return self._token

    # -- plumbing -------------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        authenticated: bool = True,
    ) -> dict[str, Any]:
        try:
            return self._send(method, path, params, body, idempotency_key, authenticated)
        except ApiError as error:
            if error.status != 401 or not authenticated or self._refresh_token is None:
                raise
        self._refresh()
        return self._send(method, path, params, body, idempotency_key, authenticated)

    def _refresh(self) -> None:
        assert self._refresh_token is not None

        def exchange(refresh_token: str) -> dict[str, Any]:
            return self._send("POST", REFRESH_PATH, None, {"refreshToken": refresh_token}, None, False)

        try:
            if self._renew is not None:
                self._token, self._refresh_token = self._renew(self._refresh_token, exchange)
            else:
                answer = exchange(self._refresh_token)
                self._token, self._refresh_token = answer["accessToken"], answer["refreshToken"]
        except ApiError as error:
            if error.status not in (400, 401, 403, 404):
                raise
            raise ApiError(
                401, "SessionExpired", f"your session ended ({error.message}): run `railyard login`"
            ) from error

    def _send(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None,
        body: dict[str, Any] | None,
        idempotency_key: str | None,
        authenticated: bool,
    ) -> dict[str, Any]:
        url = f"{self.api_url}{path}"
        headers = {"Authorization": f"Bearer {self._token}"} if authenticated and self._token else {}
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

    # -- signing in -------------------------------------------------------------------------------

    def whoami(self) -> Whoami:
        return cast(Whoami, self._request("GET", "/v1/whoami")["whoami"])

    def start_device_sign_in(self) -> DeviceAuthorization:
        return cast(DeviceAuthorization, self._request("POST", "/v1/auth/device/code", authenticated=False))

    def poll_device_sign_in(self, device_code: str) -> SessionTokens:
        """The session once approved; until then ApiError 400 AuthorizationPending / SlowDown /
        ExpiredToken / AccessDenied (RFC 8628)."""
        data = self._request(
            "POST", "/v1/auth/device/token", body={"deviceCode": device_code}, authenticated=False
        )
        return cast(SessionTokens, data)

    def approve_device_sign_in(self, user_code: str, *, approve: bool = True) -> dict[str, Any]:
        return self._request(
            "POST", "/v1/auth/device/approve", body={"userCode": user_code, "approve": approve}
        )

    def logout(self) -> None:
        """Ends this session on the server (its refresh tokens stop working)."""
        self._request("POST", "/v1/auth/logout", body={"refreshToken": self._refresh_token})

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

    def upload_source(self, upload: Upload, tarball: bytes) -> None:
        """POST the tarball as multipart form data with the presigned fields (a PUT to the URL for
        an older server that gives no fields). Refuses before sending when the tarball is above
        the server's ``maxBytes``: S3 would only refuse it after the whole upload.

        Bare ``requests`` calls on purpose: the fields (or the URL) carry their own signature, and
        an Authorization header (or our session's) would make S3 reject the request.
        """
        from railyard.tarball import TarballError

        limit = upload.get("maxBytes")
        if limit is not None and len(tarball) > limit:
            raise TarballError(
                f"the packed source is {_size(len(tarball))}, over this Railyard's upload limit of "
                f"{_size(limit)} (RAILYARD_MAX_UPLOAD_BYTES): list large files in .railyardignore"
            )
        upload_url, fields = upload["uploadUrl"], upload.get("uploadFields")
        try:
            if fields is None:
                response = requests.put(upload_url, data=tarball, timeout=UPLOAD_TIMEOUT)
            else:
                # S3 reads the form fields first and the file last; requests sends `data` first.
                file = {"file": ("source.tar.gz", tarball, "application/gzip")}
                response = requests.post(upload_url, data=fields, files=file, timeout=UPLOAD_TIMEOUT)
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
