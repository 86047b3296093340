"""The layer store: dependency layers and toolchains extracted on this host, under a stable
directory, linked into work dirs instead of extracted again (see LayerStore)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
import uuid
from collections.abc import Callable, Collection, Iterator


class LayerStore:
    """Dependency layers extracted on this host, restored into work dirs as hardlinks.

    Writing thousands of small files is what makes restoring node_modules slow; a hardlink costs a
    fraction of that. An entry is `<root>/<key>/` with `tree/` (the deps dirs, extracted) and
    `layer.tar.gz` (the same layer compressed, spliced into artifacts). Entries are prepared under
    a temporary name and renamed into place, so one that exists is complete. The bucket stays the
    source of truth: an entry is a local copy, dropped whenever it may have been altered (a build
    that changes a hardlinked file in place changes the entry too), and only the `keep` most
    recently used entries are kept.

    Leftovers of builds that died (`.new-*` staging dirs, `.old-*` dirs being deleted) are pruned
    when a runner starts and before each new entry (`prune_stale`). A staging dir belongs to its
    build for as long as that build holds an exclusive flock on `<staging>.lock`, taken before
    the dir exists and released only after it is gone: the kernel releases it when the build's
    process dies, so a lock that can be taken marks a dead build's dir, never a live one's."""

    TREE = "tree"
    TARBALL = "layer.tar.gz"
    STAGING = ".new-"
    TRASH = ".old-"
    LOCK = ".lock"
    # `.old-*` dirs and lock files without a staging dir carry no owner: they are left to whoever
    # is deleting them for this long (a live build deletes its own within seconds).
    STALE_SECONDS = 600.0

    def __init__(
        self,
        root: str,
        keep: int,
        *,
        wall_clock: Callable[[], float] = time.time,
        pinned: Callable[[], Collection[str]] = frozenset,
    ) -> None:
        self._root = root
        self._keep = max(keep, 1)
        self._wall_clock = wall_clock
        self._pinned = pinned  # keys never pruned for age (still in use elsewhere)

    def path(self, key: str) -> str:
        """Where the entry for `key` is once added (a tree that names its own path needs it)."""
        return os.path.join(self._root, key)

    def get(self, key: str) -> str | None:
        path = self.path(key)
        if not os.path.isdir(path):
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # most recently used: pruned last
        return path

    def add(self, key: str, tarball: str | None, fill: Callable[[str], None]) -> str | None:
        """A new entry for `key` holding `tarball` (moved in; None for a tree with no compressed
        copy, such as an interpreter) and a tree written by `fill(dir)`, replacing any entry for
        `key`. None when a concurrent build replaced it first."""
        os.makedirs(self._root, exist_ok=True)
        self.prune_stale()
        final = os.path.join(self._root, key)
        with self._staging(key) as staging:
            fill(os.path.join(staging, self.TREE))
            if tarball is not None:
                os.replace(tarball, os.path.join(staging, self.TARBALL))
            self.evict(key)
            try:
                os.rename(staging, final)
            except OSError:
                return None  # another build put its entry there between evict and rename
        self._prune()
        return final

    @contextlib.contextmanager
    def _staging(self, key: str) -> Iterator[str]:
        """A new staging dir, owned (see the class docstring) until the block exits."""
        while True:
            staging = os.path.join(self._root, f"{self.STAGING}{key[:12]}-{uuid.uuid4().hex}")
            fd = os.open(staging + self.LOCK, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_nlink > 0:
                break
            os.close(fd)  # pruned as an orphan before we locked it: take another name
        try:
            os.mkdir(staging)
            yield staging
        finally:
            shutil.rmtree(staging, ignore_errors=True)  # gone already after a successful rename
            with contextlib.suppress(OSError):
                os.unlink(staging + self.LOCK)
            os.close(fd)

    def prune_stale(self) -> None:
        """Removes what dead builds left: staging dirs whose lock is free, and `.old-*` dirs and
        orphaned lock files older than STALE_SECONDS. Never touches a live build's staging dir."""
        try:
            with os.scandir(self._root) as found:
                names = [e.name for e in found]
        except OSError:
            return
        now = self._wall_clock()
        for name in names:
            path = os.path.join(self._root, name)
            if name.startswith(self.STAGING) and not name.endswith(self.LOCK):
                self._prune_staging(path)
            elif name.startswith(self.TRASH) or (name.startswith(self.STAGING) and name.endswith(self.LOCK)):
                if name.endswith(self.LOCK) and name.removesuffix(self.LOCK) in names:
                    continue  # the staging dir's own lock: handled with the dir
                try:
                    age = now - os.lstat(path).st_mtime
                except OSError:
                    continue
                if age < self.STALE_SECONDS:
                    continue
                if name.endswith(self.LOCK):
                    self._remove_free_lock(path)
                else:
                    self._discard(path)

    def _prune_staging(self, path: str) -> None:
        try:
            fd = os.open(path + self.LOCK, os.O_RDWR)
        except FileNotFoundError:
            # No lock file: a build owns its lock file before its dir exists and until the dir is
            # gone, so this dir has no owner (a crash mid-cleanup, or an older runner's).
            self._discard(path)
            return
        except OSError:
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return  # held: a build in progress
            self._discard(path)
            with contextlib.suppress(OSError):
                os.unlink(path + self.LOCK)
        finally:
            os.close(fd)

    def _remove_free_lock(self, path: str) -> None:
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.unlink(path)
        except OSError:
            pass  # held, or gone
        finally:
            os.close(fd)

    def evict(self, key: str) -> None:
        self._discard(os.path.join(self._root, key))

    def _discard(self, path: str) -> None:
        # Renamed away first, so no build can start linking from a half-deleted entry (and two
        # pruners never delete the same dir: only one rename succeeds).
        trash = os.path.join(self._root, f"{self.TRASH}{uuid.uuid4().hex}")
        try:
            os.rename(path, trash)
        except OSError:
            return  # not there (or already being discarded)
        shutil.rmtree(trash, ignore_errors=True)

    def _prune(self) -> None:
        try:
            with os.scandir(self._root) as found:
                entries = [(e.stat().st_mtime, e.path) for e in found if not e.name.startswith(".")]
        except OSError:
            return
        in_use = set(self._pinned())
        for _, path in sorted(entries, reverse=True)[self._keep :]:
            if os.path.basename(path) not in in_use:
                self._discard(path)
