"""`railyard dev` as a subprocess for end-to-end and fault tests: start it on free ports with its own
RAILYARD_HOME, drive it through the `railyard` CLI, the API and the router, stop it with SIGTERM or
kill it with SIGKILL, start it again on the same data.

Every server binds 127.0.0.1 on free ports; every process started here is stopped here.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import requests

from chalicelib.adapters.builds import toolchain_store

ROOT = Path(__file__).resolve().parents[2]
RAILYARD = [str(Path(sys.executable).parent / "railyard")]
START_SECONDS = 90


@dataclass
class Dev:
    home: Path
    api_url: str
    router_port: int
    token: str
    moto_port: int = 0
    data_dir: Path = field(default_factory=Path)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RAILYARD_"))}
        env["RAILYARD_HOME"] = str(self.home)
        return env

    def cli(
        self, *args: str, cwd: Path, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*RAILYARD, *args], cwd=cwd, env=self.env(), capture_output=True, text=True, timeout=timeout
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"railyard {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
            )
        return result

    def get(self, hostname: str, path: str = "/") -> tuple[int, str]:
        conn = http.client.HTTPConnection("127.0.0.1", self.router_port, timeout=5)
        try:
            conn.request("GET", path, headers={"Host": f"{hostname}.localhost:{self.router_port}"})
            response = conn.getresponse()
            return response.status, response.read().decode()
        finally:
            conn.close()

    def get_once_routed(
        self, hostname: str, expected: tuple[int, str], path: str = "/", within: float = 5.0
    ) -> tuple[int, str]:
        """The answer for `hostname`, once it is `expected` or after `within` seconds (the last one).

        A deployment is recorded SUCCESS just before the router moves to its release
        (docs/decisions/0010: the commit comes first, so a refused commit never served): a request
        sent the instant SUCCESS is read may still reach the previous release, for milliseconds
        (longer on a loaded machine)."""
        deadline = time.monotonic() + within
        answer = self.get(hostname, path)
        while answer != expected and time.monotonic() < deadline:
            time.sleep(0.05)
            answer = self.get(hostname, path)
        return answer

    def api(self, method: str, path: str, **kwargs: object) -> dict:  # type: ignore[type-arg]
        response = requests.request(
            method,
            self.api_url + path,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
            **kwargs,  # type: ignore[arg-type]
        )
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def latest_deployment_id(self, service_id: str) -> str:
        return str(self.api("GET", f"/v1/services/{service_id}/deployments?limit=1")["deployments"][0]["id"])

    def wait_for_log(self, deployment_id: str, text: str, within: float, stream: str = "deploy") -> None:
        """Returns once the deployment's log (`stream`: deploy or build) holds `text`, or after
        `within` seconds (the caller's assertions on `railyard logs` then say what is missing).

        Polls the API, one request each time: a `railyard logs` per poll is a new Python process
        (~0.4 s of CPU), and a loaded machine makes the wait, and so the polls, many."""
        deadline = time.monotonic() + within
        seen, cursor = "", 0
        while text not in seen and time.monotonic() < deadline:
            response = requests.get(
                f"{self.api_url}/v1/deployments/{deployment_id}/logs?stream={stream}&after={cursor}",
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=10,
            )
            if response.status_code == 200:  # a 404 is "nothing logged yet"
                page = response.json()
                seen += "".join(line["message"] + "\n" for line in page["lines"])
                cursor = page["next"]
            if text not in seen:
                time.sleep(0.2)

    def app(self, tmp: Path, example: str, project: str, service: str = "web") -> Path:
        directory = tmp / project
        shutil.copytree(ROOT / "examples" / example, directory)
        self.cli("init", "--project", project, "--name", service, cwd=directory)
        return directory

    def link(self, directory: Path) -> dict:  # type: ignore[type-arg]
        return json.loads((directory / ".railyard.json").read_text())  # type: ignore[no-any-return]


class DevProcess:
    """One `railyard dev` process on a RAILYARD_HOME; `start` again after `kill` or `stop` to restart
    it on the same data directory."""

    def __init__(
        self, home: Path, extra_env: dict[str, str] | None = None, args: tuple[str, ...] = ()
    ) -> None:
        self.home = home
        self.args = args
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RAILYARD_"))}
        self.env["RAILYARD_HOME"] = str(home)
        self.env.update(extra_env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.dev: Dev | None = None  # the running platform's handles
        self.starts = 0

    @property
    def log_path(self) -> Path:
        return self.home / f"dev-{self.starts}.log"

    def start(self, *extra_args: str) -> Dev:
        """Starts the platform and returns once it said it is ready (dev.json of this process)."""
        self.starts += 1
        (self.home / "dev.json").unlink(missing_ok=True)  # a killed run leaves its own behind
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                [*RAILYARD, "dev", "--api-port", "0", "--router-port", "0", *self.args, *extra_args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_SECONDS
        state: dict[str, object] = {}
        while state.get("pid") != self.proc.pid:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise AssertionError("railyard dev did not start:\n" + self.log_path.read_text())
            time.sleep(0.1)
            with contextlib.suppress(OSError, ValueError):
                state = json.loads((self.home / "dev.json").read_text())
        config = json.loads((self.home / "config.json").read_text())
        self.dev = Dev(
            self.home,
            str(state["api_url"]),
            int(str(state["router_port"])),
            config["token"],
            int(str(state["moto_port"])),
            data_dir=Path(str(state["data_dir"])),
        )
        return self.dev

    def output(self) -> str:
        return self.log_path.read_text()

    def kill(self) -> None:
        """SIGKILL, as a crash would: nothing of the platform runs its shutdown."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait()

    def close(self) -> int:
        """`stop`, then remove what outlives a clean stop by design: the toolchain store, which
        with isolation lies outside the test's directories (toolchain_store.py)."""
        code = self.stop()
        if self.dev is not None:
            toolchain_store.remove_store(self.dev.data_dir)
        return code

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, as Ctrl-C would; SIGKILL if it does not stop in time. Returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


@contextlib.contextmanager
def running_dev(
    home: Path, extra_env: dict[str, str] | None = None, args: tuple[str, ...] = ()
) -> Iterator[Dev]:
    """`railyard dev` on free ports with its own RAILYARD_HOME; SIGTERM (then SIGKILL) at the end."""
    process = DevProcess(home, extra_env, args)
    try:
        yield process.start()
    finally:
        process.close()


class SharedPlatform:
    """One `railyard dev` that the modules taking the default platform share (tests/conftest.py):
    started by the first of them, stopped when the next test needs it no more (idle, the platform
    still costs ~0.1 of a core), started again on a fresh RAILYARD_HOME if a later test does."""

    def __init__(self, new_home: Callable[[], Path]) -> None:
        self._new_home = new_home
        self._process: DevProcess | None = None

    def dev(self) -> Dev:
        """The running platform's handles; a platform that died under an earlier module fails the
        next one at once, naming why, instead of timing out on every request."""
        if self._process is None:
            process = DevProcess(self._new_home())
            process.start()
            self._process = process
        if self._process.dev is None or self._process.proc is None or self._process.proc.poll() is not None:
            raise AssertionError("the shared railyard dev is not running:\n" + self._process.output())
        return self._process.dev

    def close(self) -> None:
        if self._process is not None:
            process, self._process = self._process, None
            process.close()


def write_app(directory: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(text)
    return directory
