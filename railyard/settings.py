"""Where the `railyard` CLI keeps its state, and how it reads it back.

Two files, both plain JSON:

- ``$RAILYARD_HOME/config.json`` (``RAILYARD_HOME`` defaults to ``~/.railyard``), mode 0600:
  ``{"api_url": ..., "token": ...}`` with an API token (written by ``railyard login --token`` and
  by the local platform, ``railyard dev``, when it starts), and/or ``"session": {"access_token",
  "refresh_token", "session_id"}``, a person's session from ``railyard login``'s device flow, kept
  under its own key so the local platform, which re-registers whatever ``token`` holds as its
  admin token, never mistakes a session's access token for one. A session, when present, is what
  the CLI sends. The environment variables ``RAILYARD_API_URL`` and ``RAILYARD_TOKEN`` override
  the file, key by key, so CI can run without a file at all. ``"workspace_id"`` is the workspace
  ``railyard workspace use`` (or ``create``) chose, the one commands act on when none is named
  (``RAILYARD_WORKSPACE`` overrides it).
- ``<app dir>/.railyard.json``, the link of one directory to one service:
  ``{"projectId", "environmentId", "serviceId", "project", "environment", "service"}``
  (ids for the API, names for humans). Written by ``railyard init``.

This module owns only reading and writing those files; it never talks to the API.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HOME_ENV = "RAILYARD_HOME"
API_URL_ENV = "RAILYARD_API_URL"
TOKEN_ENV = "RAILYARD_TOKEN"
WORKSPACE_ENV = "RAILYARD_WORKSPACE"
CONFIG_FILE_NAME = "config.json"
SESSION_KEY = "session"
LINK_FILE_NAME = ".railyard.json"


class SettingsError(Exception):
    """A settings file exists but cannot be used (unreadable, not JSON, missing keys)."""


@dataclass(frozen=True)
class Config:
    """The API the CLI talks to and the bearer token it sends: an API token, or a session's access
    token, which then comes with the refresh token that renews it."""

    api_url: str
    token: str
    refresh_token: str | None = None

    @property
    def is_session(self) -> bool:
        return self.refresh_token is not None


@dataclass(frozen=True)
class Link:
    """The service a directory deploys to (the content of ``.railyard.json``)."""

    # Field names are the file's keys, camelCase like the API's, so the file maps 1:1.
    projectId: str
    environmentId: str
    serviceId: str
    project: str
    environment: str
    service: str

    def describe(self) -> str:
        """``project/environment/service``, the way the CLI names a link to people."""
        return f"{self.project}/{self.environment}/{self.service}"


def railyard_home() -> Path:
    """The CLI's state directory; read from the environment on every call so tests can move it."""
    configured = os.environ.get(HOME_ENV)
    return Path(configured).expanduser() if configured else Path.home() / ".railyard"


def config_path() -> Path:
    """Path of ``config.json`` (it may not exist)."""
    return railyard_home() / CONFIG_FILE_NAME


