"""The source tarball `railyard up` uploads (railyard/tarball.py): deterministic, normalised,
without what .railyardignore and the defaults leave out, and refused when empty or too big."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from railyard.tarball import TarballError, pack_directory
from tests.support.cli_runs import APP_FILES, EXPECTED_PACKED, write_tree

pytestmark = pytest.mark.usefixtures("isolated_cli")


def test_tarball_is_deterministic_and_normalised(tmp_path: Path) -> None:
    first_dir, second_dir = tmp_path / "one", tmp_path / "two"
    write_tree(first_dir, APP_FILES)
    # Same content created in the opposite order, with other mtimes and permission noise.
    write_tree(second_dir, dict(reversed(list(APP_FILES.items()))))
    for path in second_dir.rglob("*"):
        os.utime(path, (1_000_000, 1_000_000))
    (second_dir / "app.py").chmod(0o664)

    first = pack_directory(first_dir)
    again = pack_directory(first_dir)
    second = pack_directory(second_dir)

    assert first.data == again.data
    assert first.data == second.data
    assert set(first.files) == EXPECTED_PACKED
    with tarfile.open(fileobj=io.BytesIO(first.data), mode="r:gz") as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == sorted(m.name for m in members)
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname) for m in members} == {(0, 0, 0, "", "")}


def test_tarball_refuses_an_empty_or_oversized_directory(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    write_tree(empty, {".git/HEAD": "x\n", "node_modules/a.js": "x\n"})
    big = tmp_path / "big"
    write_tree(big, {"blob.bin": "x" * 2048})

    with pytest.raises(TarballError, match="nothing to deploy"):
        pack_directory(empty)
    with pytest.raises(TarballError, match="limit"):
        pack_directory(big, max_bytes=1024)
