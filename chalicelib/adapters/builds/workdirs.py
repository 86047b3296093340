"""Work directories of local builds, and removing the ones that builds which died left behind.

A build works in `<root>/<deployment id>/` and owns it through an exclusive flock on
`<root>/<deployment id>.lock`, taken before the directory is (re)made and released only after it is
gone. The kernel releases a flock when its process dies, so a directory whose lock can be taken
belongs to no running build: a crash or a SIGKILL mid-build left it, and `prune_stale` removes it.
A running build's directory is never touched, whichever process (or runner) runs it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
from collections.abc import Callable

LOCK_SUFFIX = ".lock"
RETRY_SECONDS = 0.2  # while another attempt of the same build holds its directory


class WorkDirs:
    def __init__(self, root: str) -> None:
        self.root = root

    def path(self, deployment_id: str) -> str:
        return os.path.join(self.root, deployment_id)

    def own(self, deployment_id: str, waiting: Callable[[], None]) -> int:
        """Takes the directory's lock; returns its descriptor for `release`. While another attempt
        of the same build holds it (a message delivered twice), calls `waiting()` between tries:
        it heartbeats, and raises to give up (cancelled, timed out)."""
        os.makedirs(self.root, exist_ok=True)
        lock = self.path(deployment_id) + LOCK_SUFFIX
        while True:
            fd = _lock(lock, create=True)
            if fd is not None:
                return fd
            waiting()
            time.sleep(RETRY_SECONDS)

    def release(self, deployment_id: str, fd: int) -> None:
        """Removes the directory, then the lock file, then lets go of the lock."""
        path = self.path(deployment_id)
        shutil.rmtree(path, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path + LOCK_SUFFIX)
        os.close(fd)

    def prune_stale(self) -> list[str]:
        """Removes the directories (and lock files) of builds that are not running. Returns the
        deployment ids whose directories went."""
        try:
            names = set(os.listdir(self.root))
        except OSError:
            return []
        removed = []
        for name in sorted(names):
            if name.endswith(LOCK_SUFFIX):
                if name.removesuffix(LOCK_SUFFIX) not in names:  # a lock whose directory is gone
                    fd = _lock(os.path.join(self.root, name), create=False)
                    if fd is not None:
                        self.release(name.removesuffix(LOCK_SUFFIX), fd)
                continue
            fd = _lock(self.path(name) + LOCK_SUFFIX, create=True)
            if fd is None:
                continue  # a running build's
            self.release(name, fd)
            removed.append(name)
        return removed


def _lock(path: str, create: bool) -> int | None:
    """An exclusive flock on `path`, or None when someone holds it (or it is gone). A lock file
    unlinked between our open and our flock is its last owner's; its next owner makes a new one."""
    try:
        fd = os.open(path, os.O_RDWR | (os.O_CREAT if create else 0), 0o600)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    if os.fstat(fd).st_nlink == 0:
        os.close(fd)
        return _lock(path, create) if create else None
    return fd
