"""Push to deploy's adapters against real parts (docs/decisions/0035): commit archives from a fake Git
host over HTTP (GitHub's redirect and archive shape) and from a git repository on disk, cut to the
root directory and repacked deterministically; the link store and its delivery claims on moto."""

from __future__ import annotations

import gzip
import io
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from chalicelib.adapters.dynamo.schema import create_table
from chalicelib.adapters.git_sources import GitSources
from chalicelib.adapters.git_store import DynamoGitLinkStore
from chalicelib.domain.errors import TransientError
from chalicelib.domain.git import GitLink
from chalicelib.domain.git_deploys import SourceUnavailable
from tests.support.fake_git_host import FakeGitHost, running_fake_git_host
from tests.support.git_push import LocalRepo

SHA = "0123456789abcdef0123456789abcdef01234567"
FILES = {"README.md": "top\n", "apps/api/main.py": "print('api')\n", "apps/web/index.html": "<p>web</p>\n"}


def _names(archive: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(archive))) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]


@pytest.fixture
def host() -> FakeGitHost:
    with running_fake_git_host() as fake:
        fake.commits[("acme/shop", SHA)] = FILES
        yield fake  # type: ignore[misc]


def test_a_hosted_commit_is_fetched_through_the_redirect_and_cut_to_its_root_directory(
    host: FakeGitHost,
) -> None:
    sources = GitSources(host.url)
    whole = sources.fetch("acme/shop", SHA, "")
    assert _names(whole) == {k: v.encode() for k, v in FILES.items()}  # the top directory is gone
    api = sources.fetch("acme/shop", SHA, "apps/api")
    assert _names(api) == {"main.py": b"print('api')\n"}
    assert host.requests[:2] == [f"/repos/acme/shop/tarball/{SHA}", f"/codeload/acme/shop/{SHA}.tar.gz"]
    # The same commit is the same bytes every time (the same ETag: its build is reused)
    assert sources.fetch("acme/shop", SHA, "apps/api") == api


def test_missing_commits_and_empty_roots_fail_for_good_and_a_5xx_is_retried(host: FakeGitHost) -> None:
    sources = GitSources(host.url)
    with pytest.raises(SourceUnavailable, match="answered 404"):
        sources.fetch("acme/shop", "f" * 40, "")
    with pytest.raises(SourceUnavailable, match="no files under apps/none/"):
        sources.fetch("acme/shop", SHA, "apps/none")
    with pytest.raises(SourceUnavailable, match="not a commit sha"):
        sources.fetch("acme/shop", "--output=/tmp/x", "")
    host.fail_next = 1
    with pytest.raises(TransientError, match="502"):
        sources.fetch("acme/shop", SHA, "")
    assert _names(sources.fetch("acme/shop", SHA, ""))  # the retry gets it


def test_a_local_repository_commit_is_read_with_git_archive(tmp_path: Path) -> None:
    repo = LocalRepo.create(tmp_path / "repo", FILES)
    first = repo.git("rev-parse", "HEAD")
    repo.commit({"apps/api/main.py": "print('v2')\n"}, "v2")
    sources = GitSources("http://127.0.0.1:9")  # never asked
    assert _names(sources.fetch(str(repo.path), first, "apps/api")) == {"main.py": b"print('api')\n"}
    with pytest.raises(SourceUnavailable, match="git archive"):
        sources.fetch(str(repo.path), "e" * 40, "")


def test_a_delivery_is_claimed_once_whatever_the_interleaving(aws: int) -> None:
    create_table("railyard-test-git")
    store = DynamoGitLinkStore("railyard-test-git")
    with ThreadPoolExecutor(10) as pool:
        claims = list(pool.map(lambda _: store.claim_delivery("svc_1", "d-1", 2_000_000_000), range(10)))
    assert sorted(claims) == [False] * 9 + [True]
    store.release_delivery("svc_1", "d-1")
    assert store.claim_delivery("svc_1", "d-1", 2_000_000_000) is True
    link = GitLink("svc_1", "ws_1", "prj_1", "env_1", "acme/shop", "main", "", "sealed.v1.x", "2026-01-01")
    assert store.find_link("svc_1") is None
    store.save_link(link)
    assert store.find_link("svc_1") == link
