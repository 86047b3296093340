"""Where a pushed commit's source comes from (the CommitSources port, chalicelib/domain/git_deploys.py)
and the GitEventBus port on EventBridge.

`GitSources.fetch` gets the commit's tree as an archive: from the Git host's REST API
(`GET <RAILYARD_GITHUB_API_URL>/repos/<owner>/<name>/tarball/<sha>`, a .tar.gz whose entries sit
under one `<owner>-<name>-<sha>/` directory; GitHub answers with a redirect that urllib follows),
or, for a link to a local path (the local platform only), from `git archive` of that repository.
Either archive is then cut to the link's root directory and written again in the shape `railyard
up` uploads: files at the archive's root, in name order, with no times or owners, so one commit is
always the same bytes (the same ETag: an unchanged commit reuses its build).

urllib, because `requests` is not a runtime dependency. A 404 or 422 (no such repository or commit)
is SourceUnavailable; no answer or a 5xx is a TransientError (the queue retries).
"""

from __future__ import annotations

import gzip
import io
import re
import subprocess
import tarfile
import urllib.error
import urllib.request
from typing import Any

from chalicelib.domain.errors import TransientError
from chalicelib.domain.git_deploys import SourceUnavailable
from chalicelib.domain.limits import MAX_UPLOAD_BYTES

TIMEOUT_SECONDS = 60
USER_AGENT = "railyard"
_SHA = re.compile(r"^[0-9a-f]{7,64}$")


class GitSources:
    def __init__(self, api_url: str, max_bytes: int = MAX_UPLOAD_BYTES, token: str | None = None) -> None:
        self._api = api_url.rstrip("/")
        self._max_bytes = max_bytes
        self._token = token

    def fetch(self, repo: str, sha: str, root_directory: str) -> bytes:
        if not _SHA.match(sha):
            raise SourceUnavailable(f"{sha!r} is not a commit sha")
        archive = self._local(repo, sha) if repo.startswith("/") else self._hosted(repo, sha)
        return repack(archive, root_directory, f"{repo}@{sha[:12]}")

    def _hosted(self, repo: str, sha: str) -> bytes:
        url = f"{self._api}/repos/{repo}/tarball/{sha}"
        request = urllib.request.Request(url)
        request.add_header("User-Agent", USER_AGENT)
        request.add_header("Accept", "application/vnd.github+json")
        if self._token:
            request.add_header("Authorization", f"Bearer {self._token}")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                data: bytes = response.read(self._max_bytes + 1)
        except urllib.error.HTTPError as error:
            if error.code in (401, 403, 404, 422):
                raise SourceUnavailable(
                    f"the Git host answered {error.code} for commit {sha[:12]} of {repo}"
                ) from None
            raise TransientError(f"the Git host answered {error.code} for {url}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            raise TransientError(f"the Git host could not be reached at {url}: {error}") from None
        if len(data) > self._max_bytes:
            raise SourceUnavailable(f"the archive of {repo}@{sha[:12]} is over {self._max_bytes} bytes")
        return data

    def _local(self, repo: str, sha: str) -> bytes:
        try:
            done = subprocess.run(
                ["git", "-C", repo, "archive", "--format=tar", "--prefix=source/", sha],
                capture_output=True,
                timeout=TIMEOUT_SECONDS,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise TransientError(f"git archive of {repo} did not run: {error}") from None
        if done.returncode != 0:
            message = done.stderr.decode(errors="replace").strip().splitlines()
            raise SourceUnavailable(
                f"git archive {sha[:12]} in {repo} failed: {message[-1] if message else done.returncode}"
            )
        return done.stdout


def repack(archive: bytes, root_directory: str, what: str) -> bytes:
    """The archive's entries under its one top directory and `root_directory`, at the root of a
    deterministic .tar.gz. SourceUnavailable when nothing is there."""
    prefix = f"{root_directory}/" if root_directory else ""
    kept: list[tuple[tarfile.TarInfo, bytes | None]] = []
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as tar:
            for member in tar:
                _, _, path = member.name.removeprefix("./").partition("/")  # the top directory
                if not path.startswith(prefix) or path == prefix or not (member.isfile() or member.issym()):
                    continue
                relative = path[len(prefix) :].rstrip("/")
                handle = tar.extractfile(member) if member.isfile() else None
                kept.append((_normalised(member, relative), handle.read() if handle else None))
    except (tarfile.TarError, EOFError, OSError) as error:
        raise SourceUnavailable(f"the archive of {what} is not a readable tarball: {error}") from None
    if not kept:
        where = f"under {root_directory}/" if root_directory else "in it"
        raise SourceUnavailable(f"{what} has no files {where}")
    buffer = io.BytesIO()
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=buffer, mtime=0, compresslevel=6) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as out,
    ):
        for info, data in sorted(kept, key=lambda entry: entry[0].name):
            out.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def _normalised(member: tarfile.TarInfo, name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if member.issym():
        info.type = tarfile.SYMTYPE
        info.linkname = member.linkname
        info.mode = 0o777
    else:
        info.size = member.size
        info.mode = 0o755 if member.mode & 0o111 else 0o644
    return info


class EventBridgeGitEvents:
    """Puts git.* events on Railyard's bus (the catalogue's git-events rule routes them)."""

    def __init__(self, bus_name: str, region: str | None = None) -> None:
        self._bus = bus_name
        self._region = region

    def put(self, detail_type: str, detail: dict[str, Any]) -> None:
        from chalicelib.adapters.bus import put_event

        put_event(self._bus, self._region, detail_type, detail)
