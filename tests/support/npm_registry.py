"""A real npm registry on 127.0.0.1 for the toolchain tests: abbreviated metadata and tarballs with
correct sha512 integrity, for small packages generated here, and a record of every request.

`toolchain_registry()` publishes one version list per tool, shaped like the real packages:
- `node-linux-<arch>`: `bin/node`, a shell script that answers `--version` with its own version and
  otherwise runs the host's node (so npm scripts, shebangs and `node -e` work);
- `pnpm`, `yarn` (1.x) and `@yarnpkg/cli-dist` (Berry): node scripts in `bin/` named by `bin`,
  answering `--version` (they run on whichever `node` is first on PATH, as the real ones do);
- `@oven/bun-linux-<arch>`: `bin/bun`, a shell script, and no `bin` field, like the real one.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import platform
import shutil
import tarfile
import threading
import urllib.parse
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from chalicelib.domain.toolchains import node_arch

NODE_VERSIONS = ("18.20.4", "20.18.1", "22.3.0", "22.12.0", "23.1.0-rc.1")
PNPM_VERSIONS = ("8.15.9", "9.1.0", "9.15.4")
YARN_CLASSIC_VERSIONS = ("1.22.19", "1.22.22")
YARN_BERRY_VERSIONS = ("3.8.7", "4.5.3")
BUN_VERSIONS = ("1.1.38", "1.2.0")


def npm_tarball(files: Mapping[str, tuple[str, int]]) -> bytes:
    """A package tarball as `npm pack` writes it: every path under `package/`."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, (text, mode) in sorted(files.items()):
            data = text.encode()
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            info.mode = mode
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class RegistryServer:
    """Serves what was `publish`ed: GET /<name> (scoped names with %2f) and its tarball URLs."""

    def __init__(self) -> None:
        self._documents: dict[str, dict[str, Any]] = {}
        self._tarballs: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self.requests: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        # A short poll interval: stop() waits for it, and every test stops its registry.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def tarball_requests(self) -> list[str]:
        with self._lock:
            return [path for path in self.requests if path.endswith(".tgz")]

    def publish(
        self,
        name: str,
        version: str,
        files: Mapping[str, tuple[str, int]],
        *,
        bin: Mapping[str, str] | None = None,
        tampered: bool = False,
    ) -> None:
        """A version of `name`; `tampered` serves other bytes than the published integrity's."""
        data = npm_tarball(files)
        integrity = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
        path = f"/{urllib.parse.quote(name, safe='@')}/-/{name.rsplit('/', 1)[-1]}-{version}.tgz"
        manifest: dict[str, Any] = {
            "name": name,
            "version": version,
            "_id": f"{name}@{version}",
            "dist": {"integrity": integrity, "tarball": self.url + path},
        }
        if bin:
            manifest["bin"] = dict(bin)
        with self._lock:
            document = self._documents.setdefault(name, {"name": name, "dist-tags": {}, "versions": {}})
            document["versions"][version] = manifest
            if "-" not in version:  # `latest` is the newest stable, as registries usually tag it
                document["dist-tags"]["latest"] = max(
                    (v for v in document["versions"] if "-" not in v),
                    key=lambda v: tuple(int(p) for p in v.split(".")),
                )
            self._tarballs[path] = data + b"tampered" if tampered else data

    def start(self) -> RegistryServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with registry._lock:
                    registry.requests.append(self.path)
                    tarball = registry._tarballs.get(self.path)
                    document = registry._documents.get(urllib.parse.unquote(self.path.lstrip("/")))
                if tarball is not None:
                    self._send(200, tarball, "application/octet-stream")
                elif document is not None:
                    self._send(200, json.dumps(document).encode(), "application/vnd.npm.install-v1+json")
                else:
                    self._send(404, b'{"error":"Not found"}', "application/json")

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet tests

        return Handler


def _node_script(tool: str, version: str) -> str:
    return (
        "#!/usr/bin/env node\n"
        f"if (process.argv[2] === '--version') {{ console.log('{version}'); process.exit(0); }}\n"
        f"console.log('{tool} {version} ran: ' + process.argv.slice(2).join(' '));\n"
    )


def publish_node(
    registry: RegistryServer, version: str, machine: str | None = None, tampered: bool = False
) -> None:
    """One version of Node's binary package: `bin/node` answers `--version` with `version` and
    otherwise runs the host's node."""
    arch = node_arch(machine or platform.machine())
    host_node = shutil.which("node") or "/usr/bin/node"
    script = (
        "#!/bin/sh\n"
        f'if [ "$1" = "--version" ] || [ "$1" = "-v" ]; then echo v{version}; exit 0; fi\n'
        f'exec {host_node} "$@"\n'
    )
    registry.publish(
        f"node-linux-{arch}",
        version,
        {"bin/node": (script, 0o755), "package.json": ("{}", 0o644)},
        bin={"node": "bin/node"},
        tampered=tampered,
    )


def publish_toolchains(registry: RegistryServer, machine: str | None = None, **tampered: str) -> None:
    """Every tool's versions (above) for this machine; `tampered={"node": "22.12.0"}` serves that
    version's tarball altered."""
    arch = node_arch(machine or platform.machine())
    for version in NODE_VERSIONS:
        publish_node(registry, version, machine, tampered=tampered.get("node") == version)
    node_tools = (
        ("pnpm", "pnpm", PNPM_VERSIONS, "bin/pnpm.cjs"),
        ("yarn", "yarn", YARN_CLASSIC_VERSIONS, "bin/yarn.js"),
        ("yarn", "@yarnpkg/cli-dist", YARN_BERRY_VERSIONS, "bin/yarn.js"),
    )
    for tool, package, versions, path in node_tools:
        for version in versions:
            # Not executable in the tarball, as pnpm's own bin is not: the installer makes it so.
            registry.publish(
                package,
                version,
                {path: (_node_script(tool, version), 0o644)},
                bin={tool: f"./{path}"},
                tampered=tampered.get(tool) == version,
            )
    bun_arch = {"x64": "x64", "arm64": "aarch64"}[arch]
    for version in BUN_VERSIONS:
        script = f'#!/bin/sh\nif [ "$1" = "--version" ]; then echo {version}; exit 0; fi\necho "bun $*"\n'
        registry.publish(
            f"@oven/bun-linux-{bun_arch}",
            version,
            {"bin/bun": (script, 0o755)},
            tampered=tampered.get("bun") == version,
        )


@contextmanager
def toolchain_registry(machine: str | None = None, **tampered: str) -> Iterator[RegistryServer]:
    """A started registry with every tool published; stopped when the block ends."""
    registry = RegistryServer().start()
    try:
        publish_toolchains(registry, machine, **tampered)
        yield registry
    finally:
        registry.stop()
