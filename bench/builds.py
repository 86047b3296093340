"""Build cache benchmark: LocalBuildRunner alone (no platform), offline, in about a minute.

For a Python and a Node sample (copies of examples/hello-python and examples/hello-node whose
install step does real work offline), measures per round, each round on an empty cache:

1. cold build: nothing cached, the dependencies are installed;
2. rebuild after a source-only change (main.py / server.js edited, dependency inputs unchanged):
   the dependency layer is restored instead of installed. Target: <= 15 % of cold;
3. rebuild of identical source (a new upload of the same files): the artifact is reused.
   Target: <= 2 % of cold.

The heavier installs, generated in a temp dir and installed with no network:
- python: requirements.txt -> `pip install --no-index --find-links <tmp>` of a generated wheel of
  WHEEL_MODULES modules (pip unpacks it and byte-compiles every module);
- node: package.json depending on NODE_PACKAGES local `file:` tarball packages under vendor/,
  with a package-lock.json, so the build runs `npm ci` (offline: npm_config_offline=true).

Each figure is the median over BENCH_ROUNDS rounds (default 3) of `LocalBuildRunner.build()`'s wall
time (source download, extraction, hashing, planning, commands, packing and upload, against an
in-memory blob store). Every round checks the cache did what the figure claims (miss, deps hit,
artifact hit), so a figure cannot come from the wrong path. Prints a table, writes
bench/builds.json and exits 1 if a target is missed (2 if a build did not go as expected).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as `python bench/builds.py` from a checkout

from chalicelib.adapters.builds.local import CacheReport, LocalBuildRunner  # noqa: E402
from chalicelib.domain.buildplan import BuildPlan, SourceTree, plan_build  # noqa: E402
from chalicelib.domain.models import ServiceSettings  # noqa: E402
from chalicelib.domain.ports import BuildRequest  # noqa: E402
from tests.fakes import FakeBlobStore as MemoryBlobStore  # noqa: E402
from tests.fakes import FakeLog  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
WHEEL_MODULES = int(os.environ.get("BENCH_WHEEL_MODULES", "250"))
NODE_PACKAGES = int(os.environ.get("BENCH_NODE_PACKAGES", "80"))
SOURCE_ONLY_TARGET = 0.15
IDENTICAL_TARGET = 0.02
RESULTS = ROOT / "bench" / "builds.json"
SOURCES, ARTIFACTS = "sources", "artifacts"

# A fallback for plans without dependency-layer fields (detection fills them for python and node
# today, so this only matters if a planner change drops them): the files that decide the installed
# dependencies and the directory `install` writes. A plan that already has them is left alone.
LAYER_SHIM = {
    "python": (("requirements.txt", "pyproject.toml", ".python-version", "runtime.txt"), (".venv",)),
    "node": (("package.json", "package-lock.json", "npm-shrinkwrap.json", ".nvmrc"), ("node_modules",)),
}


def planner_with_layer(tree: SourceTree, override: str | None) -> BuildPlan:
    plan = plan_build(tree, override)
    if plan.provider in LAYER_SHIM and not (plan.deps_inputs or plan.deps_dirs):
        inputs, dirs = LAYER_SHIM[plan.provider]
        plan = dataclasses.replace(plan, deps_inputs=inputs, deps_dirs=dirs)
    return plan


# --- the sample apps --------------------------------------------------------------------------------


def _module_source(index: int) -> str:
    """A module with enough code that byte-compiling it is real work."""
    lines = [f'"""Generated module {index}."""', "import math", ""]
    for j in range(60):
        lines += [
            f"def f_{j}(x, y=1):",
            "    total = 0",
            "    for k in range(x):",
            f"        total += math.sqrt(k * {j} + y) if k % 3 else k ** 2",
            "    return total",
            "",
            f"class C{j}:",
            "    def m(self, a):",
            f"        return [a * n for n in range({j})]",
            "",
        ]
    return "\n".join(lines) + "\n"


def make_wheel(directory: Path, modules: int) -> str:
    """A pure-python wheel written by hand (no setuptools/wheel needed); returns its requirement."""
    name, version = "railyard_benchlib", "1.0"
    files = {f"{name}/__init__.py": "VERSION = '1.0'\n"}
    files.update({f"{name}/m{i:04d}.py": _module_source(i) for i in range(modules)})
    info = f"{name}-{version}.dist-info"
    files[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    files[f"{info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: railyard-bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,"]) + "\n"
    directory.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(directory / f"{name}-{version}-py3-none-any.whl", "w", zipfile.ZIP_DEFLATED) as whl:
        for path, text in files.items():
            whl.writestr(path, text)
    return f"{name}=={version}"


def python_app(work: Path) -> Path:
    app = work / "hello-python"
    shutil.copytree(ROOT / "examples" / "hello-python", app)
    wheels = work / "wheels"
    requirement = make_wheel(wheels, WHEEL_MODULES)
    (app / "requirements.txt").write_text(f"--no-index\n--find-links {wheels}\n{requirement}\n")
    return app


def _npm_package(path: Path, name: str, modules: int) -> None:
    """An npm package tarball (entries under package/, as `npm pack` writes them)."""
    files = {"package/package.json": json.dumps({"name": name, "version": "1.0.0", "main": "index.js"})}
    exports = ", ".join(f"m{i}: () => require('./lib/m{i}.js')" for i in range(modules))
    files["package/index.js"] = f"module.exports = {{{exports}}};\n"
    for i in range(modules):
        functions = (f"exports.f{j} = (x) => x * {j} + {i};" for j in range(100))
        files[f"package/lib/m{i}.js"] = "\n".join(functions) + "\n"
    with tarfile.open(path, "w:gz") as tar:
        for member, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(member)
            info.size, info.mode, info.mtime = len(data), 0o644, 1_700_000_000
            tar.addfile(info, io.BytesIO(data))


def node_app(work: Path, env: dict[str, str]) -> Path:
    app = work / "hello-node"
    shutil.copytree(ROOT / "examples" / "hello-node", app)
    (app / "vendor").mkdir()
    dependencies = {}
    for index in range(NODE_PACKAGES):
        name = f"railyard-benchdep-{index:02d}"
        _npm_package(app / "vendor" / f"{name}-1.0.0.tgz", name, modules=40)
        dependencies[name] = f"file:vendor/{name}-1.0.0.tgz"
    manifest = json.loads((app / "package.json").read_text())
    manifest["dependencies"] = dependencies
    (app / "package.json").write_text(json.dumps(manifest, indent=2) + "\n")
    # A lockfile, as a real app has: the plan then runs `npm ci`.
    subprocess.run(
        ["npm", "install", "--package-lock-only", "--no-audit", "--no-fund"],
        cwd=app,
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )
    return app


# --- measuring ------------------------------------------------------------------------------------------


def pack(directory: Path, mtime: int) -> bytes:
    """The source upload, as `railyard up` would send it (every mtime = `mtime`)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                info = tar.gettarinfo(str(path), arcname=str(path.relative_to(directory)))
                info.mtime = mtime
                with path.open("rb") as handle:
                    tar.addfile(info, handle)
    return buffer.getvalue()


