"""Where LocalBuildRunner keeps its two caches (local.py's docstring describes them): the whole
artifact's metadata (`artifacts/<digest>.json`, written last) and the dependency layer
(`deps/<key>.tar.gz` + `.json`) in the artifact bucket, with this host's extracted copies in a
LayerStore. Reading, reusing, restoring and storing them; anything wrong with a cached entry is a
miss, never a failed build."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chalicelib.adapters import venvs
from chalicelib.adapters.builds.deps_layer import CacheReport, DepsLayer
from chalicelib.adapters.builds.layer_store import LayerStore
from chalicelib.adapters.builds.trees import (
    Fingerprint,
    changed_in_place,
    extract_layer,
    fingerprint,
    link_tree,
    pack,
    pack_paths,
    remove_paths,
)
from chalicelib.domain.built_release import BuiltRelease
from chalicelib.domain.errors import BuildFailed, NotFound
from chalicelib.domain.ports import BlobStore, BuildResult, LogSink


class BuildCaches:
    """The artifact and dependency-layer caches of one runner, in `bucket` and `layers`."""

    def __init__(self, blobs: BlobStore, bucket: str, layers: LayerStore, clock: Callable[[], float]) -> None:
        self._blobs = blobs
        self._bucket = bucket
        self._layers = layers
        self._clock = clock

    def reuse_artifact(
        self, artifact_key: str, digest: str, cached: dict[str, Any], log: LogSink
    ) -> tuple[BuildResult, CacheReport]:
        """The cached artifact as this build's result, and what the cache did."""
        saved = cached.get("build_seconds")
        if isinstance(saved, float):
            log.write(f"build: cache hit (sha256 {digest[:12]}…), saved {saved:.1f} s")
        else:  # written before build times were recorded
            log.write(f"build: cache hit (sha256 {digest[:12]}…); reusing artifact")
        log.flush()
        report = CacheReport("hit", "none", saved if isinstance(saved, float) else 0.0, None)
        result = BuildResult(
            cached["built"], cached=True, provider=cached["provider"], cache=report.to_json()
        )
        return result, report

    def restore_deps(
        self, layer: DepsLayer, src: str, build_dir: str, log: LogSink
    ) -> tuple[float, str] | None:
        """Puts the cached layer into `src`; returns the install time it saves and the layer store
        entry it came from, or None (a miss).

        Anything wrong with a cached layer is a miss, never a failed build: installing again is
        always correct, and the new layer overwrites the bad one."""
        try:
            meta = json.loads(self._blobs.get_bytes(self._bucket, layer.meta))
            saved = float(meta["install_seconds"])
        except NotFound:
            return None
        except (ValueError, KeyError, TypeError):
            log.write(f"deps: cached layer metadata for {layer.label} is unreadable; installing again")
            return None
        started = self._clock()
        entry = self._layers.get(layer.key)
        where = "this host's layer store"
        try:
            if entry is None:
                where = "the bucket"
                tarball = os.path.join(build_dir, "deps.tar.gz")
                self._blobs.download_file(self._bucket, layer.tarball, tarball)
                entry = self._layers.add(
                    layer.key, tarball, lambda tree: extract_layer(tarball, tree)
                ) or self._layers.get(layer.key)
                if entry is None:
                    raise BuildFailed("the layer store could not keep it")
            remove_paths(src, layer.dirs)  # exactly the cached result, not a merge with uploaded files
            link_tree(os.path.join(entry, LayerStore.TREE), layer.dirs, src)
            # A virtualenv names the build dir it was installed in; this build's is another.
            if not venvs.relocate(src, src):
                raise BuildFailed("its virtualenv's python is no longer in the toolchain store")
        except (NotFound, BuildFailed, OSError) as exc:
            remove_paths(src, layer.dirs)  # half-restored: let `install` start clean
            log.write(f"deps: cached layer for {layer.label} is unusable ({exc}); installing again")
            return None
        log.write(f"deps: restored {', '.join(layer.dirs)} from {where} in {self._clock() - started:.1f} s")
        log.write(f"deps: cache hit ({layer.label}), saved {saved:.1f} s")
        return saved, entry

    def store_deps(self, layer: DepsLayer, src: str, build_dir: str, install_seconds: float) -> str | None:
        """Uploads the freshly installed layer and keeps it in this host's layer store; returns the
        store entry (None if the store could not keep it: only an optimisation is lost)."""
        tarball = os.path.join(build_dir, "deps.tar.gz")
        pack_paths(src, layer.dirs, tarball)
        self._blobs.upload_file(self._bucket, layer.tarball, tarball)
        # Metadata last: its presence is what marks the layer as complete for the cache check.
        meta = {
            "install_seconds": round(install_seconds, 3),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "inputs": [{"path": path, "sha256": sha} for path, sha in layer.inputs],
            "dirs": list(layer.dirs),
        }
        self._blobs.put_bytes(self._bucket, layer.meta, json.dumps(meta).encode())
        try:
            # Replaces an existing entry: after NO_CACHE the fresh install is the one to keep.
            return self._layers.add(layer.key, tarball, lambda tree: link_tree(src, layer.dirs, tree))
        except OSError:
            return None

    def pack_artifact(
        self,
        src: str,
        artifact: str,
        layer: DepsLayer | None,
        entry: str | None,
        before: Fingerprint | None,
    ) -> None:
        """Packs the artifact, reusing the layer's compressed bytes when the deps dirs are still
        exactly what the layer store entry holds (the usual case: `build` leaves them alone)."""
        if layer is None or entry is None or before is None:
            pack(src, artifact)
            return
        after = fingerprint(src, layer.dirs)
        if after != before:
            # The build wrote into the deps dirs (node_modules/.cache...): pack them as they are now.
            # A file changed in place is also changed in the store (a hardlink): drop that copy.
            if changed_in_place(before, after):
                self._layers.evict(layer.key)
            pack(src, artifact)
            return
        try:
            pack(src, artifact, splice=(layer.dirs, os.path.join(entry, LayerStore.TARBALL)))
        except FileNotFoundError:  # evicted meanwhile by a concurrent build
            pack(src, artifact)

    def cached_artifact(self, artifact_key: str, meta_key: str) -> dict[str, Any] | None:
        # One read, not three: the metadata is written after the artifact, so its presence
        # means the artifact is complete (this check is on every deploy's critical path).
        try:
            meta = json.loads(self._blobs.get_bytes(self._bucket, meta_key))
        except NotFound:
            return None
        try:
            # Metadata written before BuiltRelease has no artifact key (it is this object's).
            cached: dict[str, Any] = {
                "built": BuiltRelease.from_dict({"artifactKey": artifact_key, **meta}),
                "provider": str(meta["provider"]),
            }
            if isinstance(meta.get("build_seconds"), int | float):
                cached["build_seconds"] = float(meta["build_seconds"])
            return cached
        except (ValueError, KeyError, TypeError):
            return None  # unreadable metadata: rebuild, which rewrites it


def metadata_key(artifact_key: str) -> str:
    """`artifacts/<digest>.json` beside `artifacts/<digest>.tar.gz`: written last, so it marks the
    artifact complete."""
    return (
        artifact_key.removesuffix(".tar.gz") + ".json" if artifact_key.endswith(".tar.gz") else artifact_key
    )
