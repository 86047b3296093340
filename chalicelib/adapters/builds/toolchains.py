"""Toolchains: the build step that puts the tool versions a plan asks for first on PATH.

For each of the plan's `tools` (and node at the provider's default for a node plan that names
none) it provides one directory of executables, prepended to PATH for `install` and `build` and
recorded in the artifact's runtime env (`.railyard/runtime.json`), so the app runs on the same
versions it was built with:
- node, npm, pnpm, yarn (1 and Berry), bun: resolved against the npm registry (the version rules
  are chalicelib/domain/toolchains.py), downloaded once, checked against the registry's sha512
  integrity, unpacked into the toolchain store and kept there by `<package>@<version>`: a second
  build (of any app) asking for the same version downloads nothing. An exact version already in
  the store needs no registry at all. A node that was not asked for (the provider's default) is
  the host's when the host's satisfies it;
- python: the host's pyenv interpreters (nothing else can fetch one here); a requested version the
  host lacks is not a failure: the build log says which one is used instead.
A version that cannot be had fails the build before anything is installed, naming the version,
the registry it looked in and what that registry has.

The store is a `LayerStore` (layer_store.py) at a stable path that a clean stop keeps
(toolchain_store.py): entries are `<key>/tree/{package,bin}` with `bin/<command>` relative links
into the package, readable by the services' uids and writable only by the platform. A release's
runtime env points into that store, so it keeps TOOLCHAINS_KEPT versions, the most recently used,
and never evicts one that a live release still names.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shutil
import subprocess
import tarfile
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import semantic_version

from chalicelib.adapters.builds.npm_registry import NpmRegistry
from chalicelib.adapters.builds.pythons import copy_python
from chalicelib.domain.errors import BuildFailed
from chalicelib.domain.ports import LogSink
from chalicelib.domain.toolchains import (
    Carrier,
    carrier_of,
    carriers,
    choose_python,
    exact_version,
    node_arch,
    npm_range,
    requested_tools,
    resolve,
)

# Versions kept in the store besides those live releases use (which are never evicted).
TOOLCHAINS_KEPT = 16
HOST_PROBE_TIMEOUT_SECONDS = 10.0
_PYENV_VERSION = re.compile(r"^\d+\.\d+\.\d+$")


class ToolchainStore(Protocol):
    """What the toolchain step needs of the runner's layer store (layer_store.py `LayerStore`)."""

    TREE: str

    def get(self, key: str) -> str | None: ...

    def path(self, key: str) -> str: ...

    def add(self, key: str, tarball: str | None, fill: Callable[[str], None]) -> str | None: ...


@dataclass(frozen=True)
class ProvidedToolchain:
    """The directories a build's tools are in, in PATH order."""

    bin_dirs: tuple[str, ...] = ()
    # (tool, the exact version provided), sorted by tool: what the build's dependencies were
    # installed with, part of the dependency layer's key (node 22.3 -> 22.4 installs again).
    versions: tuple[tuple[str, str], ...] = ()

    def path(self, base: str) -> str:
        """The build's PATH: the tools first."""
        return os.pathsep.join((*self.bin_dirs, base)) if self.bin_dirs else base

    def runtime_env(self, env: Mapping[str, str]) -> dict[str, str]:
        """The artifact's runtime env with the tools first on its PATH, before the runtime's
        `{PATH}` (the artifact contract: chalicelib/domain/buildplan.py)."""
        result = dict(env)
        if not self.bin_dirs:
            return result
        dirs = os.pathsep.join(self.bin_dirs)
        current = result.get("PATH", "{PATH}")
        if "{PATH}" in current:
            result["PATH"] = current.replace("{PATH}", f"{dirs}{os.pathsep}{{PATH}}", 1)
        else:
            result["PATH"] = f"{dirs}{os.pathsep}{current}"
        return result