@dataclasses.dataclass
class Round:
    cold: float
    source_only: float
    identical: float
    install_seconds: float
    layer_bytes: int
    artifact_bytes: int


class BuildFailedExpectation(Exception):
    """A build did not take the cache path its figure stands for."""


def run_round(app: Path, entry: str, variables: dict[str, str], round_no: int, work: Path) -> Round:
    blobs = MemoryBlobStore()
    runner = LocalBuildRunner(
        str(work / f"data-{app.name}-{round_no}"), blobs, SOURCES, ARTIFACTS, planner=planner_with_layer
    )
    counter = iter(range(1, 100))

    def build(source: bytes, expect: Callable[[CacheReport], bool], what: str) -> float:
        number = next(counter)
        key = f"sources/{app.name}/{round_no}-{number}.tar.gz"
        blobs.put_bytes(SOURCES, key, source)
        request = BuildRequest(
            deployment_id=f"bench-{round_no}-{number}",
            service_id="svc_bench",
            source_key=key,
            settings=ServiceSettings(build_timeout=300),
            variables=variables,
        )
        log = FakeLog()
        started = time.perf_counter()
        runner.build(request, log, lambda: None)
        elapsed = time.perf_counter() - started
        report = runner.last_report
        if report is None or not expect(report):
            print("\n".join(log.lines[-30:]), file=sys.stderr)
            raise BuildFailedExpectation(f"{app.name} {what}: unexpected cache report {report}")
        return elapsed

    original = (app / entry).read_text()
    try:
        cold = build(pack(app, 1_700_000_000), lambda r: (r.artifact, r.deps) == ("miss", "miss"), "cold")
        layer_keys = [k for k in blobs.list_keys(ARTIFACTS, "deps/") if k.endswith(".json")]
        install_seconds = json.loads(blobs.get_bytes(ARTIFACTS, layer_keys[0]))["install_seconds"]
        layer_bytes = len(blobs.get_bytes(ARTIFACTS, layer_keys[0].removesuffix(".json") + ".tar.gz"))
        comment = "#" if entry.endswith(".py") else "//"
        (app / entry).write_text(f"{original}\n{comment} source-only change {round_no}\n")
        changed = pack(app, 1_700_000_100)
        source_only = build(changed, lambda r: (r.artifact, r.deps) == ("miss", "hit"), "source-only")
        # The same files uploaded again (other mtimes, as a fresh `railyard up` of the tree).
        identical = build(pack(app, 1_700_000_200), lambda r: r.artifact == "hit", "identical")
    finally:
        (app / entry).write_text(original)
    artifact_bytes = max(len(blobs.get_bytes(ARTIFACTS, k)) for k in blobs.list_keys(ARTIFACTS, "artifacts/"))
    return Round(cold, source_only, identical, install_seconds, layer_bytes, artifact_bytes)


