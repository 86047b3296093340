"""The watch-pattern inspector against S3 on moto, with archives packed by the real CLI packer."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chalicelib.adapters.sources import TarballSources
from chalicelib.adapters.storage import S3BlobStore
from chalicelib.domain.errors import BuildFailed
from chalicelib.domain.ports import SourceSnapshot
from railyard.tarball import pack_directory

BUCKET = "sources-test"


@pytest.fixture
def sources(aws: int) -> TarballSources:
    from chalicelib.adapters.aws import client

    client("s3").create_bucket(Bucket=BUCKET)
    return TarballSources(S3BlobStore(), BUCKET)


def _upload(tmp_path: Path, files: dict[str, str], key: str) -> str:
    root = tmp_path / key
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    S3BlobStore().put_bytes(BUCKET, key, pack_directory(root).data)
    return key


def test_the_manifest_hashes_every_file_and_the_patterns_come_from_the_environment(
    sources: TarballSources, tmp_path: Path
) -> None:
    config = (
        '{"build": {"watchPatterns": ["/api/**"]},'
        ' "environments": {"staging": {"build": {"watchPatterns": ["/web/**"]}}}}'
    )
    key = _upload(tmp_path, {"api/app.py": "x", "web/index.html": "y", "railway.json": config}, "a")

    production = sources.inspect(key, "production")
    staging = sources.inspect(key, "staging")

    assert sorted(production.manifest) == ["api/app.py", "railway.json", "web/index.html"]
    assert all(re.fullmatch(r"[0-9a-f]{64}", digest) for digest in production.manifest.values())
    assert production.watch_patterns == ("/api/**",)
    assert staging.watch_patterns == ("/web/**",)


def test_manifests_round_trip_and_a_missing_one_reads_as_none(
    sources: TarballSources, tmp_path: Path
) -> None:
    key = _upload(tmp_path, {"main.py": "print()"}, "b")
    manifest = sources.inspect(key, "production").manifest

    sources.save_manifest("svc_1", "dep_1", manifest)

    assert sources.load_manifest("svc_1", "dep_1") == manifest
    assert sources.load_manifest("svc_1", "dep_2") is None


def test_a_broken_config_fails_the_build_naming_it_and_a_broken_archive_is_left_to_the_builder(
    sources: TarballSources, tmp_path: Path
) -> None:
    key = _upload(tmp_path, {"railway.json": '{"build": {"watchPatterns": "api"}}'}, "c")
    with pytest.raises(BuildFailed, match=r"railway.json: build.watchPatterns must be"):
        sources.inspect(key, "production")

    S3BlobStore().put_bytes(BUCKET, "d", b"not a tarball")
    assert sources.inspect("d", "production") == SourceSnapshot({}, ())