class Toolchains:
    def __init__(
        self,
        store: ToolchainStore,
        registry: NpmRegistry,
        *,
        machine: str | None = None,
        pyenv_root: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._registry = registry
        self._machine = machine or platform.machine()
        self._pyenv_root = pyenv_root or os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
        self._clock = clock
        self._host_versions: dict[tuple[str, float], str | None] = {}

    def provide(
        self, provider: str, tools: Mapping[str, str], env: Mapping[str, str], scratch: str, log: LogSink
    ) -> ProvidedToolchain:
        """The bin dirs of the plan's tools, fetched when needed (into `scratch` first). `env` is
        the build's environment (its PATH is where the host's tools are looked for)."""
        wanted = requested_tools(provider, tools)
        dirs: list[str] = []
        versions: dict[str, str] = {}
        for tool in sorted(wanted, key=lambda t: (t != "node", t)):  # node's errors first
            spec, asked = wanted[tool]
            if tool == "python":
                versions[tool], bin_dir = self._python(spec, asked, log)
                dirs.append(bin_dir)
                continue
            if not asked:
                host = self._host_version(tool, env)
                if host is not None and _satisfies(host, npm_range(tool, spec)):
                    log.write(f"toolchain: {tool} {spec} (the default): the host's {tool} {host}")
                    versions[tool] = host
                    continue
            versions[tool], bin_dir = self._from_registry(tool, spec, scratch, log)
            dirs.append(bin_dir)
        return ProvidedToolchain(tuple(dict.fromkeys(dirs)), tuple(sorted(versions.items())))

    # --- the npm registry's tools ----------------------------------------------------------------

    def _from_registry(self, tool: str, spec: str, scratch: str, log: LogSink) -> tuple[str, str]:
        """(the version provided, its bin dir)."""
        arch = node_arch(self._machine)
        exact = exact_version(spec)
        if exact is not None:  # no registry needed when the store has it
            entry = self._store.get(_key(carrier_of(tool, exact, arch).package, exact))
            if entry is not None:
                log.write(f"toolchain: {tool} {exact} from the toolchain store")
                return exact, self._bin_dir(entry)
        started = self._clock()
        published = {c.package: self._registry.published(c.package) for c in carriers(tool, arch)}
        resolved = resolve(
            tool,
            spec,
            {package: list(found.versions) for package, found in published.items()},
            {package: found.latest for package, found in published.items() if found.latest},
            arch,
            where=self._registry.url,
        )
        asked = "" if exact is not None else f" (requested {spec!r})"
        key = _key(resolved.carrier.package, resolved.version)
        entry = self._store.get(key)
        if entry is not None:
            log.write(f"toolchain: {tool} {resolved.version}{asked} from the toolchain store")
            return resolved.version, self._bin_dir(entry)
        manifest = published[resolved.carrier.package].versions[resolved.version]
        os.makedirs(scratch, exist_ok=True)
        tarball = os.path.join(scratch, f"toolchain-{uuid.uuid4().hex}.tgz")
        try:
            url = self._registry.download(manifest, tarball)
            size = os.path.getsize(tarball)
            bins = _bins(manifest, resolved.carrier)
            entry = self._store.add(key, tarball, lambda tree: _unpack(tarball, tree, bins))
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(tarball)  # moved into the store, unless something failed
        entry = entry or self._store.get(key)  # another build stored the same version meanwhile
        if entry is None:
            raise BuildFailed(f"the toolchain store could not keep {tool} {resolved.version}")
        log.write(
            f"toolchain: {tool} {resolved.version}{asked} downloaded from {url} "
            f"({size / 1e6:.1f} MB, integrity verified) in {self._clock() - started:.1f} s"
        )
        return resolved.version, self._bin_dir(entry)

    def _bin_dir(self, entry: str) -> str:
        return os.path.join(entry, self._store.TREE, "bin")

    def _host_version(self, tool: str, env: Mapping[str, str]) -> str | None:
        """`tool --version` of the host's tool on the build's PATH (remembered per binary)."""
        found = shutil.which(tool, path=env.get("PATH", os.defpath))
        if found is None:
            return None
        with contextlib.suppress(OSError):
            cache_key = (os.path.realpath(found), os.stat(found).st_mtime)
            if cache_key not in self._host_versions:
                self._host_versions[cache_key] = _probe(found)
            return self._host_versions[cache_key]
        return None

    # --- python ----------------------------------------------------------------------------------

    def _python(self, spec: str, asked: bool, log: LogSink) -> tuple[str, str]:
        """The version and bin dir of the interpreter for `spec`: the host's pyenv version, copied once into
        the store, because pyenv itself is out of the services' uids' reach (pythons.py)."""
        found = host_pythons(self._pyenv_root)
        choice = choose_python(spec, list(found))
        key = f"cpython@{choice.version}"
        if choice.note is not None:
            log.write(f"toolchain: {choice.note}")
        requested = f"(requested {spec!r})" if asked else f"({spec}, the default)"
        entry = self._store.get(key)
        if entry is not None:
            log.write(f"toolchain: python {choice.version} {requested} from the toolchain store")
            return choice.version, self._bin_dir(entry)
        started = self._clock()
        prefix = os.path.dirname(found[choice.version])
        final = os.path.join(self._store.path(key), self._store.TREE)  # the copy names where it ends up
        entry = self._store.add(key, None, lambda tree: _copied_python(prefix, tree, final))
        entry = entry or self._store.get(key)
        if entry is None:
            raise BuildFailed(f"the toolchain store could not keep python {choice.version}")
        size = _tree_bytes(os.path.join(entry, self._store.TREE))
        log.write(
            f"toolchain: python {choice.version} {requested} copied from the host's pyenv into the "
            f"toolchain store ({size / 1e6:.0f} MB) in {self._clock() - started:.1f} s"
        )
        return choice.version, self._bin_dir(entry)


def host_pythons(pyenv_root: str) -> dict[str, str]:
    """The host's CPython versions (pyenv: one patch per minor) -> their bin directory."""
    versions = os.path.join(pyenv_root, "versions")
    try:
        names = os.listdir(versions)
    except OSError:
        return {}
    found = {}
    for name in names:
        bin_dir = os.path.join(versions, name, "bin")
        if _PYENV_VERSION.match(name) and any(
            os.access(os.path.join(bin_dir, exe), os.X_OK) for exe in ("python3", "python")
        ):
            found[name] = bin_dir
    return found


def _copied_python(prefix: str, tree: str, final: str) -> None:
    copy_python(prefix, tree, final)
    _open_up(tree)


def _tree_bytes(root: str) -> int:
    total = 0
    for parent, _, files in os.walk(root):
        total += sum(os.lstat(os.path.join(parent, name)).st_size for name in files)
    return total


def _key(package: str, version: str) -> str:
    """The store key of a package version, safe as a directory name."""
    return f"{package.removeprefix('@').replace('/', '+')}@{version}"


def _bins(manifest: Mapping[str, Any], carrier: Carrier) -> dict[str, str]:
    """command -> path inside the package: the manifest's `bin`, else the carrier's."""
    declared = manifest.get("bin")
    if isinstance(declared, str):
        declared = {str(manifest.get("name", "")).rsplit("/", 1)[-1]: declared}
    bins = dict(declared) if isinstance(declared, dict) and declared else dict(carrier.bins)
    safe = {}
    for command, path in bins.items():
        parts = [p for p in str(path).split("/") if p not in ("", ".")]
        if not re.fullmatch(r"[A-Za-z0-9._-]+", str(command)) or not parts or ".." in parts:
            continue  # never a link outside the package
        safe[str(command)] = "/".join(parts)
    if not safe:
        raise BuildFailed(f"{manifest.get('_id', carrier.package)} declares no executable")
    return safe


def _unpack(tarball: str, tree: str, bins: Mapping[str, str]) -> None:
    """The package into `tree/package`, its executables as links in `tree/bin`, all readable (and
    the executables runnable) by every uid: services run from here as their own users."""
    os.makedirs(tree)
    unpacked = os.path.join(tree, ".unpacked")
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            tar.extractall(unpacked, filter="data")  # refuses absolute paths, `..`, devices
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BuildFailed(f"the package tarball could not be unpacked: {exc}") from None
    tops = os.listdir(unpacked)
    if len(tops) != 1 or not os.path.isdir(os.path.join(unpacked, tops[0])):
        raise BuildFailed("the package tarball does not hold one top directory")
    package = os.path.join(tree, "package")
    os.rename(os.path.join(unpacked, tops[0]), package)
    os.rmdir(unpacked)
    os.mkdir(os.path.join(tree, "bin"))
    for command, path in bins.items():
        target = os.path.join(package, *path.split("/"))
        if not os.path.isfile(target):
            raise BuildFailed(f"the package has no {path} (its `{command}` executable)")
        os.chmod(target, 0o755)  # npm makes bin targets executable on install; so do we
        os.symlink(os.path.join("..", "package", *path.split("/")), os.path.join(tree, "bin", command))
    _open_up(tree)


def _open_up(root: str) -> None:
    for parent, _, files in os.walk(root):  # never follows a symlinked directory
        os.chmod(parent, 0o755)
        for name in files:
            full = os.path.join(parent, name)
            if not os.path.islink(full):
                mode = os.lstat(full).st_mode
                os.chmod(full, (mode & 0o777) | 0o444 | (0o111 if mode & 0o100 else 0))


def _satisfies(version: str, wanted: str) -> bool:
    return semantic_version.NpmSpec(wanted).match(semantic_version.Version(version))


def _probe(executable: str) -> str | None:
    try:
        done = subprocess.run(
            [executable, "--version"],
            capture_output=True,
            text=True,
            timeout=HOST_PROBE_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(r"(\d+\.\d+\.\d+)", done.stdout)
    return match.group(1) if match and done.returncode == 0 else None
