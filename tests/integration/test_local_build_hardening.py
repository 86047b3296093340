"""LocalBuildRunner against what reviews found: hostile names in a source, inputs the install reads,
lockfiles an install writes, corepack on a layer hit, and leftovers of builds that died."""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chalicelib.domain.buildplan import BuildPlan, SourceTree, plan_build
from tests.fakes import FakeBlobStore
from tests.support.build_runner import (
    NODE_APP,
    CountingProgress,
    DepsWorld,
    RecordingLog,
    artifact_files,
    deps_line,
    deps_planner,
    request,
    runner,
    upload,
)


def stub_tools(tmp_path: Path, *names: str, script: str = "") -> dict[str, str]:
    """Build variables that put stand-ins for `names` first on PATH; each records its arguments,
    one line per call, bracketed word by word, in $CALLS (outside the work dir), then runs
    `script` (its own arguments as $1 ...)."""
    bin_dir = tmp_path / "stub-bin"
    bin_dir.mkdir(exist_ok=True)
    for name in names:
        path = bin_dir / name
        path.write_text(f'#!/bin/sh\nprintf "[%s]" {name} "$@" >> "$CALLS"\necho >> "$CALLS"\n{script}\n')
        path.chmod(0o755)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}", "CALLS": str(tmp_path / "calls.log")}


def calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


HOSTILE = "x;echo INJECTED;touch pwned $(touch pwned2)"


@pytest.mark.parametrize(
    ("files", "expected_calls", "start"),
    [
        (
            {"go.mod": "module example.com/app\n", f"cmd/{HOSTILE}/main.go": "package main\n"},
            ["[go][mod][download]", f"[go][build][-o][bin/{HOSTILE}][./cmd/{HOSTILE}]"],
            f"'./bin/{HOSTILE}'",
        ),
        (
            {"Cargo.toml": f'[package]\nname = "{HOSTILE}"\n', "src/main.rs": "fn main() {}\n"},
            ["[cargo][fetch]", "[cargo][build][--release]"],
            f"'./target/release/{HOSTILE}'",
        ),
    ],
)
def test_a_hostile_name_in_the_source_is_passed_as_one_argument_and_never_run(
    data_dir: Path,
    blobs: FakeBlobStore,
    tmp_path: Path,
    files: dict[str, str],
    expected_calls: list[str],
    start: str,
) -> None:
    # GIVEN a source whose Go command directory / Cargo package name is shell syntax
    variables = stub_tools(tmp_path, "go", "cargo")
    log = RecordingLog()

    # WHEN the real planner plans it and the runner runs the plan (go and cargo are stand-ins)
    result = runner(data_dir, blobs).build(
        request(upload(blobs, files), variables=variables), log, CountingProgress()
    )

    # THEN the tools got the name as one argument, and nothing in it ran
    assert calls(tmp_path) == expected_calls
    assert result.start_command == start
    assert "INJECTED" not in log.lines
    assert {"pwned", "pwned2"}.isdisjoint(artifact_files(blobs, result.artifact_key))


def inputs_of_the_real_plan(tree: SourceTree, override: str | None) -> BuildPlan:
    """The real plan's dependency inputs and dirs, with an install that needs no network."""
    planned = plan_build(tree, override)
    install = f'mkdir -p {planned.deps_dirs[0]} && echo ran >> "$MARKER"'
    return dataclasses.replace(planned, install=(install,), build=())


PRISMA_APP = {
    "package.json": json.dumps(
        {"dependencies": {"@prisma/client": "5"}, "scripts": {"postinstall": "prisma generate"}}
    ),
    "package-lock.json": "lock-v1",
    "prisma/schema.prisma": "model A { id Int @id }",
    "index.js": "v1",
}
LOCAL_PACKAGE_APP = {
    "package.json": json.dumps({"dependencies": {"shared": "file:./packages/shared"}}),
    "package-lock.json": "lock-v1",
    "packages/shared/package.json": "{}",
    "packages/shared/index.js": "v1",
    "index.js": "v1",
}
PATCHED_APP = {
    "package.json": json.dumps({"dependencies": {"a": "1"}, "scripts": {"postinstall": "patch-package"}}),
    "package-lock.json": "lock-v1",
    "patches/a+1.0.0.patch": "v1",
    "index.js": "v1",
}
NPMRC_APP = {
    "package.json": json.dumps({"dependencies": {"a": "1"}}),
    "package-lock.json": "lock-v1",
    ".npmrc": "registry=https://registry.npmjs.org/",
    "index.js": "v1",
}
EDITABLE_APP = {"requirements.txt": "-e ./libs/a\n", "libs/a/setup.py": "v1", "main.py": "v1"}
NESTED_REQUIREMENTS_APP = {
    "requirements.txt": "-r requirements/prod.txt\n",
    "requirements/prod.txt": "-r base.txt\n",
    "requirements/base.txt": "flask==3.0.0\n",
    "main.py": "v1",
}


