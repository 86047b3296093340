"""Moving a virtualenv (chalicelib/adapters/venvs.py) on real files: the paths it names follow it,
a hardlinked file (a restored layer's) is replaced, never changed in place, and nothing is written
through a symlink a build planted."""

from __future__ import annotations

import os
from pathlib import Path

from chalicelib.adapters import venvs


def venv_at(app: Path) -> Path:
    """A venv-shaped tree installed at `app`, as pip and setuptools leave one."""
    venv = app / ".venv"
    (venv / "bin").mkdir(parents=True)
    site = venv / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text(f"home = /store/bin\ncommand = /store/bin/python3 -m venv {venv}\n")
    (venv / "bin" / "python").write_text("binary\0stand-in")  # an executable: never rewritten
    (venv / "bin" / "gunicorn").write_text(f"#!{venv}/bin/python\nimport gunicorn\n")
    (venv / "bin" / "gunicorn").chmod(0o755)
    (venv / "bin" / "activate").write_text(f"VIRTUAL_ENV='{venv}'\n")
    (site / "__editable__.lib-1.0.pth").write_text(f"{app}/libs/lib\n")
    (site / "__editable___lib_1_0_finder.py").write_text(f"MAPPING = {{'lib': '{app}/libs/lib/lib'}}\n")
    (site / "other.pth").write_text(f"{app}2/elsewhere\n")  # another directory sharing the prefix
    assert venvs.mark(str(app))
    return venv


def test_a_moved_venv_names_its_new_directory(tmp_path: Path) -> None:
    built, moved = tmp_path / "builds" / "dep_1" / "src", tmp_path / "releases" / "rel_1" / "app"
    venv_at(built)
    os.renames(built, moved)

    assert venvs.relocate(str(moved), str(moved)) is False  # `home` (/store/bin) is not there ...
    venv = moved / ".venv"
    # ... but every path was rewritten all the same
    assert (venv / "bin" / "gunicorn").read_text().startswith(f"#!{venv}/bin/python\n")
    assert os.access(venv / "bin" / "gunicorn", os.X_OK)
    assert (venv / "bin" / "activate").read_text() == f"VIRTUAL_ENV='{venv}'\n"
    assert f"-m venv {venv}\n" in (venv / "pyvenv.cfg").read_text()
    site = venv / "lib" / "python3.11" / "site-packages"
    assert (site / "__editable__.lib-1.0.pth").read_text() == f"{moved}/libs/lib\n"
    assert f"'{moved}/libs/lib/lib'" in (site / "__editable___lib_1_0_finder.py").read_text()
    assert (site / "other.pth").read_text() == f"{built}2/elsewhere\n"  # not a path of the venv's app
    assert (venv / "bin" / "python").read_bytes() == b"binary\0stand-in"
    assert (venv / venvs.MARKER).read_text() == str(moved)


def test_hardlinked_files_are_replaced_and_symlinks_are_not_followed(tmp_path: Path) -> None:
    built, restored = tmp_path / "first" / "src", tmp_path / "second" / "src"
    venv_at(built)
    # GIVEN a restored copy made of hardlinks (the layer store), with a planted link outside
    for parent, _, files in os.walk(built):
        target = restored / Path(parent).relative_to(built)
        target.mkdir(parents=True, exist_ok=True)
        for name in files:
            os.link(Path(parent) / name, target / name)
    outside = tmp_path / "outside.pth"
    outside.write_text(f"{built}/x\n")
    (restored / ".venv" / "lib" / "python3.11" / "site-packages" / "planted.pth").symlink_to(outside)

    venvs.relocate(str(restored), str(restored))

    # THEN the restored copy is moved, the original (the store's copy) and the outside file are not
    assert (restored / ".venv" / "bin" / "gunicorn").read_text().startswith(f"#!{restored}/.venv/bin/python")
    assert (built / ".venv" / "bin" / "gunicorn").read_text().startswith(f"#!{built}/.venv/bin/python")
    assert outside.read_text() == f"{built}/x\n"


def test_a_tree_without_a_venv_or_without_a_mark_is_left_alone(tmp_path: Path) -> None:
    assert venvs.relocate(str(tmp_path), str(tmp_path / "elsewhere")) is True
    (tmp_path / ".venv").symlink_to(tmp_path)  # a link, not a venv: never entered
    assert venvs.mark(str(tmp_path)) is False
    assert not (tmp_path / venvs.MARKER).exists()
