"""File trees of a build: safe extraction of uploads and layers, sorted packing (with a layer's
bytes spliced in), the content hash of a source, hardlinked copies, and lstat fingerprints that
tell whether a build touched a tree. No policy: local.py decides what to pack and when."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import shutil
import stat
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from chalicelib.domain.errors import BuildFailed
from chalicelib.domain.limits import MAX_SOURCE_BYTES, SourceTally
from chalicelib.domain.models import NO_CACHE_VARIABLE

# Part of the artifact's cache key (content_hash): bump it when planning or packing changes so old
# artifacts are not reused.
CACHE_FORMAT = "railyard-build-v2"
# gzip level for artifacts and layers: level 9 costs ~3x the time of 6 on node_modules-sized trees
# for a few percent of size, and packing is on every non-cached build's critical path.
GZIP_LEVEL = 6


@dataclass(frozen=True)
class Entry:
    path: str  # relative, POSIX separators
    kind: str  # "f" file, "d" directory, "l" symlink
    executable: bool
    link_target: str = ""


# A tree's state as far as the artifact is concerned: path -> (mode, inode, size, mtime_ns, link).
Fingerprint = dict[str, tuple[int, int, int, int, str]]


def safe_relpath(path: str) -> str | None:
    """`path` normalised to a relative POSIX path inside the work dir, or None if it would leave
    it (deps_dirs are removed and replaced on a restore, so they must stay inside)."""
    if not path or path.startswith(("/", "~")) or "\\" in path:
        return None
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)


def write_no_follow(root: str, parts: tuple[str, ...], text: str) -> None:
    """Writes root/parts as the platform into a tree the build's uid controlled: no symlink is
    followed and the file is created anew (a link planted there fails the build, never redirects
    the write)."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
    fd = os.open(root, flags)
    try:
        for part in parts[:-1]:
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o755, dir_fd=fd)
            try:
                inner = os.open(part, flags, dir_fd=fd)
            except OSError as exc:
                raise BuildFailed(f"the build left {part!r} as something other than a directory") from exc
            os.close(fd)
            fd = inner
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):
            os.unlink(parts[-1], dir_fd=fd)
        try:
            out = os.open(parts[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=fd)
        except OSError as exc:
            raise BuildFailed(f"cannot write {'/'.join(parts)} into the build: {exc}") from exc
        with open(out, "w", encoding="utf-8") as handle:
            handle.write(text)
    finally:
        os.close(fd)


def fingerprint(root: str, paths: tuple[str, ...]) -> Fingerprint:
    """lstat of every entry at and under `paths`: enough to tell whether a build touched them."""

    def key(path: str) -> tuple[int, int, int, int, str]:
        st = os.lstat(path)
        link = os.readlink(path) if stat.S_ISLNK(st.st_mode) else ""
        return (st.st_mode, st.st_ino, st.st_size, st.st_mtime_ns, link)

    state: Fingerprint = {}
    for path in paths:
        full = os.path.join(root, *path.split("/"))
        if not os.path.lexists(full):
            continue
        state[path] = key(full)
        if os.path.isdir(full) and not os.path.islink(full):
            for entry in walk(full):
                state[f"{path}/{entry.path}"] = key(os.path.join(full, entry.path))
    return state


def changed_in_place(before: Fingerprint, after: Fingerprint) -> bool:
    """Whether a regular file kept its inode but not its content or mode: with hardlinks, the
    layer store's copy changed too. Added, removed or replaced files leave the store intact."""
    for path, (mode, ino, size, mtime, _) in before.items():
        now = after.get(path)
        if stat.S_ISREG(mode) and now is not None and now[1] == ino and now[:4] != (mode, ino, size, mtime):
            return True
    return False


def link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another filesystem, or one without hardlinks
        shutil.copy2(src, dst)


def link_tree(src_root: str, paths: tuple[str, ...], dst_root: str) -> None:
    """Recreates `paths` (files, dirs, symlinks) of src_root under dst_root, files as hardlinks."""
    for path in paths:
        src = os.path.join(src_root, *path.split("/"))
        dst = os.path.join(dst_root, *path.split("/"))
        if not os.path.lexists(src):
            continue  # an install that produced nothing there
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if os.path.islink(src):
            os.symlink(os.readlink(src), dst)
        elif os.path.isdir(src):
            shutil.copytree(src, dst, symlinks=True, copy_function=link_or_copy)
        else:
            link_or_copy(src, dst)


def remove_paths(root: str, paths: tuple[str, ...]) -> None:
    for path in paths:
        full = os.path.join(root, *path.split("/"))
        if os.path.islink(full) or os.path.isfile(full):
            os.remove(full)
        elif os.path.isdir(full):
            shutil.rmtree(full)


def pack_paths(root: str, paths: tuple[str, ...], tarball: str) -> None:
    """tar.gz of the given paths under root (those that exist), relative to root, sorted."""
    with tarfile.open(tarball, "w:gz", compresslevel=GZIP_LEVEL) as tar:
        for path in sorted(paths):
            full = os.path.join(root, *path.split("/"))
            if not os.path.lexists(full):
                continue  # an install that produced nothing there: restoring nothing is right
            tar.add(full, arcname=path, recursive=False)
            if os.path.isdir(full) and not os.path.islink(full):
                for entry in sorted(walk(full), key=lambda e: e.path):
                    tar.add(os.path.join(full, entry.path), arcname=f"{path}/{entry.path}", recursive=False)


def extract_layer(tarball: str, dest: str) -> None:
    """Like extract, for a cached layer: the same "data" filter, since the layer was produced by
    user-controlled install commands. Raises BuildFailed when it cannot be used."""
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            tar.extractall(dest, members=checked_members(tar), filter="data")
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, OSError) as exc:
        raise BuildFailed(str(exc)) from None