def _read_json_object(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``, or None when the file does not exist."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SettingsError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(data, dict):
        raise SettingsError(f"{path} must hold a JSON object")
    return data


def _write_json_private(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` atomically with mode 0600.

    Atomic (temp file + rename) because the local platform and ``railyard login`` may write the
    same file; 0600 because config.json holds a bearer token.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.chmod(tmp_name, 0o600)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def read_config_file() -> dict[str, Any]:
    """The raw content of ``config.json`` ({} when absent), without environment overrides."""
    return _read_json_object(config_path()) or {}


def load_config(*, environment: bool = True) -> Config | None:
    """The effective config: the file, overridden key by key by the environment.

    None when either the API URL or the token is missing from both; the caller decides how to
    tell the user (``railyard dev`` / ``railyard login``).
    """
    stored = read_config_file()
    env = os.environ if environment else {}
    api_url = env.get(API_URL_ENV) or stored.get("api_url")
    if not isinstance(api_url, str) or not api_url:
        return None
    if env.get(TOKEN_ENV):
        return Config(api_url=api_url.rstrip("/"), token=env[TOKEN_ENV])
    session = _stored_session(stored)
    if session is not None:
        return Config(api_url.rstrip("/"), session["access_token"], session["refresh_token"])
    token = stored.get("token")
    if not isinstance(token, str) or not token:
        return None
    return Config(api_url=api_url.rstrip("/"), token=token)


def _stored_session(stored: dict[str, Any]) -> dict[str, str] | None:
    session = stored.get(SESSION_KEY)
    if not isinstance(session, dict):
        return None
    if not all(isinstance(session.get(k), str) and session[k] for k in ("access_token", "refresh_token")):
        return None
    return session


def save_config(config: Config) -> Path:
    """Store ``config``'s API token in ``config.json``, keeping any other keys (a session too: the
    local platform calls this at every start, and must not sign the person out)."""
    data = read_config_file()
    data.update(api_url=config.api_url.rstrip("/"), token=config.token)
    path = config_path()
    _write_json_private(path, data)
    return path


def save_api_token(api_url: str, token: str) -> Path:
    """``railyard login --token``: this API token becomes the credential; any session is dropped."""
    data = read_config_file()
    data.pop(SESSION_KEY, None)
    data.update(api_url=api_url.rstrip("/"), token=token)
    path = config_path()
    _write_json_private(path, data)
    return path


def selected_workspace() -> str | None:
    """The workspace id ``railyard workspace use`` chose (RAILYARD_WORKSPACE overrides), if any."""
    chosen = os.environ.get(WORKSPACE_ENV) or read_config_file().get("workspace_id")
    return chosen if isinstance(chosen, str) and chosen else None


def save_workspace(workspace_id: str) -> Path:
    """Remember ``workspace_id`` in ``config.json``, keeping every other key."""
    data = read_config_file()
    data["workspace_id"] = workspace_id
    path = config_path()
    _write_json_private(path, data)
    return path


def save_session(api_url: str, access_token: str, refresh_token: str, session_id: str) -> Path:
    """``railyard login``'s device flow: the person's session becomes the credential. An API token
    the file held (the local platform's admin token) is dropped: one credential at a time."""
    data = read_config_file()
    data.pop("token", None)
    data.update(api_url=api_url.rstrip("/"))
    data[SESSION_KEY] = {
        "access_token": access_token,
        "refresh_token": refresh_token,
        "session_id": session_id,
    }
    path = config_path()
    _write_json_private(path, data)
    return path


def clear_credentials() -> Path:
    """``railyard logout``: forget the session and the API token; keep the API URL."""
    data = read_config_file()
    data.pop(SESSION_KEY, None)
    data.pop("token", None)
    path = config_path()
    if path.exists():
        _write_json_private(path, data)
    return path


@contextlib.contextmanager
def _config_lock() -> Iterator[None]:
    """An exclusive lock beside config.json, held while a session is renewed."""
    path = config_path().with_name(f".{CONFIG_FILE_NAME}.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            import fcntl
        except ImportError:  # not on a POSIX system: no lock, the rare race stays possible
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def renew_session(refresh_token: str, exchange: Callable[[str], dict[str, Any]]) -> tuple[str, str]:
    """A new (access, refresh) pair for the session whose refresh token is ``refresh_token``.

    Refresh tokens are single use and a reused one revokes its whole session (reuse detection), so
    two commands renewing at once must not both spend it: under a file lock, a command that finds
    the file already holding a newer pair takes that one; otherwise it calls ``exchange`` (POST
    /v1/auth/refresh) and saves the answer."""
    with _config_lock():
        stored = read_config_file()
        session = _stored_session(stored)
        if session is not None and session["refresh_token"] != refresh_token:
            return session["access_token"], session["refresh_token"]
        answer = exchange(refresh_token)
        access, refresh = str(answer["accessToken"]), str(answer["refreshToken"])
        if session is not None:
            session.update(access_token=access, refresh_token=refresh)
            _write_json_private(config_path(), stored)
        return access, refresh


def link_path(directory: Path) -> Path:
    """Path of the link file of ``directory`` (it may not exist)."""
    return directory / LINK_FILE_NAME


def load_link(directory: Path) -> Link | None:
    """The link of ``directory``, or None when it has not been linked with ``railyard init``."""
    path = link_path(directory)
    data = _read_json_object(path)
    if data is None:
        return None
    try:
        return Link(**{name: str(data[name]) for name in Link.__dataclass_fields__})
    except KeyError as exc:
        raise SettingsError(f"{path} lacks {exc.args[0]!r}: delete it and run `railyard init` again") from exc


def save_link(directory: Path, link: Link) -> Path:
    """Write the link file of ``directory``. It holds no secret, so ordinary permissions."""
    path = link_path(directory)
    path.write_text(json.dumps(asdict(link), indent=2) + "\n", encoding="utf-8")
    return path
