"""When a local replica counts as live, and what it is then (web or worker): domain/workloads.py.

Owns the readiness rule of one release on the local runtime:
- with a health-check path, today's strict rule: the replica answers 200 on that path within the
  health-check timeout (the caller's deadline), else the deploy fails;
- without one, the replica is live as soon as it accepts a TCP connection on its $PORT (WEB), or
  once its process stayed up for the worker settle time without doing so (WORKER), whichever comes
  first. Nothing here times out: a process that keeps running is a worker at the latest after the
  settle time. Exits are the caller's (it owns restarts).

The caller polls `probe` as it polled the health check (this is the runtime's own readiness wait,
not a worker step of the control plane); each probe is one connection attempt with a short timeout.
"""

from __future__ import annotations

import http.client
import socket
from dataclasses import dataclass

from chalicelib.domain.workloads import Workload

# A refused connection answers at once; this bounds a probe of a port that drops packets.
CONNECT_TIMEOUT_SECONDS = 0.5


@dataclass(frozen=True)
class ReadinessRule:
    """How the replicas of one release are judged live."""

    healthcheck_path: str | None
    healthcheck_timeout: float
    settle_seconds: float

    @property
    def strict(self) -> bool:
        return self.healthcheck_path is not None

    def waiting(self, replicas: str) -> str:
        """The log line before the wait."""
        if self.healthcheck_path is not None:
            return (
                f"healthcheck: waiting for 200 on {self.healthcheck_path}{replicas} "
                f"(timeout {self.healthcheck_timeout:g}s)"
            )
        return (
            f"readiness: no healthcheckPath: live once the process accepts connections on $PORT "
            f"(a web service) or stays up {self.settle_seconds:g}s without (a worker){replicas}"
        )

    def timed_out(self) -> str:
        return f"timeout after {self.healthcheck_timeout:g}s waiting for 200 on {self.healthcheck_path}"

    def probe(self, host: str, port: int, up_for: float, timeout: float) -> Workload | None:
        """WEB or WORKER once this replica (at `host`:`port`, up `up_for` seconds, still running)
        is live, else None. `host` is 127.0.0.1, or the replica's network namespace address."""
        if self.healthcheck_path is not None:
            return Workload.WEB if answers_200(host, port, self.healthcheck_path, timeout) else None
        if accepts_connection(host, port, min(timeout, CONNECT_TIMEOUT_SECONDS)):
            return Workload.WEB
        return Workload.WORKER if up_for >= self.settle_seconds else None

    def passed(self, workload: Workload, seconds: float) -> str:
        """The log line once every replica is live."""
        if self.strict:
            return f"healthcheck: passed after {seconds:.2f}s"
        if workload is Workload.WEB:
            return f"readiness: accepting connections on $PORT after {seconds:.2f}s: a web service"
        return (
            f"readiness: up {seconds:.2f}s without opening $PORT: a worker; no route and no URL "
            "(a web app slower to open its port: set a healthcheckPath, or raise "
            "RAILYARD_WORKER_SETTLE_SECONDS)"
        )


def accepts_connection(host: str, port: int, timeout: float) -> bool:
    """Whether something listens on `host`:`port` (a TCP handshake; nothing is sent)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def answers_200(host: str, port: int, path: str, timeout: float) -> bool:
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"User-Agent": "railyard-healthcheck", "Connection": "close"})
        return connection.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()
