"""LocalBuildRunner's caches: the dependency layer (stored, restored, keyed, spliced into the artifact,
kept per host) and the whole artifact, with real archives and real subprocesses."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from chalicelib.domain.buildplan import DeployConfig
from chalicelib.domain.errors import BuildFailed
from tests.fakes import FakeBlobStore
from tests.support.build_runner import (
    ARTIFACTS,
    BUILD,
    INSTALL,
    NODE_APP,
    DepsWorld,
    RecordingLog,
    artifact_files,
    deps_line,
    deps_planner,
    runner,
)


def test_first_build_installs_and_stores_the_dependency_layer(
    data_dir: Path, blobs: FakeBlobStore, tmp_path: Path
) -> None:
    world = DepsWorld(data_dir, blobs, tmp_path)

    result, log = world.build(NODE_APP)

    assert world.installs() == 1
    assert deps_line(log)[0] == "miss"
    assert any(
        re.fullmatch(
            r"deps: cache miss \(lockfile [0-9a-f]{12}…\); installed in \d+\.\d s; cached for next builds",
            line,
        )
        for line in log.lines
    ), log.text()
    report = world.runner.last_report
    assert report is not None and report.deps_key is not None
    assert (report.artifact, report.deps, report.saved_seconds) == ("miss", "miss", 0.0)
    assert result.cache == report.to_json()
    assert blobs.list_keys(ARTIFACTS, "deps/") == [
        f"deps/{report.deps_key}.json",
        f"deps/{report.deps_key}.tar.gz",
    ]
    meta = json.loads(blobs.get_bytes(ARTIFACTS, f"deps/{report.deps_key}.json"))
    assert meta["install_seconds"] >= 0.3
    assert meta["created_at"].endswith("+00:00")
    assert [i["path"] for i in meta["inputs"]] == ["package.json", "package-lock.json"]
    with tarfile.open(
        fileobj=io.BytesIO(blobs.get_bytes(ARTIFACTS, f"deps/{report.deps_key}.tar.gz"))
    ) as tar:
        assert sorted(tar.getnames()) == ["node_modules", "node_modules/x", "node_modules/x/index.js"]
    assert log.lines[-2].startswith("cache: artifact miss, deps miss (lockfile ")


def test_a_source_only_change_restores_the_layer_instead_of_installing(
    data_dir: Path, blobs: FakeBlobStore, tmp_path: Path
) -> None:
    world = DepsWorld(data_dir, blobs, tmp_path)
    _, first_log = world.build(NODE_APP)

    result, log = world.build({**NODE_APP, "index.js": "console.log('v2')\n"})

    assert world.installs() == 1  # the install command did not run again
    assert f"$ {INSTALL}" not in log.lines
    assert f"$ {BUILD}" in log.lines  # the build step always runs
    assert deps_line(log) == ("hit", deps_line(first_log)[1])
    hit = next(line for line in log.lines if line.startswith("deps: cache hit"))
    assert re.fullmatch(r"deps: cache hit \(lockfile [0-9a-f]{12}…\), saved 0\.[3-9] s", hit), hit
    report = world.runner.last_report
    assert report is not None
    assert (report.artifact, report.deps) == ("miss", "hit")
    assert report.saved_seconds >= 0.3
    assert result.cache is not None and result.cache["deps"] == "hit"
    files = artifact_files(blobs, result.artifact_key)
    assert files["node_modules/x/index.js"] == b"dep of lock-v1\n"  # restored, and the build saw it
    assert files["built.txt"] == b"dep of lock-v1\n"
    assert files["index.js"] == b"console.log('v2')\n"


@pytest.mark.parametrize(
    "change",
    [
        {"package-lock.json": "lock-v2"},  # new lockfile content
        {"yarn.lock": ""},  # an input that was absent now exists
    ],
)
def test_a_dependency_input_change_misses_and_installs(
    data_dir: Path, blobs: FakeBlobStore, tmp_path: Path, change: dict[str, str]
) -> None:
    world = DepsWorld(data_dir, blobs, tmp_path)
    _, first_log = world.build(NODE_APP)

    _, log = world.build({**NODE_APP, **change})

    assert world.installs() == 2
    state, key = deps_line(log)
    assert state == "miss"
    assert key != deps_line(first_log)[1]
    assert len(blobs.list_keys(ARTIFACTS, "deps/")) == 4  # both layers are kept


@pytest.mark.parametrize(
    "plan_change",
    [
        {"language_version": "22"},
        {"provider": "bun"},
        {"install": (INSTALL + " # --production",)},
        {"env": {"NODE_ENV": "production"}},
    ],
)
def test_the_key_covers_language_version_provider_install_commands_and_plan_env(
    data_dir: Path, blobs: FakeBlobStore, tmp_path: Path, plan_change: dict[str, object]
) -> None:
    world = DepsWorld(data_dir, blobs, tmp_path)
    world.build(NODE_APP)
    world.runner = runner(data_dir, blobs, planner=deps_planner(**plan_change))

    _, log = world.build({**NODE_APP, "index.js": "changed"})

    assert deps_line(log)[0] == "miss"
    assert world.installs() == 2


def test_identical_source_reuses_the_artifact_and_reports_the_time_saved(
    data_dir: Path, blobs: FakeBlobStore, tmp_path: Path
) -> None:
    world = DepsWorld(data_dir, blobs, tmp_path)
    first, _ = world.build(NODE_APP)

    second, log = world.build(NODE_APP)

    assert second.cached is True
    assert second.artifact_key == first.artifact_key
    assert world.installs() == 1
    [line] = log.lines
    match = re.fullmatch(r"build: cache hit \(sha256 [0-9a-f]{12}…\), saved (\d+\.\d) s", line)
    assert match is not None, line
    assert float(match.group(1)) >= 0.3  # the first build's duration, install included
    report = world.runner.last_report
    assert report is not None
    assert (report.artifact, report.deps, report.deps_key) == ("hit", "none", None)
    assert report.saved_seconds >= 0.3
    assert second.cache == report.to_json()


@pytest.mark.parametrize(
    ("how", "logged"),
    [
        ({"variables": {"NO_CACHE": "1"}}, "cache: disabled by NO_CACHE=1"),
        ({"request": {"no_cache": True}}, "cache: disabled by --no-cache"),
        ({"runner": {"no_cache": True}}, "cache: disabled by --no-cache"),
    ],
)
def test_no_cache_forces_a_cold_build_and_still_refreshes_the_caches(
    data_dir: Path, blobs: FakeBlobStore, tmp_path: Path, how: dict[str, dict[str, object]], logged: str
) -> None:
    world = DepsWorld(data_dir, blobs, tmp_path)
    first, _ = world.build(NODE_APP)
    cold_runner = runner(data_dir, blobs, planner=deps_planner(), **how.get("runner", {}))
    world.runner, warm_runner = cold_runner, world.runner

    cold, log = world.build(NODE_APP, variables=how.get("variables"), **how.get("request", {}))  # type: ignore[arg-type]

    assert world.installs() == 2  # installed again although both caches held this source
    assert cold.cached is False
    assert log.lines[0] == logged
    assert "deps: cache disabled; installed in " in "\n".join(log.lines)
    report = cold_runner.last_report
    assert report is not None
    assert (report.artifact, report.deps, report.saved_seconds) == ("disabled", "disabled", 0.0)
    assert log.lines[-2] == "cache: artifact disabled, deps disabled, saved 0.0 s"
    # NO_CACHE is a directive, not a build input: the cold build rewrote the entry normal builds use.
    assert cold.artifact_key == first.artifact_key
    world.runner = warm_runner
    again, _ = world.build(NODE_APP)
    assert again.cached is True


def test_an_unusable_cached_layer_is_a_miss_not_a_failure(
    data_dir: Path, blobs: FakeBlobStore, tmp_path: Path
) -> None:
    world = DepsWorld(data_dir, blobs, tmp_path)
    world.build(NODE_APP)
    [layer] = blobs.list_keys(ARTIFACTS, "deps/")[1:]
    blobs.put_bytes(ARTIFACTS, layer, b"not a tarball")
    world.runner = runner(tmp_path / "other-host", blobs, planner=deps_planner())  # no local copy

    result, log = world.build({**NODE_APP, "index.js": "v2"})

    assert world.installs() == 2
    assert any(line.startswith("deps: cached layer for lockfile ") for line in log.lines), log.text()
    assert deps_line(log)[0] == "miss"
    assert artifact_files(blobs, result.artifact_key)["built.txt"] == b"dep of lock-v1\n"
    assert blobs.get_bytes(ARTIFACTS, layer).startswith(b"\x1f\x8b")  # rewritten by the successful install


@pytest.mark.parametrize(
    ("plan_change", "logged"),
    [
        ({"install": ()}, "deps: nothing to install"),
        ({"deps_dirs": ()}, "deps: not cached (the plan names no dependency directories)"),
        ({"deps_inputs": ()}, "deps: not cached (the plan names no dependency inputs such as a lockfile)"),
        (
            {"deps_dirs": ("../elsewhere",)},
            "deps: not cached (dependency directory '../elsewhere' is outside the app)",
        ),
    ],
)
def test_a_plan_without_a_cacheable_layer_installs_every_time(
    data_dir: Path, blobs: FakeBlobStore, tmp_path: Path, plan_change: dict[str, object], logged: str
) -> None:
    world = DepsWorld(data_dir, blobs, tmp_path, planner=deps_planner(build=(), **plan_change))

    world.build(NODE_APP)
    _, log = world.build({**NODE_APP, "index.js": "v2"})

    assert logged in log.lines
    assert world.installs() == (0 if plan_change == {"install": ()} else 2)
    assert blobs.list_keys(ARTIFACTS, "deps/") == []
    report = world.runner.last_report
    assert report is not None and (report.deps, report.deps_key) == ("none", None)


def restored_from(log: RecordingLog) -> str:
    [line] = [line for line in log.lines if line.startswith("deps: restored ")]
    return line


def test_another_host_restores_from_the_bucket_and_then_from_its_own_store(
    data_dir: Path, blobs: FakeBlobStore, tmp_path: Path
) -> None:
    world = DepsWorld(data_dir, blobs, tmp_path)
    world.build(NODE_APP)
    _, same_host = world.build({**NODE_APP, "index.js": "v2"})
    world.runner = runner(tmp_path / "other-host", blobs, planner=deps_planner())

    other, from_bucket = world.build({**NODE_APP, "index.js": "v3"})
    _, from_store = world.build({**NODE_APP, "index.js": "v4"})

    assert world.installs() == 1
    assert "from this host's layer store" in restored_from(same_host)
    assert "from the bucket" in restored_from(from_bucket)
    assert "from this host's layer store" in restored_from(from_store)
    assert artifact_files(blobs, other.artifact_key)["built.txt"] == b"dep of lock-v1\n"


def test_a_spliced_artifact_is_one_valid_tar_for_python_and_gnu_tar(
    data_dir: Path, blobs: FakeBlobStore, tmp_path: Path
) -> None:
    world = DepsWorld(data_dir, blobs, tmp_path)
    world.build(NODE_APP)

    result, _ = world.build({**NODE_APP, "index.js": "v2"})

    files = artifact_files(blobs, result.artifact_key)
    expected = {"index.js", "package.json", "package-lock.json", "built.txt", ".railyard/runtime.json"}
    assert set(files) == expected | {"node_modules/x/index.js"}
    if shutil.which("tar"):
        archive = tmp_path / "artifact.tar.gz"
        archive.write_bytes(blobs.get_bytes(ARTIFACTS, result.artifact_key))
        listed = subprocess.run(["tar", "-tzf", str(archive)], capture_output=True, text=True, check=True)
        assert "node_modules/x/index.js" in listed.stdout.split()
        assert "index.js" in listed.stdout.split()


def test_a_build_that_changes_a_dependency_in_place_does_not_corrupt_the_cache(
    data_dir: Path, blobs: FakeBlobStore, tmp_path: Path
) -> None:
    # Appending keeps the inode: with hardlinks this also writes into this host's layer store.
    world = DepsWorld(
        data_dir, blobs, tmp_path, planner=deps_planner(build=("echo patched >> node_modules/x/index.js",))
    )
    world.build(NODE_APP)

    patched, _ = world.build({**NODE_APP, "index.js": "v2"})
    again, log = world.build({**NODE_APP, "index.js": "v3"})

    assert (
        artifact_files(blobs, patched.artifact_key)["node_modules/x/index.js"] == b"dep of lock-v1\npatched\n"
    )
    # The next build starts from the layer as installed, not as the previous build left it.
    assert (
        artifact_files(blobs, again.artifact_key)["node_modules/x/index.js"] == b"dep of lock-v1\npatched\n"
    )
    assert "from the bucket" in restored_from(log)  # the altered local copy was dropped
    assert world.installs() == 1


def test_files_a_build_adds_to_the_deps_dirs_go_into_that_artifact_only(
    data_dir: Path, blobs: FakeBlobStore, tmp_path: Path
) -> None:
    build = "mkdir -p node_modules/.cache && echo $RANDOM > node_modules/.cache/c && test -f index.js"
    world = DepsWorld(data_dir, blobs, tmp_path, planner=deps_planner(build=(build,)))
    world.build(NODE_APP)

    result, log = world.build({**NODE_APP, "index.js": "v2"})

    assert "node_modules/.cache/c" in artifact_files(blobs, result.artifact_key)
    assert "from this host's layer store" in restored_from(log)
    [store_entry] = os.listdir(data_dir / "layers")
    assert not (data_dir / "layers" / store_entry / "tree" / "node_modules" / ".cache").exists()


def test_the_layer_store_keeps_only_the_most_recent_entries(
    data_dir: Path, blobs: FakeBlobStore, tmp_path: Path
) -> None:
    world = DepsWorld(data_dir, blobs, tmp_path, layer_store_entries=2)

    for lock in ("lock-a", "lock-b", "lock-c"):
        world.build({**NODE_APP, "package-lock.json": lock})

    report = world.runner.last_report
    assert report is not None
    kept = os.listdir(data_dir / "layers")
    assert len(kept) == 2
    assert report.deps_key in kept


def test_config_file_deploy_settings_are_returned_by_a_build_and_by_a_cache_hit(
    data_dir: Path, blobs: FakeBlobStore, tmp_path: Path
) -> None:
    deploy = DeployConfig(healthcheck_path="/ready", healthcheck_timeout=5.0, start_command="x")
    world = DepsWorld(data_dir, blobs, tmp_path, planner=deps_planner(deploy=deploy))

    built, _ = world.build(NODE_APP)
    reused, _ = world.build(NODE_APP)

    expected = {"healthcheck_path": "/ready", "healthcheck_timeout": 5.0}  # ServiceSettings keys only
    assert built.built.deploy_settings == expected
    assert (reused.cached, reused.built.deploy_settings) == (True, expected)


def test_source_paths_never_leave_the_source_tree(tmp_path: Path) -> None:
    from chalicelib.adapters.builds.source_tree import DirectorySourceTree

    (tmp_path / "secret.txt").write_text("host file")
    root = tmp_path / "src"
    root.mkdir()
    (root / "app.py").write_text("print()")
    (root / "escape").symlink_to(tmp_path / "secret.txt")
    tree = DirectorySourceTree(str(root))
    assert tree.exists("app.py")
    for outside in ("../secret.txt", str(tmp_path / "secret.txt"), "escape"):
        assert not tree.exists(outside), outside


def test_a_variable_prefix_is_not_mistaken_for_the_program() -> None:
    from chalicelib.adapters.builds.commands import require_toolchain

    require_toolchain("SECRET_KEY_BASE_DUMMY=1 sh -c true", {"PATH": os.defpath})
    with pytest.raises(BuildFailed, match="`railyard-no-such-tool` is not installed"):
        require_toolchain("GOWORK=off railyard-no-such-tool mod download", {"PATH": os.defpath})


def test_artifacts_are_not_shared_between_environments_or_services(tmp_path: Path) -> None:
    from chalicelib.adapters.builds.trees import content_hash

    (tmp_path / "app.py").write_text("print()")
    keys = {
        content_hash(str(tmp_path), None, {}, scope=scope)
        for scope in ("svc_a/production", "svc_a/staging", "svc_b/production")
    }
    assert len(keys) == 3