@pytest.mark.parametrize(
    ("files", "source_change", "input_change"),
    [
        (PRISMA_APP, {"index.js": "v2"}, {"prisma/schema.prisma": "model B { id Int @id }"}),
        (LOCAL_PACKAGE_APP, {"index.js": "v2"}, {"packages/shared/index.js": "v2"}),
        (LOCAL_PACKAGE_APP, {"index.js": "v2"}, {"packages/shared/new.js": "added"}),
        (PATCHED_APP, {"index.js": "v2"}, {"patches/a+1.0.0.patch": "v2"}),
        (NPMRC_APP, {"index.js": "v2"}, {".npmrc": "registry=https://npm.example.com/"}),
        (EDITABLE_APP, {"main.py": "v2"}, {"libs/a/setup.py": "v2"}),
        (NESTED_REQUIREMENTS_APP, {"main.py": "v2"}, {"requirements/base.txt": "flask==3.0.3\n"}),
    ],
    ids=[
        "prisma-schema",
        "file-dependency",
        "file-dependency-new-file",
        "patches",
        "npmrc",
        "pip-editable",
        "nested-r",
    ],
)
def test_a_change_to_a_file_the_install_reads_misses_the_dependency_layer(
    data_dir: Path,
    blobs: FakeBlobStore,
    tmp_path: Path,
    files: dict[str, str],
    source_change: dict[str, str],
    input_change: dict[str, str],
) -> None:
    world = DepsWorld(data_dir, blobs, tmp_path, planner=inputs_of_the_real_plan)
    world.build(files)

    # A source-only change still reuses the layer ...
    _, source_log = world.build({**files, **source_change})
    assert deps_line(source_log)[0] == "hit"

    # ... but a change to what the install reads (a hook's input, a local package) installs again.
    _, input_log = world.build({**files, **source_change, **input_change})
    assert deps_line(input_log)[0] == "miss"
    assert world.installs() == 2


BERRY_APP_WITHOUT_LOCKFILE = {
    "package.json": json.dumps(
        {"packageManager": "yarn@4.5.3", "dependencies": {"ms": "2.1.3"}, "scripts": {"start": "node s.js"}}
    ),
    ".yarnrc.yml": "nodeLinker: node-modules\n",
    "s.js": "v1",
}


def berry_install_stand_in(tree: SourceTree, override: str | None) -> BuildPlan:
    """The real plan of a Yarn Berry project, with an install that writes what `yarn install` does
    (node_modules, the lockfile it resolved, its install state) and no registry."""
    planned = plan_build(tree, override)
    install = (
        "mkdir -p node_modules/ms .yarn && echo ms > node_modules/ms/index.js && echo resolved > yarn.lock "
        '&& echo state > .yarn/install-state.gz && echo ran >> "$MARKER"'
    )
    return dataclasses.replace(planned, install=(install,), build=(), tools={})


def test_a_layer_hit_brings_back_the_lockfile_yarn_berry_wrote(
    data_dir: Path, blobs: FakeBlobStore, tmp_path: Path
) -> None:
    # GIVEN a Yarn Berry project without a lockfile, built once: its install wrote one
    world = DepsWorld(data_dir, blobs, tmp_path, planner=berry_install_stand_in)
    world.build(BERRY_APP_WITHOUT_LOCKFILE)

    # WHEN a source-only change restores the dependency layer instead of installing
    result, log = world.build({**BERRY_APP_WITHOUT_LOCKFILE, "s.js": "v2"})

    # THEN the release has the lockfile and install state as after the install: `yarn start`
    # refuses a project that its lockfile lacks, so without them the warm release never starts
    assert deps_line(log)[0] == "hit"
    assert world.installs() == 1
    files = artifact_files(blobs, result.artifact_key)
    assert (files["yarn.lock"], files[".yarn/install-state.gz"]) == (b"resolved\n", b"state\n")
    assert files["s.js"] == b"v2"


