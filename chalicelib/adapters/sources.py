"""Uploaded sources as the watch-pattern check sees them: a manifest of `{path: sha256}` and the
config files' watch patterns, read from the `.tar.gz` in S3; manifests kept next to the sources.

Manifests are stored by the upload's ETag (`manifests/<service>/<etag>.json` in the sources bucket):
the same bytes have the same manifest, so the live release's manifest is found from its
deployment's `source_etag` with no extra item in the table, whether or not that source was built.

Reading an upload here is also where the source limits are enforced (see `inspect`)."""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
import tempfile
from typing import Any

from chalicelib.domain.errors import BuildFailed, NotFound
from chalicelib.domain.limits import (
    MAX_CONFIG_FILE_BYTES,
    MAX_UPLOAD_BYTES,
    SourceTally,
    check_upload_size,
)
from chalicelib.domain.ports import BlobStore, SourceSnapshot
from chalicelib.domain.railway_config import CONFIG_FILES, load_config

_CHUNK = 1024 * 1024


class _Files:
    """The config files of an archive, as the ConfigSource load_config reads."""

    def __init__(self, texts: dict[str, str]) -> None:
        self._texts = texts

    def exists(self, path: str) -> bool:
        return path in self._texts

    def read_text(self, path: str) -> str:
        return self._texts[path]


class TarballSources:
    def __init__(self, blobs: BlobStore, bucket: str, max_upload_bytes: int = MAX_UPLOAD_BYTES) -> None:
        self._blobs = blobs
        self._bucket = bucket
        self._max_upload_bytes = max_upload_bytes

    def inspect(self, source_key: str, environment: str) -> SourceSnapshot:
        """Raises BuildFailed naming the limit when the upload or its content is above one
        (domain/limits.py): this runs before every build of an upload, so it is where a source
        over a limit fails its deployment, before any builder extracts it."""
        manifest: dict[str, str] = {}
        configs: dict[str, str] = {}
        tally = SourceTally()
        with tempfile.NamedTemporaryFile(suffix=".tar.gz") as archive:
            self._blobs.download_file(self._bucket, source_key, archive.name)
            # S3's presigned POST policy bounds the upload in AWS; moto does not enforce it.
            check_upload_size(os.path.getsize(archive.name), self._max_upload_bytes)
            try:
                with tarfile.open(archive.name, "r:*") as tar:
                    for member in tar:  # one header at a time: a tar bomb stops at its first big one
                        tally.add(member.name, member.size if member.isfile() else 0)
                        if not member.isfile():
                            continue
                        path = member.name.removeprefix("./")
                        if path in CONFIG_FILES and member.size > MAX_CONFIG_FILE_BYTES:
                            raise BuildFailed(
                                f"config file limit: {path} is {member.size} bytes; a config file is "
                                f"at most {MAX_CONFIG_FILE_BYTES} bytes"
                            )
                        handle = tar.extractfile(member)
                        if handle is None:
                            continue
                        digest = hashlib.sha256()
                        data = b""
                        while chunk := handle.read(_CHUNK):
                            digest.update(chunk)
                            if path in CONFIG_FILES:
                                data += chunk
                        manifest[path] = digest.hexdigest()
                        if path in CONFIG_FILES:
                            configs[path] = data.decode("utf-8-sig", errors="replace")
            except (tarfile.TarError, EOFError, OSError):
                # Not this check's failure to report: the build runner fails it with its own message.
                return SourceSnapshot({}, ())
        config = load_config(_Files(configs), environment)
        return SourceSnapshot(manifest, config.build.watch_patterns)

    def save_manifest(self, service_id: str, etag: str, manifest: dict[str, str]) -> None:
        body = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
        self._blobs.put_bytes(self._bucket, _key(service_id, etag), body)

    def load_manifest(self, service_id: str, etag: str) -> dict[str, str] | None:
        try:
            data: Any = json.loads(self._blobs.get_bytes(self._bucket, _key(service_id, etag)))
        except NotFound:
            return None  # uploaded before manifests were kept
        return {str(k): str(v) for k, v in data.items()}


def _key(service_id: str, etag: str) -> str:
    return f"manifests/{service_id}/{etag.strip(chr(34))}.json"  # ETags come quoted
