"""Where the toolchain store lives, and which of its entries live releases still run on.

Toolchains (node, pnpm, a copied CPython ...) are public binaries, not tenant data: a release's
runtime env names their store path (PATH), and so do a venv's `pyvenv.cfg` home and the copied
interpreter's RUNPATH (pythons.py). So the store must outlive everything a clean stop removes:
- without tenant isolation it is `<data dir>/toolchains`, which nothing but `--fresh` removes;
- with isolation the tenant root (a temporary directory) is removed on every clean stop, and the
  data dir's parents are 0700, so the store is `STABLE_PARENT/toolchains-<platform key>`: one
  path per data dir, derived from it, the same after every restart (and every reboot, unlike a
  temporary directory that a tmp cleaner ages out), root's, 0755, never writable by a tenant.
  Entries are 0755 directories and 0644/0755 files (toolchains.py `_open_up`).
`remove_store` is for `--fresh`, which starts from nothing.

The store keeps TOOLCHAINS_KEPT entries, the most recently used, but never one that a release
under the tenant root still names (`pinned_keys`): evicting it would break that release's next
start. A live release is unpacked again from its artifact when the platform starts, before any
build can prune, so the pins come back with the releases.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
from pathlib import Path

from chalicelib.adapters import tenancy as tenancy_module

# Root-owned, 0755 on every Linux host, and kept across reboots.
STABLE_PARENT = Path("/var/cache/railyard")
_STORE_PREFIX = "toolchains-"
_RUNTIME_JSON = (".railyard", "runtime.json")
_RUNTIME_JSON_LIMIT = 1 << 20  # written by the platform: a few hundred bytes


def store_path(tenancy: tenancy_module.Tenancy) -> Path:
    """The toolchain store's root for this platform (see the module docstring), made if absent."""
    if not tenancy.isolate:
        return tenancy.root / "toolchains"
    path = _stable_path(tenancy.data_dir)
    for directory in (STABLE_PARENT, path):
        with contextlib.suppress(FileExistsError):
            os.mkdir(directory, 0o755)
        _check_public(directory)
    return path


def remove_store(data_dir: Path) -> None:
    """The stable store of the platform on `data_dir`, if any (`--fresh`)."""
    path = _stable_path(data_dir)
    with contextlib.suppress(OSError):
        if stat.S_ISDIR(os.lstat(path).st_mode):
            shutil.rmtree(path, ignore_errors=True)


def pinned_keys(releases: Path, store: Path) -> set[str]:
    """The store keys named on the runtime PATH of any release unpacked under `releases`."""
    prefix = str(store).rstrip(os.sep) + os.sep
    found: set[str] = set()
    try:
        names = os.listdir(releases)
    except OSError:
        return found
    for name in names:
        text = _read_no_follow(releases / name / "app", _RUNTIME_JSON)
        if text is None:
            continue
        try:
            env = json.loads(text).get("env", {})
        except (ValueError, AttributeError):
            continue
        path = env.get("PATH") if isinstance(env, dict) else None
        for entry in path.split(os.pathsep) if isinstance(path, str) else ():
            if entry.startswith(prefix):
                found.add(entry[len(prefix) :].split(os.sep, 1)[0])
    return found


def _stable_path(data_dir: Path) -> Path:
    return STABLE_PARENT / f"{_STORE_PREFIX}{tenancy_module.platform_key(data_dir)}"


def _check_public(directory: Path) -> None:
    """A real directory of this (root) process that only it can write: a store anyone else could
    write would let one tenant replace another's node."""
    info = os.lstat(directory)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or stat.S_IMODE(info.st_mode) & 0o022:
        raise RuntimeError(
            f"toolchain store: {directory} must be a directory owned by uid {os.geteuid()} that "
            "no one else can write (it holds the binaries every app runs on)"
        )
    if stat.S_IMODE(info.st_mode) != 0o755:
        os.chmod(directory, 0o755)  # the services' uids run from it


def _read_no_follow(root: Path, parts: tuple[str, ...]) -> str | None:
    """A regular file below `root`, following no symlink on the way (the app's own uid may have
    replaced any of it), or None."""
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        for part in parts[:-1]:
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = inner
        file_fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
        with open(file_fd, encoding="utf-8", errors="replace") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                return None
            return handle.read(_RUNTIME_JSON_LIMIT)
    except OSError:
        return None
    finally:
        os.close(fd)
