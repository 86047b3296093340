"""The local platform's helper processes: the AWS emulator (moto, or LocalStack and DynamoDB Local
through railyard/localdev/tether.py) and the reaper.

Both are started with a pipe on their standard input whose only writer is the platform, so each
learns of the platform's death (even by SIGKILL) as end-of-file and exits (the reaper after
stopping the apps and builds the platform left). Their output goes to a log file in the data
directory, never to the terminal.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

EMULATOR_START_SECONDS = 60.0


class Child:
    """A child process tied to this one by its standard input."""

    def __init__(self, name: str, argv: list[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log: IO[bytes] = open(log_path, "ab")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [sys.executable, *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=env,
        )

    @property
    def log_name(self) -> str:
        return self._log.name

    def read_line(self, timeout: float) -> str:
        """The first line the child prints (its handshake), or RuntimeError naming the log."""
        result: list[str] = []
        assert self.proc.stdout is not None
        stdout = self.proc.stdout
        reader = threading.Thread(target=lambda: result.append(stdout.readline().decode()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not result or not result[0].strip():
            self.stop(timeout=1.0)
            raise RuntimeError(f"the {self.name} did not start; see {self._log.name}")
        return result[0]

    def stop(self, timeout: float = 10.0) -> None:
        """Closes its standard input (the signal to exit), then waits; SIGKILL if it lingers."""
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()


def start_emulator(data_dir: Path, port: int, log_path: Path) -> tuple[Child, int]:
    """railyard/localdev/emulator.py on 127.0.0.1:`port` (0: a free one); returns it and its port."""
    started = time.monotonic()
    child = Child(
        "AWS emulator",
        ["-m", "railyard.localdev.emulator", "--data-dir", str(data_dir), "--port", str(port)],
        log_path,
    )
    line = child.read_line(EMULATOR_START_SECONDS - (time.monotonic() - started))
    return child, int(json.loads(line)["port"])


def start_reaper(groups_dir: Path, log_path: Path, nft_table: str | None = None) -> Child:
    """The reaper of `groups_dir`'s process groups; it also deletes the netfilter table
    `nft_table` (chalicelib/adapters/netguard.py) when the platform dies."""
    extra = [nft_table] if nft_table else []
    return Child("reaper", ["-m", "railyard.localdev.reaper", str(groups_dir), *extra], log_path)
