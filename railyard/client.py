"""A small typed client for the Railyard HTTP API (docs/api.md), used by the CLI.

One method per route the CLI needs; each returns the documented JSON shape as a TypedDict
(railyard/client_shapes.py). How requests are sent, retried and authenticated, and the errors they
raise (``ApiError``, ``ApiConnectionError``), is railyard/client_transport.py.
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import urlsplit

import requests

from railyard.client_shapes import (
    Deployment,
    DeviceAuthorization,
    Environment,
    LogPage,
    Project,
    Service,
    SessionTokens,
    Upload,
    VariablesUpdate,
    Whoami,
)
from railyard.client_transport import (
    UPLOAD_TIMEOUT,
    USER_AGENT,
    ApiConnectionError,
    ApiError,
    ApiTransport,
    describe_network_error,
    error_from_response,
)


def _size(count: int) -> str:
    return f"{count} bytes" if count < 1024**2 else f"{count / 1024**2:.1f} MiB"


def _origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: enough to name a server without leaking a signed query."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class RailyardClient(ApiTransport):
    """Talks to one Railyard API with one bearer token: one method per route."""

    @classmethod
    def for_config(cls, config: Any) -> RailyardClient:
        """The client of a ``railyard.settings.Config``: a session renews itself and saves the pair."""
        from railyard.settings import renew_session

        return cls(config.api_url, config.token, refresh_token=config.refresh_token, renew=renew_session)

    # -- projects, environments, services ---------------------------------------------------

    def health(self) -> dict[str, Any]:
        return self._request("GET", "/v1/health")

    # -- signing in -------------------------------------------------------------------------------

    def whoami(self) -> Whoami:
        return cast(Whoami, self._request("GET", "/v1/whoami")["whoami"])

    def start_device_sign_in(self) -> DeviceAuthorization:
        """A code pair. The request names this machine (its system and host name) in its User-Agent:
        the approval page shows it, so the person approving can tell it is their terminal."""
        import platform

        machine = f"{USER_AGENT} ({platform.system()}; {platform.node() or 'unknown host'})"
        data = self._request(
            "POST", "/v1/auth/device/code", authenticated=False, headers={"User-Agent": machine}
        )
        return cast(DeviceAuthorization, data)

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

    # Environments (ADR 0036): the answers' shapes are docs/api.md's; the CLI reads a few keys.
    def list_environments(self, project_id: str) -> list[Environment]:
        data = self._request("GET", f"/v1/projects/{project_id}/environments")
        return cast(list[Environment], data["environments"])

    def create_environment(self, project_id: str, name: str, copy_from: str | None = None) -> dict[str, Any]:
        body = {"name": name, **({"copyFrom": copy_from} if copy_from else {})}
        return self._create("POST", f"/v1/projects/{project_id}/environments", body=body)

    def delete_environment(self, environment_id: str, confirm: str) -> dict[str, Any]:
        return self._request("DELETE", f"/v1/environments/{environment_id}", params={"confirm": confirm})

    def promote(self, environment_id: str, source: str, service: str | None = None) -> dict[str, Any]:
        body = {"from": source, **({"service": service} if service else {})}
        return self._create("POST", f"/v1/environments/{environment_id}/promote", body=body)

    def update_service_settings(self, service_id: str, settings: dict[str, Any]) -> Service:
        data = self._request("PATCH", f"/v1/services/{service_id}", body={"settings": settings})
        return cast(Service, data["service"])

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

    def project_metrics(self, project_id: str, params: dict[str, Any]) -> dict[str, Any]:
        """Deployment metrics (`days`, and `environmentId` or `serviceId` to narrow them)."""
        return self._request("GET", f"/v1/projects/{project_id}/metrics", params=params)

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
            raise ApiConnectionError(_origin(upload_url), describe_network_error(exc)) from exc
        if response.status_code >= 300:
            error = error_from_response(response)
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
        return self.rollback_with_changes(service_id, deployment_id=deployment_id)[0]

    def rollback_with_changes(
        self, service_id: str, *, deployment_id: str | None = None
    ) -> tuple[Deployment, list[str] | None]:
        """The rollback deployment and the variables whose values it changes (None: not told)."""
        body = {"deploymentId": deployment_id} if deployment_id else {}
        data = self._create("POST", f"/v1/services/{service_id}/rollback", body=body)
        return cast(Deployment, data["deployment"]), data.get("variablesChanged")

    def rollback_preview(
        self, service_id: str, *, deployment_id: str | None = None
    ) -> tuple[int, list[str] | None]:
        """The release number a rollback would run and the variables whose values it would change
        (None: not told); it makes nothing (GET .../rollback)."""
        params = {"deploymentId": deployment_id} if deployment_id else None
        data = self._request("GET", f"/v1/services/{service_id}/rollback", params=params)
        return int(data["release"]["number"]), data.get("variablesChanged")

    # -- variables --------------------------------------------------------------------------------

    def list_variables(self, service_id: str) -> dict[str, str]:
        return self.variables(service_id)[0]

    def variables(self, service_id: str) -> tuple[dict[str, str], list[str]]:
        """Plain variables with their values, and the names of the sealed ones."""
        data = self._request("GET", f"/v1/services/{service_id}/variables")
        return cast(dict[str, str], data["variables"]), cast(list[str], data.get("sealed", []))

    def shared_variables(self, environment_id: str) -> tuple[dict[str, str], list[str]]:
        """The environment's shared plain variables, and the names of the sealed ones."""
        data = self._request("GET", f"/v1/environments/{environment_id}/variables")
        return cast(dict[str, str], data["variables"]), cast(list[str], data.get("sealed", []))

    def update_shared_variables(
        self, environment_id: str, body: dict[str, Any]
    ) -> tuple[dict[str, str], list[str]]:
        data = self._create("PATCH", f"/v1/environments/{environment_id}/variables", body=body)
        return cast(dict[str, str], data["variables"]), cast(list[str], data.get("sealed", []))

    def resolved_variables(self, service_id: str) -> dict[str, Any]:
        """What a deployment made now would run with (GET .../variables/resolved, docs/api.md)."""
        return self._request("GET", f"/v1/services/{service_id}/variables/resolved")

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