def checked_members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    members = tar.getmembers()
    total = sum(m.size for m in members if m.isfile())
    if total > MAX_SOURCE_BYTES:
        raise BuildFailed(
            f"the source archive expands to {total / 1024**2:.0f} MiB, more than the "
            f"{MAX_SOURCE_BYTES / 1024**2:.0f} MiB limit; exclude build outputs and dependencies"
        )
    return members


def extract(archive: str, dest: str) -> None:
    """Extracts a source tarball after counting every header against the source limits
    (SourceTally, domain/limits.py): a tar bomb fails at its first oversized header, before
    anything is written; a source over a limit fails its build with a line naming the limit."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tally = SourceTally()
            members = []
            for member in tar:  # headers one at a time: stop at the first past a limit
                tally.add(member.name, member.size if member.isfile() else 0)
                members.append(member)
            # "data" refuses absolute paths, `..`, links leaving dest and device files.
            tar.extractall(dest, members=members, filter="data")
    except tarfile.FilterError as exc:
        raise BuildFailed(f"the source archive contains an unsafe entry: {exc}") from None
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise BuildFailed(f"the source archive is not a valid .tar.gz ({exc}); upload it again") from None


def walk(root: str, prune: frozenset[str] = frozenset()) -> Iterator[Entry]:
    """Every entry under root, without following symlinks (node_modules/.bin is full of them),
    leaving out the relative paths in `prune` and everything below them."""
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        with os.scandir(os.path.join(root, rel_dir)) as entries:
            for entry in entries:
                rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
                if rel in prune:
                    continue
                if entry.is_symlink():
                    yield Entry(rel, "l", False, os.readlink(entry.path))
                elif entry.is_dir():
                    yield Entry(rel, "d", False)
                    stack.append(rel)
                elif entry.is_file():
                    mode = entry.stat(follow_symlinks=False).st_mode
                    yield Entry(rel, "f", bool(mode & stat.S_IXUSR))


def content_hash(
    root: str,
    start_command_override: str | None,
    variables: dict[str, str] | None = None,
    *,
    scope: str = "",
) -> str:
    """sha256 over the tree's content, not the tar's: same files, modes, override and build
    variables = same hash. Variables count because build commands see them (NEXT_PUBLIC_*...)."""
    digest = hashlib.sha256()

    def put(value: bytes) -> None:
        # Length-prefixed so no two different sequences of fields hash the same bytes.
        digest.update(len(value).to_bytes(8, "big"))
        digest.update(value)

    put(CACHE_FORMAT.encode())
    # Per service and environment: config files plan differently per environment
    # (environments.<name>), and one tenant's artifact must never be handed to another.
    put(scope.encode())
    put(b"" if start_command_override is None else b"=" + start_command_override.encode())
    for name, value in sorted((variables or {}).items()):
        if name != NO_CACHE_VARIABLE:  # a directive to the builder, not a build input
            put(f"{name}={value}".encode())
    for entry in sorted(walk(root), key=lambda e: e.path):
        put(entry.kind.encode())
        put(entry.path.encode("utf-8", errors="surrogateescape"))
        put(b"x" if entry.executable else b"-")
        if entry.kind == "l":
            put(entry.link_target.encode("utf-8", errors="surrogateescape"))
        elif entry.kind == "f":
            path = os.path.join(root, entry.path)
            digest.update(os.path.getsize(path).to_bytes(8, "big"))
            with open(path, "rb") as handle:
                while block := handle.read(1 << 20):
                    digest.update(block)
    return digest.hexdigest()


def pack(root: str, artifact: str, splice: tuple[tuple[str, ...], str] | None = None) -> None:
    """tar.gz of root with paths relative to it, in sorted order so equal trees pack alike.

    With `splice` = (deps dirs, a layer tarball of exactly those dirs), the dirs are not packed
    again: the artifact is the rest of the tree as one gzip member, without the end-of-archive
    blocks, followed by the layer's bytes as a second member. gzip readers (Python's tarfile,
    gunzip, `tar xzf`) read concatenated members as one stream, so this is one valid tar."""
    prune = frozenset(splice[0]) if splice else frozenset()
    # Opened first: if it has gone, nothing is written and the caller packs in full.
    layer = None if splice is None else open(splice[1], "rb")  # noqa: SIM115
    try:
        with open(artifact, "wb") as raw:
            with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=GZIP_LEVEL) as compressed:
                tar = tarfile.TarFile(fileobj=compressed, mode="w")
                for entry in sorted(walk(root, prune), key=lambda e: e.path):
                    tar.add(os.path.join(root, entry.path), arcname=entry.path, recursive=False)
                if layer is None:
                    tar.close()  # the end-of-archive blocks; with a splice, the layer's come last
            if layer is not None:
                shutil.copyfileobj(layer, raw, 1 << 20)
    finally:
        if layer is not None:
            layer.close()
