"""The local runtime's release directories: `<tenant root>/releases/{release_id}/app`, unpacked once
per release from its artifact (atomic rename; the tenant root is the data dir unless the platform
isolates tenants: tenancy.py), deleted when retention prunes the release, and the environment the
artifact adds through `.railyard/runtime.json`.

Artifact contract (written by the build runner): the tar root is the app's working directory; an
optional `.railyard/runtime.json` = `{"env": {"NAME": "value"}}` adds environment variables, where
`{app}` becomes the absolute app directory and `{PATH}` the PATH user code gets. A `.venv` in it
is moved to the app directory's path when unpacked (chalicelib/adapters/venvs.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import stat
import tarfile
import tempfile
from pathlib import Path

from chalicelib.adapters import tenancy, venvs
from chalicelib.adapters.runtime.local_processes import LINE_LIMIT, SharedLog
from chalicelib.adapters.runtime.local_releases import Sandbox
from chalicelib.domain.errors import BadRequest
from chalicelib.domain.ports import BlobStore, ReleaseSpec

_RELEASE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_RUNTIME_JSON = Path(".railyard") / "runtime.json"
# Release directories being deleted (forget_release); never a release id, which starts alphanumeric.
_TRASH_PREFIX = ".forgotten-"


class ReleaseDirs:
    """The unpacked releases of one runtime, below its tenancy's releases directory."""

    def __init__(self, owner: tenancy.Tenancy, blobs: BlobStore, artifact_bucket: str) -> None:
        self._tenancy = owner
        self._blobs = blobs
        self._artifact_bucket = artifact_bucket

    def trash(self, release_dir: Path) -> None:
        """Renames a release directory away (call with the runtime's lock held): nothing ever sees
        half of it; `empty_trash` deletes it later, outside the lock."""
        trash = release_dir.parent / f"{_TRASH_PREFIX}{release_dir.name}-{os.urandom(6).hex()}"
        with contextlib.suppress(FileNotFoundError):
            os.rename(release_dir, trash)

    def empty_trash(self) -> None:
        """Deletes renamed-away release directories, also those a crash left half-deleted."""
        for trash in self._tenancy.releases.glob(f"{_TRASH_PREFIX}*"):
            shutil.rmtree(trash, ignore_errors=True)

    def path(self, release_id: str) -> Path:
        if not _RELEASE_ID.match(release_id):
            raise BadRequest(f"release id {release_id!r} cannot name a directory")
        return self._tenancy.releases / release_id

    def unpack(self, spec: ReleaseSpec, log: SharedLog) -> Path:
        """Unpack the artifact once per release; a second activation reuses it."""
        release_dir = self.path(spec.release_id)
        app_dir = release_dir / "app"
        sandbox = Sandbox.of(self._tenancy, spec.service_id)
        release_dir.mkdir(parents=True, exist_ok=True)
        # The platform's (the service lists it, never replaces `app`); `app` is the service's.
        # Also on reuse: a tenant root kept from an earlier version has the old modes.
        self._tenancy.private_dir(release_dir, sandbox.identity)
        if app_dir.is_dir():
            log.write(f"reusing unpacked release {spec.release_id}")
            sandbox.take(app_dir)
            return app_dir
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=release_dir))
        try:
            log.write(f"downloading artifact {spec.artifact_key}")
            archive = staging / "artifact.tar.gz"
            self._blobs.download_file(self._artifact_bucket, spec.artifact_key, str(archive))
            unpacked = staging / "app"
            unpacked.mkdir()
            try:
                with tarfile.open(archive, "r:*") as tar:
                    tar.extractall(unpacked, filter="data")  # refuses absolute paths, escapes, devices
            except (tarfile.TarError, OSError) as exc:
                raise BadRequest(f"artifact {spec.artifact_key} cannot be unpacked: {exc}") from None
            # Its virtualenv names the build's directory; fixed while the tree is still the platform's.
            venvs.relocate(str(unpacked), str(app_dir))
            sandbox.take(unpacked)
            try:
                os.rename(unpacked, app_dir)  # atomic: nobody ever sees a half-unpacked app
            except OSError:
                if not app_dir.is_dir():  # else a concurrent activation unpacked it first
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return app_dir


def read_runtime_env(app_dir: Path, path: str) -> dict[str, str]:
    text = _read_no_follow(app_dir, _RUNTIME_JSON)
    if text is None:
        return {}
    try:
        env = json.loads(text).get("env", {})
    except (ValueError, AttributeError) as exc:
        raise BadRequest(f"artifact {_RUNTIME_JSON} is malformed: {exc}") from None
    well_formed = isinstance(env, dict) and all(isinstance(v, str) for v in env.values())
    if not well_formed:
        raise BadRequest(f'artifact {_RUNTIME_JSON} must be {{"env": {{"NAME": "value"}}}}')
    return {name: value.replace("{app}", str(app_dir)).replace("{PATH}", path) for name, value in env.items()}


def _read_no_follow(root: Path, relative: Path) -> str | None:
    """A regular file below `root` without following a symlink on the way: the app (its own
    uid) may have replaced any of it, and the platform must not read another file for it."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in relative.parts[:-1]:
            try:
                inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except OSError:
                return None
            os.close(fd)
            fd = inner
        try:
            file_fd = os.open(relative.parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
        except OSError:
            return None
        with open(file_fd, encoding="utf-8") as file:
            if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
                return None
            return file.read(LINE_LIMIT * 16)
    finally:
        os.close(fd)