def measure(name: str, app: Path, entry: str, variables: dict[str, str], work: Path) -> dict[str, Any]:
    rounds = [run_round(app, entry, variables, n, work) for n in range(ROUNDS)]
    cold = statistics.median(r.cold for r in rounds)
    source_only = statistics.median(r.source_only for r in rounds)
    identical = statistics.median(r.identical for r in rounds)
    return {
        "app": name,
        "rounds": [dataclasses.asdict(r) for r in rounds],
        "cold_seconds": round(cold, 3),
        "install_seconds": round(statistics.median(r.install_seconds for r in rounds), 3),
        "source_only_seconds": round(source_only, 3),
        "source_only_ratio": round(source_only / cold, 4),
        "identical_seconds": round(identical, 3),
        "identical_ratio": round(identical / cold, 4),
        "layer_mb": round(rounds[0].layer_bytes / 1e6, 2),
        "artifact_mb": round(rounds[0].artifact_bytes / 1e6, 2),
    }


def main() -> int:
    started = time.perf_counter()
    results: list[dict[str, Any]] = []
    skipped: list[str] = []
    with tempfile.TemporaryDirectory(prefix="railyard-bench-builds-") as tmp:
        work = Path(tmp)
        base = {"PIP_ROOT_USER_ACTION": "ignore", "PIP_NO_CACHE_DIR": "1"}
        apps: list[tuple[str, Callable[[], Path], str, dict[str, str]]] = [
            ("python", lambda: python_app(work), "main.py", base),
        ]
        npm_env = {
            "npm_config_offline": "true",
            "npm_config_cache": str(work / "npm-cache"),
            "npm_config_update_notifier": "false",
        }
        if shutil.which("npm"):
            apps.append(("node", lambda: node_app(work, npm_env), "server.js", {**base, **npm_env}))
        else:
            skipped.append("node (npm is not installed)")
        try:
            for name, make, entry, variables in apps:
                print(f"{name}: preparing the sample app and running {ROUNDS} rounds…", flush=True)
                results.append(measure(name, make(), entry, variables, work))
        except BuildFailedExpectation as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2

    missed = []
    print()
    header = ("cold", "(install)", "source-only", "ratio", "identical", "ratio")
    print(f"{'app':<8}" + "".join(f"{h:>{w}}" for h, w in zip(header, (9, 11, 13, 8, 11, 8), strict=True)))
    for r in results:
        print(
            f"{r['app']:<8} {r['cold_seconds']:>7.2f}s {r['install_seconds']:>9.2f}s "
            f"{r['source_only_seconds']:>11.2f}s {r['source_only_ratio']:>6.1%} "
            f"{r['identical_seconds']:>9.3f}s {r['identical_ratio']:>6.1%}"
        )
        for figure, target in (("source_only", SOURCE_ONLY_TARGET), ("identical", IDENTICAL_TARGET)):
            ratio = r[f"{figure}_ratio"]
            if ratio > target:
                missed.append(f"{r['app']} {figure} rebuild {ratio:.1%} > {target:.0%} of cold")
    print(f"targets: source-only <= {SOURCE_ONLY_TARGET:.0%}, identical <= {IDENTICAL_TARGET:.0%} of cold")
    for note in skipped:
        print(f"skipped: {note}")

    RESULTS.write_text(
        json.dumps(
            {
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
                f"python {platform.python_version()}",
                "rounds": ROUNDS,
                "workload": {"wheel_modules": WHEEL_MODULES, "node_packages": NODE_PACKAGES},
                "targets": {"source_only_ratio": SOURCE_ONLY_TARGET, "identical_ratio": IDENTICAL_TARGET},
                "results": results,
                "skipped": skipped,
                "missed": missed,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS.relative_to(ROOT)} in {time.perf_counter() - started:.0f} s")
    for miss in missed:
        print(f"MISSED: {miss}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
