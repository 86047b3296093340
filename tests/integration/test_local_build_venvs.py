"""A virtualenv per release, through the real local build runner and runtime (issue 11 part 2):
the interpreter is a copy of the host's pyenv python in the toolchain store, each app installs into
its own `.venv` offline (pip from a local wheel dir), runs with nothing of the platform's
importable, and a source-only change restores the dependency layer into another directory and
the app still starts."""

from __future__ import annotations

import http.client
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib.adapters.builds.layer_store import LayerStore
from chalicelib.adapters.builds.local import LocalBuildRunner
from chalicelib.adapters.builds.npm_registry import NpmRegistry
from chalicelib.adapters.builds.toolchains import TOOLCHAINS_KEPT, Toolchains, host_pythons
from chalicelib.adapters.runtime.local import LocalRuntime
from chalicelib.domain.buildplan import DEFAULT_PYTHON_VERSION
from chalicelib.domain.models import ServiceSettings
from chalicelib.domain.ports import BuildRequest, ReleaseSpec
from tests.fakes import FakeBlobStore
from tests.support.wheels import FLASK_APP, offline_requirements, tiny_flask_wheel

SOURCES, ARTIFACTS, SERVICE, HOST = "sources", "artifacts", "svc_py", "venv-app"
PYENV_ROOT = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
needs_pyenv = pytest.mark.skipif(
    not any(v.startswith(f"{DEFAULT_PYTHON_VERSION}.") for v in host_pythons(PYENV_ROOT)),
    reason=f"this host's pyenv has no python {DEFAULT_PYTHON_VERSION}",
)
pytestmark = needs_pyenv


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, message: str) -> None:
        self.lines.append(message)

    def flush(self) -> None:
        pass

    def text(self) -> str:
        return "\n".join(self.lines)


def no_progress() -> None:
    pass


@pytest.fixture
def wheels() -> Iterator[Path]:
    """A wheel dir any uid can read (pytest's tmp is root's alone)."""
    directory = Path(tempfile.mkdtemp(prefix="railyard-wheels-"))
    tiny_flask_wheel(directory)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[tuple[LocalBuildRunner, LocalRuntime, FakeBlobStore]]:
    blobs = FakeBlobStore()
    data_dir = str(tmp_path / "data")
    builder = LocalBuildRunner(data_dir, blobs, SOURCES, ARTIFACTS)
    runtime = LocalRuntime(data_dir, blobs, ARTIFACTS, lambda *args: None)  # type: ignore[arg-type]
    runtime.start()
    try:
        yield builder, runtime, blobs
    finally:
        runtime.close()
        builder.close()


def build(
    builder: LocalBuildRunner, blobs: FakeBlobStore, files: dict[str, str], deployment: str
) -> tuple[str, Log]:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    key = f"src/{deployment}.tar.gz"
    blobs.put_bytes(SOURCES, key, buffer.getvalue())
    log = Log()
    request = BuildRequest(
        deployment_id=deployment, service_id=SERVICE, source_key=key, settings=ServiceSettings()
    )
    result = builder.build(request, log, no_progress)
    return result.artifact_key, log


def activate(runtime: LocalRuntime, artifact_key: str, release_id: str, log: Log) -> None:
    spec = ReleaseSpec(
        service_id=SERVICE,
        hostname=HOST,
        deployment_id=f"dep_{release_id}",
        release_id=release_id,
        artifact_key=artifact_key,
        start_command="python3 main.py",
        variables={},
        settings=ServiceSettings(
            healthcheck_path="/", healthcheck_timeout=20.0, restart_policy_max_retries=0
        ),
    )
    runtime.activate(spec, log, no_progress)


def get(runtime: LocalRuntime) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", runtime.router_port, timeout=10)
    try:
        connection.request("GET", "/", headers={"Host": f"{HOST}.localhost:{runtime.router_port}"})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def flask_app(wheels: Path, main: str = FLASK_APP) -> dict[str, str]:
    return {
        "requirements.txt": offline_requirements(wheels, "flask==0.0.1"),
        "main.py": main,
    }


