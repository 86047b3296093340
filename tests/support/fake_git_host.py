"""A fake Git host on 127.0.0.1 (a free port) serving GitHub's commit archive endpoint.

`GET /repos/<owner>/<name>/tarball/<sha>` answers 302 to `/codeload/<owner>/<name>/<sha>.tar.gz`, as
GitHub redirects to codeload, which serves a .tar.gz whose entries sit under one
`<owner>-<name>-<sha7>/` directory after a pax global header naming the commit (GitHub's shape).
An unknown repository or sha is a 404; `fail_next` answers that many requests with a 502.
`requests` lists every path asked for.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.loopback_http import serving


@dataclass
class FakeGitHost:
    url: str = ""
    commits: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)  # (repo, sha) -> files
    fail_next: int = 0
    requests: list[str] = field(default_factory=list)

    def archive(self, repo: str, sha: str) -> bytes | None:
        files = self.commits.get((repo, sha))
        if files is None:
            return None
        top = f"{repo.replace('/', '-')}-{sha[:7]}/"
        buffer = io.BytesIO()
        with (
            gzip.GzipFile(fileobj=buffer, mode="wb") as gz,
            tarfile.open(
                fileobj=gz, mode="w", format=tarfile.PAX_FORMAT, pax_headers={"comment": sha}
            ) as tar,
        ):
            directory = tarfile.TarInfo(top)
            directory.type = tarfile.DIRTYPE
            tar.addfile(directory)
            for name, text in files.items():
                data = text.encode()
                info = tarfile.TarInfo(top + name)
                info.size, info.mtime, info.mode = len(data), 1_700_000_000, 0o644
                tar.addfile(info, io.BytesIO(data))
        return buffer.getvalue()


def _handler(host: FakeGitHost) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            host.requests.append(self.path)
            if host.fail_next > 0:
                host.fail_next -= 1
                return self._send(502, b'{"message": "Bad Gateway"}')
            parts = self.path.strip("/").split("/")
            if len(parts) == 5 and parts[0] == "repos" and parts[3] == "tarball":
                location = f"{host.url}/codeload/{parts[1]}/{parts[2]}/{parts[4]}.tar.gz"
                return self._send(302, b"", {"Location": location})
            if len(parts) == 4 and parts[0] == "codeload":
                archive = host.archive(f"{parts[1]}/{parts[2]}", parts[3].removesuffix(".tar.gz"))
                if archive is not None:
                    return self._send(200, archive, {"Content-Type": "application/x-gzip"})
            self._send(404, b'{"message": "Not Found"}', {"Content-Type": "application/json"})

    return Handler


@contextmanager
def running_fake_git_host() -> Iterator[FakeGitHost]:
    host = FakeGitHost()
    with serving(_handler(host), "fake-git-host") as url:
        host.url = url
        yield host
