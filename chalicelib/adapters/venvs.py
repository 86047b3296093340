"""Moving an app's virtualenv (`.venv`) from the directory it was installed in to another one.

A virtualenv names the absolute path it was installed at: console scripts start with
`#!<app>/.venv/bin/python`, `activate` sets VIRTUAL_ENV to it, editable installs write it into
`.pth` files and `__editable__` finders. The local platform installs in a build's work directory
(`builds/<deployment>/src`), restores a cached dependency layer into another build's work directory,
and runs a release from `releases/<release>/app`; the image renderings build and run in /app alike
and need none of this. So the build runner records, inside the venv, the app directory its paths
name (`mark`), and whoever puts a venv somewhere else rewrites those paths (`relocate`): the build
runner after restoring a layer, the runtime after unpacking a release, each before the tree is
handed to the service's uid. Only the files that hold such paths are looked at (pyvenv.cfg, bin/,
the top level of site-packages), nothing is followed through a symlink, and a changed file is
written anew and renamed into place: a restored layer's files are hardlinks into the layer store,
which must not change (docs/decisions/0032-a-virtualenv-per-release.md).
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import uuid
from collections.abc import Iterator

VENV_DIR = ".venv"
MARKER = ".railyard-app-dir"  # in the venv: the absolute app directory its paths name
# Scripts and .pth files are small; anything larger is not one of them.
_MAX_REWRITTEN_BYTES = 1 << 20
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
_SITE_PACKAGES_FILES = re.compile(r"(\.pth|^__editable__.*\.py)$")


def mark(app_dir: str) -> bool:
    """Records `app_dir` in its venv, if it has one (a directory holding pyvenv.cfg); True then."""
    with _venv(app_dir) as venv:
        if venv is None or _read(venv, "pyvenv.cfg") is None:
            return False
        _write(venv, MARKER, app_dir.encode())
        return True


def relocate(tree: str, app_dir: str) -> bool:
    """Rewrites the venv in `tree` (which will be, or is, at `app_dir`) to name `app_dir` instead
    of the directory recorded by `mark`. False when the base interpreter it was made from (the
    toolchain store's copy, pyvenv.cfg's `home`) is gone: such a venv cannot run anywhere. True
    otherwise, including when there is no venv or nothing to change."""
    with _venv(tree) as venv:
        if venv is None:
            return True
        recorded = _read(venv, MARKER)
        if recorded is None:
            return True
        old = recorded.decode("utf-8", errors="surrogateescape")
        if old != app_dir and os.path.isabs(old):
            pattern = re.compile(re.escape(old.encode()) + rb"(?=[/\s'\"]|$)", re.M)
            new = app_dir.encode()
            _rewrite_file(venv, "pyvenv.cfg", pattern, new)
            for directory, names in _files_holding_paths(venv):
                for name in names:
                    _rewrite_entry(directory, name, pattern, new)
                if directory != venv:
                    os.close(directory)
            _write(venv, MARKER, new)
        return _base_exists(_read(venv, "pyvenv.cfg") or b"")


def _base_exists(config: bytes) -> bool:
    """Whether the interpreter pyvenv.cfg's `home` names is there (a venv's stdlib is its)."""
    for line in config.decode("utf-8", errors="replace").splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "home":
            return os.path.isdir(value.strip())
    return True


@contextlib.contextmanager
def _venv(root: str) -> Iterator[int | None]:
    """A descriptor of `root/.venv` when it is a real directory, else None."""
    try:
        fd = os.open(os.path.join(root, VENV_DIR), _DIR_FLAGS)
    except OSError:
        yield None
        return
    try:
        yield fd
    finally:
        os.close(fd)


def _files_holding_paths(venv: int) -> Iterator[tuple[int, list[str]]]:
    """(directory fd, names) of bin/ and of each lib/pythonX.Y/site-packages/."""
    bin_dir = _open_dir(venv, "bin")
    if bin_dir is not None:
        yield bin_dir, os.listdir(bin_dir)
    lib = _open_dir(venv, "lib")
    if lib is None:
        return
    try:
        for version in os.listdir(lib):
            if not version.startswith("python"):
                continue
            stdlib = _open_dir(lib, version)
            if stdlib is None:
                continue
            site = _open_dir(stdlib, "site-packages")
            os.close(stdlib)
            if site is not None:
                yield site, [name for name in os.listdir(site) if _SITE_PACKAGES_FILES.search(name)]
    finally:
        os.close(lib)


def _open_dir(parent: int, name: str) -> int | None:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent)
    except OSError:
        return None


def _rewrite_entry(directory: int, name: str, pattern: re.Pattern[bytes], new: bytes) -> None:
    try:
        info = os.stat(name, dir_fd=directory, follow_symlinks=False)
    except OSError:
        return
    if stat.S_ISLNK(info.st_mode):
        target = os.readlink(name, dir_fd=directory)
        changed = pattern.sub(lambda _: new, target.encode())
        if changed != target.encode():
            temporary = f".{name}.{uuid.uuid4().hex}"
            os.symlink(changed.decode(), temporary, dir_fd=directory)
            os.replace(temporary, name, src_dir_fd=directory, dst_dir_fd=directory)
    elif stat.S_ISREG(info.st_mode):
        _rewrite_file(directory, name, pattern, new)


def _rewrite_file(directory: int, name: str, pattern: re.Pattern[bytes], new: bytes) -> None:
    content = _read(directory, name)
    if content is None or b"\0" in content:
        return  # absent, not a regular file, too large, or binary (an ELF executable)
    changed = pattern.sub(lambda _: new, content)
    if changed != content:
        mode = stat.S_IMODE(os.stat(name, dir_fd=directory, follow_symlinks=False).st_mode)
        _write(directory, name, changed, mode)


def _read(directory: int, name: str) -> bytes | None:
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=directory)
    except OSError:
        return None
    with open(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > _MAX_REWRITTEN_BYTES:
            return None
        return handle.read()


def _write(directory: int, name: str, content: bytes, mode: int = 0o644) -> None:
    """Writes a new file and renames it over `name`: never through a link, never into a hardlink."""
    temporary = f".{name}.{uuid.uuid4().hex}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode, dir_fd=directory)
    try:
        with open(fd, "wb") as handle:
            handle.write(content)
            os.fchmod(handle.fileno(), mode)  # the umask may have cut it
        os.replace(temporary, name, src_dir_fd=directory, dst_dir_fd=directory)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary, dir_fd=directory)
        raise