def test_the_copied_python_is_made_once_and_runs_for_another_uid(tmp_path: Path) -> None:
    # GIVEN a toolchain store any uid can reach (as the tenant root is)
    root = Path(tempfile.mkdtemp(prefix="railyard-toolchains-"))
    try:
        store = LayerStore(str(root / "store"), keep=TOOLCHAINS_KEPT)
        first, second = Log(), Log()

        # WHEN two builds ask for the default python
        provided = Toolchains(store, NpmRegistry("http://127.0.0.1:9"), pyenv_root=PYENV_ROOT).provide(
            "python", {}, os.environ, str(tmp_path), first
        )
        Toolchains(store, NpmRegistry("http://127.0.0.1:9"), pyenv_root=PYENV_ROOT).provide(
            "python", {}, os.environ, str(tmp_path), second
        )

        # THEN the first copies it (the log says how big and how long), the second pays nothing
        assert "copied from the host's pyenv into the toolchain store" in first.text(), first.lines
        print(first.lines[-1])  # the figure: size and seconds of the copy
        assert second.lines == [
            f"toolchain: python {next(iter(_versions()))} ({DEFAULT_PYTHON_VERSION}, the default) from the "
            "toolchain store"
        ]
        # ... and a uid that cannot read pyenv makes a venv from it, with ssl and sqlite3 working
        python = os.path.join(provided.bin_dirs[0], "python3")
        venv = root / "venv"
        uid = {"user": 200_777, "group": 200_777, "extra_groups": []} if os.geteuid() == 0 else {}
        if uid:
            root.chmod(0o777)
        script = "import ssl, sqlite3, sys; print(sys.base_prefix)"
        subprocess.run([python, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60, **uid)  # type: ignore[call-overload]
        done = subprocess.run(
            [str(venv / "bin" / "python"), "-c", script], capture_output=True, text=True, timeout=30, **uid
        )  # type: ignore[call-overload]
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip().startswith(str(root / "store"))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _versions() -> list[str]:
    return [v for v in host_pythons(PYENV_ROOT) if v.startswith(f"{DEFAULT_PYTHON_VERSION}.")]


@pytest.mark.parametrize("module", ["flask", "boto3"])
def test_an_app_importing_what_it_did_not_install_fails_to_start(
    platform: tuple[LocalBuildRunner, LocalRuntime, FakeBlobStore], module: str
) -> None:
    # GIVEN an app whose requirements.txt is empty but which imports flask (or boto3, which the
    # platform itself has)
    builder, runtime, blobs = platform
    artifact, _ = build(builder, blobs, {"requirements.txt": "", "main.py": f"import {module}\n"}, "dep_1")

    # WHEN it is started THEN it fails, and the log says why
    log = Log()
    with pytest.raises(Exception):  # noqa: B017 - which error is the runtime's business; the log is ours
        activate(runtime, artifact, "rel_1", log)
    assert f"ModuleNotFoundError: No module named '{module}'" in log.text()


def test_an_app_serves_from_its_own_venv_and_a_source_only_change_reuses_the_layer(
    platform: tuple[LocalBuildRunner, LocalRuntime, FakeBlobStore], wheels: Path
) -> None:
    builder, runtime, blobs = platform
    # GIVEN an app with flask in its requirements, built and started
    artifact, first_log = build(builder, blobs, flask_app(wheels), "dep_1")
    assert any(line.startswith("deps: cache miss") for line in first_log.lines), first_log.text()
    assert "$ python3 -m venv --copies .venv" in first_log.lines
    activate(runtime, artifact, "rel_1", Log())
    assert get(runtime) == (200, "hello from a venv")

    # WHEN only the source changes
    artifact, second_log = build(
        builder, blobs, flask_app(wheels, FLASK_APP.replace("a venv", "v2")), "dep_2"
    )

    # THEN the venv is restored (into another build dir), not installed, and the new release starts
    assert any(line.startswith("deps: cache hit") for line in second_log.lines), second_log.text()
    assert "$ python3 -m venv --copies .venv" not in second_log.lines
    activate(runtime, artifact, "rel_2", Log())
    assert get(runtime) == (200, "hello from v2")

    # ... its venv names the release's own directory: console scripts run, VIRTUAL_ENV is set
    app_dir = runtime._release_dir("rel_2") / "app"
    runtime_env = json.loads((app_dir / ".railyard" / "runtime.json").read_text())["env"]
    assert runtime_env["VIRTUAL_ENV"] == "{app}/.venv"
    assert runtime_env["PATH"].startswith("{app}/.venv/bin:")
    assert "PYTHONPATH" not in runtime_env
    script = (app_dir / ".venv" / "bin" / "tiny-flask").read_text().splitlines()[0]
    assert script == f"#!{app_dir}/.venv/bin/python"
    ran = subprocess.run(
        [str(app_dir / ".venv" / "bin" / "tiny-flask")], capture_output=True, text=True, timeout=30
    )
    assert ran.stdout.strip() == "tiny-flask", ran.stderr
    assert "builds/dep_" not in (app_dir / ".venv" / "pyvenv.cfg").read_text()
