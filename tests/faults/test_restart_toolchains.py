"""Faults: a clean stop removes the tenant root, not the toolchains live releases run on.

A node app asking for node 22 (from a real npm registry on 127.0.0.1, tests/support/npm_registry.py)
and a python app (a copy of the host's pyenv interpreter) are built and go live; the platform is
stopped with SIGTERM and started again on the same data directory. Both releases must come back
serving from the same toolchains (not from whatever `node` or `python3` the host's PATH has
further down), and a rebuild of either downloads and copies nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib.adapters import tenancy
from chalicelib.adapters.builds import toolchain_store
from tests.support.faults import running
from tests.support.npm_registry import RegistryServer, toolchain_registry
from tests.support.platform import DevProcess, write_app

pytestmark = [pytest.mark.faults, pytest.mark.timeout(420)]

NODE_APP = {
    "package.json": json.dumps(
        {
            "name": "node22",
            "engines": {"node": "22"},
            # What `node` the release's PATH finds at start: the toolchain's answers v22.12.0, the
            # host's (what a release whose toolchain vanished falls back to) its own version.
            "scripts": {"start": "NODE_SEEN=$(node --version) node server.js"},
        }
    ),
    "server.js": (
        "require('http').createServer((req, res) => res.end(process.env.NODE_SEEN + '\\n'))"
        ".listen(process.env.PORT);\n"
    ),
}
PYTHON_APP = {
    "main.py": (
        "import json, os, sys\n"
        "from http.server import BaseHTTPRequestHandler, HTTPServer\n\n\n"
        "class Handler(BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        body = json.dumps({'prefix': sys.base_prefix}).encode()\n"
        "        self.send_response(200)\n"
        "        self.send_header('Content-Length', str(len(body)))\n"
        "        self.end_headers()\n"
        "        self.wfile.write(body)\n\n\n"
        "HTTPServer(('127.0.0.1', int(os.environ['PORT'])), Handler).serve_forever()\n"
    ),
}


@pytest.fixture(scope="module")
def registry() -> Iterator[RegistryServer]:
    with toolchain_registry() as server:
        yield server


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory, registry: RegistryServer) -> Iterator[DevProcess]:
    process = DevProcess(tmp_path_factory.mktemp("railyard-home"), {"RAILYARD_NPM_REGISTRY": registry.url})
    process.start()
    try:
        yield process
    finally:
        process.close()  # and the toolchain store, which outlives clean stops


def _deploy(platform: DevProcess, directory: Path, files: dict[str, str], project: str) -> str:
    dev = running(platform)
    directory.mkdir()
    write_app(directory, files)
    dev.cli("init", "--project", project, "--name", "web", cwd=directory)
    return dev.cli("up", cwd=directory, timeout=300).stdout


def test_live_releases_keep_their_toolchains_across_a_clean_restart(
    platform: DevProcess, registry: RegistryServer, tmp_path: Path
) -> None:
    # GIVEN a node-22 app and a python app live on their toolchains
    _deploy(platform, tmp_path / "node", NODE_APP, "nodeapp")
    _deploy(platform, tmp_path / "python", PYTHON_APP, "pyapp")
    dev = running(platform)
    assert dev.get("web-production-nodeapp") == (200, "v22.12.0\n")
    status, body = dev.get("web-production-pyapp")
    prefix = json.loads(body)["prefix"]
    isolated = os.geteuid() == 0
    store = (
        toolchain_store.STABLE_PARENT / f"toolchains-{tenancy.platform_key(dev.data_dir)}"
        if isolated
        else dev.data_dir / "toolchains"
    )
    assert status == 200 and prefix.startswith(f"{store}/cpython@"), prefix
    downloads = list(registry.tarball_requests)

    # WHEN the platform stops cleanly (removing the tenant root) and starts again
    assert platform.stop() == 0, platform.output()
    dev = platform.start()

    # THEN both releases serve again, on the same toolchains, from the same store
    assert dev.get("web-production-nodeapp") == (200, "v22.12.0\n")
    assert dev.get("web-production-pyapp") == (200, json.dumps({"prefix": prefix}))
    if isolated:
        mode = os.stat(store).st_mode & 0o777
        assert (os.stat(store).st_uid, mode) == (0, 0o755)
    # and a rebuild finds its toolchain in the store: nothing is downloaded again
    rebuilt = (tmp_path / "node").joinpath("server.js")
    rebuilt.write_text(rebuilt.read_text() + "// changed\n")
    log = dev.cli("up", cwd=tmp_path / "node", timeout=300).stdout
    assert "toolchain: node 22.12.0 (requested '22') from the toolchain store" in log, log
    assert registry.tarball_requests == downloads
    assert dev.get("web-production-nodeapp") == (200, "v22.12.0\n")
