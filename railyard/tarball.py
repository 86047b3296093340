"""Pack an app directory into the deterministic ``.tar.gz`` that ``railyard up`` uploads.

Deterministic means: the same files with the same content and permission bits give the same bytes,
whatever their mtimes, owners or the order the filesystem lists them in. Entries are sorted by path;
every entry has mtime 0, uid/gid 0 and no user/group names; modes are normalised to 0644/0755 (the
executable bit is the only one a build cares about); the gzip header carries no name and mtime 0.
That makes re-deploying an unchanged directory upload identical bytes (cache friendly) and makes the
archive independent of the machine that packed it.

Left out: version-control and tool directories (``.git``, ``node_modules``, virtualenvs, caches),
the CLI's own files (``.railyard.json``, ``.railyard/``) and whatever ``.railyardignore`` lists.
"""

from __future__ import annotations

import fnmatch
import gzip
import io
import os
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path

# The platform's own limits (the build refuses a source above them), checked here before packing.
from chalicelib.domain.limits import MAX_SOURCE_BYTES, MAX_SOURCE_FILES

IGNORE_FILE_NAME = ".railyardignore"

# Matched against the base name of every file and directory, at any depth.
ALWAYS_EXCLUDED = (
    ".git",
    ".railyard.json",
    ".railyard",
    "node_modules",
    ".venv",
    "venv",
    "__pycache__",
    "*.pyc",
)


class TarballError(Exception):
    """The directory cannot be packed (missing, empty after exclusions, or too large)."""


@dataclass(frozen=True)
class Tarball:
    """The packed archive and what went into it."""

    data: bytes
    files: list[str]  # relative POSIX paths of the regular files and symlinks packed
    source_bytes: int  # sum of the packed files' sizes before compression


@dataclass(frozen=True)
class _IgnoreRule:
    pattern: str
    anchored: bool  # the pattern holds a "/": match the whole relative path, not just the name
    directories_only: bool  # the pattern ended with "/"

    def matches(self, relative: str, is_dir: bool) -> bool:
        if self.directories_only and not is_dir:
            return False
        if self.anchored:
            return fnmatch.fnmatchcase(relative, self.pattern)
        return fnmatch.fnmatchcase(relative.rsplit("/", 1)[-1], self.pattern)


def _parse_ignore_file(root: Path) -> list[_IgnoreRule]:
    """Rules from ``.railyardignore``: one fnmatch pattern a line, ``#`` comments, blank lines skipped.

    A subset of .gitignore people can predict: ``*.log`` matches a name at any depth,
    ``docs/*.md`` or ``/build`` match from the root, a trailing ``/`` matches directories only.
    """
    path = root / IGNORE_FILE_NAME
    if not path.is_file():
        return []
    rules = []
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        directories_only = line.endswith("/")
        line = line.rstrip("/")
        anchored = "/" in line
        line = line.lstrip("/")
        if line:
            rules.append(_IgnoreRule(line, anchored, directories_only))
    return rules


def _excluded(relative: str, is_dir: bool, rules: list[_IgnoreRule]) -> bool:
    name = relative.rsplit("/", 1)[-1]
    if any(fnmatch.fnmatchcase(name, pattern) for pattern in ALWAYS_EXCLUDED):
        return True
    return any(rule.matches(relative, is_dir) for rule in rules)


def _collect(root: Path, rules: list[_IgnoreRule]) -> list[tuple[str, Path]]:
    """Every (relative path, absolute path) to pack: directories, regular files and symlinks."""
    entries: list[tuple[str, Path]] = []
    for current, dirnames, filenames in os.walk(root):
        base = Path(current)
        prefix = base.relative_to(root).as_posix()
        prefix = "" if prefix == "." else prefix + "/"
        kept_dirs = []
        for name in dirnames:
            relative = prefix + name
            full = base / name
            if _excluded(relative, True, rules):
                continue
            if full.is_symlink():
                # os.walk does not descend into symlinked directories; pack the link itself.
                entries.append((relative, full))
            else:
                kept_dirs.append(name)
                entries.append((relative, full))
        dirnames[:] = kept_dirs  # prune: never even walk into excluded directories
        for name in filenames:
            relative = prefix + name
            if not _excluded(relative, False, rules):
                entries.append((relative, base / name))
    entries.sort(key=lambda entry: entry[0])
    return entries


def _tar_info(relative: str, full: Path) -> tarfile.TarInfo | None:
    """A normalised header for one entry, or None for things a build cannot use (sockets, FIFOs)."""
    st = full.lstat()
    info = tarfile.TarInfo(relative)
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    executable = bool(st.st_mode & 0o111)
    if stat.S_ISLNK(st.st_mode):
        info.type = tarfile.SYMTYPE
        info.linkname = os.readlink(full)
        info.mode = 0o777
    elif stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
    elif stat.S_ISREG(st.st_mode):
        info.type = tarfile.REGTYPE
        info.size = st.st_size
        info.mode = 0o755 if executable else 0o644
    else:
        return None
    return info


def pack_directory(
    directory: Path, *, max_bytes: int = MAX_SOURCE_BYTES, max_files: int = MAX_SOURCE_FILES
) -> Tarball:
    """Pack ``directory`` (its content at the archive root) into a deterministic .tar.gz; refuse
    (TarballError) a directory over the platform's source limits before reading any file."""
    root = directory.resolve()
    if not root.is_dir():
        raise TarballError(f"{directory} is not a directory")
    entries = _collect(root, _parse_ignore_file(root))
    infos = [(info, full) for relative, full in entries if (info := _tar_info(relative, full)) is not None]
    files = [info.name for info, _ in infos if not info.isdir()]
    if not files:
        raise TarballError(f"nothing to deploy: {directory} has no files (after exclusions)")
    # Check before reading anything: refusing fast beats compressing 2 GB of data to throw away.
    if len(infos) > max_files:
        raise TarballError(
            f"{directory} holds {len(infos)} files and directories to deploy, over the source limit "
            f"of {max_files}: list dependencies and build outputs in {IGNORE_FILE_NAME}"
        )
    source_bytes = sum(info.size for info, _ in infos)
    if source_bytes > max_bytes:
        raise TarballError(
            f"{directory} holds {source_bytes / 1024 / 1024:.0f} MiB to deploy, over the source limit "
            f"of {max_bytes / 1024 / 1024:.0f} MiB: list large files in {IGNORE_FILE_NAME}"
        )

    buffer = io.BytesIO()
    # filename="" and mtime=0 keep the gzip header free of the machine and the moment.
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=6) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for info, full in infos:
            if info.isreg():
                with full.open("rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)
    return Tarball(data=buffer.getvalue(), files=files, source_bytes=source_bytes)
