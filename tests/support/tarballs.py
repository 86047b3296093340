"""Source tarballs for tests: `pack` a dict of files the way `railyard up` and the build runner see
them, and hostile ones for the source-limit tests (a tar bomb, one with too many files)."""

from __future__ import annotations

import functools
import gzip
import io
import tarfile
from collections.abc import Mapping

MTIME = 1_700_000_000  # a fixed time: the same files pack to the same bytes


def pack(
    files: Mapping[str, str | bytes], *, executable: tuple[str, ...] = (), mtime: float = MTIME
) -> bytes:
    """A .tar.gz of `files` (path → text or bytes); paths in `executable` get mode 0755, others 0644."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, body in files.items():
            data = body.encode() if isinstance(body, str) else body
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = int(mtime)
            info.mode = 0o755 if name in executable else 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def tar_bomb(declared_bytes: int, data_bytes: int = 1024 * 1024) -> bytes:
    """A small .tar.gz whose one member declares `declared_bytes` (far more than it carries): what a
    reader sees of a tar bomb before it decompresses the data. Writing the header ourselves keeps
    the test from compressing gigabytes of zeros."""
    info = tarfile.TarInfo("huge.bin")
    info.size = declared_bytes
    raw = info.tobuf(format=tarfile.PAX_FORMAT) + b"\0" * data_bytes
    return gzip.compress(raw, compresslevel=1)


@functools.cache  # ~50,000 headers take seconds to write: once per session
def many_files(count: int) -> bytes:
    """A .tar.gz of `count` empty files."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as tar:
        for i in range(count):
            tar.addfile(tarfile.TarInfo(f"f{i}"))
    return buffer.getvalue()


def small_source(files: dict[str, bytes] | None = None) -> bytes:
    """A valid .tar.gz of `files` (by default one main.py)."""
    return pack(files or {"main.py": b"print('hi')\n"})
