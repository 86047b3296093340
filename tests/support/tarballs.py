"""Hostile source tarballs for the source-limit tests: a tar bomb and one with too many files."""

from __future__ import annotations

import functools
import gzip
import io
import tarfile


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
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, body in (files or {"main.py": b"print('hi')\n"}).items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return buffer.getvalue()