def test_corepack_is_enabled_on_a_dependency_layer_hit(
    data_dir: Path, blobs: FakeBlobStore, tmp_path: Path
) -> None:
    # GIVEN a pnpm plan (stand-in tools) whose layer a first build stored
    install = 'if [ "$1" = install ]; then mkdir -p node_modules/x && echo x > node_modules/x/index.js; fi'
    variables = stub_tools(tmp_path, "corepack", "pnpm", script=install)
    planner = deps_planner(
        install=("corepack enable && pnpm install --frozen-lockfile",), build=("pnpm run build",)
    )
    world = DepsWorld(data_dir, blobs, tmp_path, planner=planner)
    world.build(NODE_APP, variables)

    # WHEN a source-only change restores the layer
    _, log = world.build({**NODE_APP, "index.js": "v2"}, variables)

    # THEN the install is skipped but the tool setup `pnpm run build` relies on still runs
    assert deps_line(log)[0] == "hit"
    assert calls(tmp_path) == [
        "[corepack][enable]",
        "[pnpm][install][--frozen-lockfile]",
        "[pnpm][run][build]",
        "[corepack][enable]",
        "[pnpm][run][build]",
    ]


def _crashed_staging(layers: Path, name: str) -> Path:
    """A staging dir whose build process died while holding its lock (the kernel released it)."""
    staging = layers / name
    code = (
        "import fcntl, os, sys\n"
        "fd = os.open(sys.argv[1] + '.lock', os.O_CREAT | os.O_WRONLY)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "os.makedirs(sys.argv[1] + '/tree/node_modules')\n"
        "os._exit(9)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(staging)], timeout=30)
    return staging


def test_leftovers_of_dead_builds_are_pruned_when_a_runner_starts(
    data_dir: Path, blobs: FakeBlobStore
) -> None:
    # GIVEN a layer store with an entry, a live build's staging dir, and what dead builds left
    layers = data_dir / "layers"
    (layers / ("a" * 64) / "tree").mkdir(parents=True)
    crashed = _crashed_staging(layers, ".new-bbbbbbbbbbbb-1")
    unlocked = layers / ".new-cccccccccccc-2"  # an older runner's, or a crash mid-cleanup
    (unlocked / "tree").mkdir(parents=True)
    old_trash, fresh_trash = layers / ".old-3", layers / ".old-4"
    (old_trash / "tree").mkdir(parents=True)
    (fresh_trash / "tree").mkdir(parents=True)  # may be being deleted right now
    orphan_lock = layers / ".new-dddddddddddd-5.lock"
    orphan_lock.touch()
    live = layers / ".new-eeeeeeeeeeee-6"
    live.mkdir()
    live_lock = os.open(f"{live}.lock", os.O_CREAT | os.O_WRONLY)
    fcntl.flock(live_lock, fcntl.LOCK_EX)
    an_hour_ago = time.time() - 3600
    for path in (old_trash, orphan_lock):
        os.utime(path, (an_hour_ago, an_hour_ago))

    try:
        # WHEN a runner starts on that data dir
        runner(data_dir, blobs)

        # THEN only the dead builds' leftovers are gone
        assert sorted(os.listdir(layers)) == sorted(
            ["a" * 64, fresh_trash.name, live.name, f"{live.name}.lock"]
        )
        assert not crashed.exists() and not unlocked.exists()
    finally:
        os.close(live_lock)

    # and once its build has finished (the lock released), the live one goes too
    runner(data_dir, blobs)
    assert sorted(os.listdir(layers)) == sorted(["a" * 64, fresh_trash.name])


def test_pruning_during_a_build_never_takes_its_staging_dir(
    data_dir: Path, blobs: FakeBlobStore, tmp_path: Path
) -> None:
    # GIVEN a build that stores its layer while other runners start (and prune) on the same host
    from chalicelib.adapters.builds.layer_store import LayerStore

    root = str(data_dir / "layers")
    store = LayerStore(root, keep=4)
    tarball = tmp_path / "layer.tar.gz"
    tarball.write_bytes(b"layer")
    os.makedirs(root)
    stale = _crashed_staging(Path(root), ".new-ffffffffffff-7")

    def fill(tree: str) -> None:
        os.makedirs(os.path.join(tree, "node_modules", "x"))
        LayerStore(root, keep=4, wall_clock=lambda: time.time() + 86_400).prune_stale()  # a day later
        with open(os.path.join(tree, "node_modules", "x", "index.js"), "w") as handle:
            handle.write("x")

    # WHEN it publishes its entry
    entry = store.add("k" * 64, str(tarball), fill)

    # THEN the entry is complete, and the dead build's staging dir was pruned before publishing
    assert entry is not None
    assert Path(entry, "tree", "node_modules", "x", "index.js").read_text() == "x"
    assert Path(entry, "layer.tar.gz").read_bytes() == b"layer"
    assert not stale.exists()
    assert sorted(os.listdir(root)) == ["k" * 64]
