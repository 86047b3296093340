"""How the CLI's API client talks HTTP: one session and bearer token, errors, retries, renewal.

Errors:

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
from typing import Any

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


def describe_network_error(exc: requests.RequestException) -> str:
    """A short human reason for a network failure; the urllib3 chain is too long for one line."""
    if isinstance(exc, requests.Timeout):
        return "timed out"
    text = str(exc)
    if "Connection refused" in text or "ConnectionRefused" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "unknown host"
    return type(exc).__name__


def error_from_response(response: requests.Response) -> ApiError:
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


class ApiTransport:
    """Requests to one Railyard API with one bearer token; RailyardClient adds one method per route."""

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

    @property
    def token(self) -> str:
        """The bearer token in use (a renewed access token after a refresh)."""
        return self._token

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        authenticated: bool = True,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        try:
            return self._send(method, path, params, body, idempotency_key, authenticated, headers)
        except ApiError as error:
            if error.status != 401 or not authenticated or self._refresh_token is None:
                raise
        self._refresh()
        return self._send(method, path, params, body, idempotency_key, authenticated, headers)

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
        extra: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        url = f"{self.api_url}{path}"
        headers = {"Authorization": f"Bearer {self._token}"} if authenticated and self._token else {}
        headers.update(extra or {})
        if idempotency_key is not None:
            headers[IDEMPOTENCY_HEADER] = idempotency_key
        try:
            response = self._session.request(
                method, url, params=params, json=body, headers=headers, timeout=API_TIMEOUT
            )
        except requests.RequestException as exc:
            raise ApiConnectionError(self.api_url, describe_network_error(exc)) from exc
        if response.status_code >= 400:
            raise error_from_response(response)
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
