"""The build runner's toolchain step (chalicelib/adapters/builds/toolchains.py) for the tests that
drive it directly: fresh (nothing remembered) over a layer store of the test's own, reading tools
from the registry at a given URL (tests/support/npm_registry.py, or `NO_REGISTRY`)."""

from __future__ import annotations

from pathlib import Path

from chalicelib.adapters.builds.layer_store import LayerStore
from chalicelib.adapters.builds.npm_registry import NpmRegistry
from chalicelib.adapters.builds.toolchains import TOOLCHAINS_KEPT, Toolchains

# A registry nobody listens at (port 9, discard): a test of what needs no download stays offline.
NO_REGISTRY = "http://127.0.0.1:9"


def toolchain_step(
    store_root: Path, registry_url: str, *, machine: str | None = None, pyenv_root: str | Path | None = None
) -> Toolchains:
    """The step over the store at `store_root`. `pyenv_root`: where host pythons are copied from
    (None: nowhere, so a python request never reads this machine's pyenv by accident)."""
    store = LayerStore(str(store_root), keep=TOOLCHAINS_KEPT)
    return Toolchains(
        store, NpmRegistry(registry_url), machine=machine, pyenv_root=str(pyenv_root or "/nonexistent")
    )
