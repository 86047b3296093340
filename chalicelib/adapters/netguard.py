"""NetGuard: one service's processes cannot open a TCP connection to another service's port.

The local platform gives every replica its port (PORT) and every service its uid (tenancy.py).
With netfilter (the `nft` tool, installed by `make install` as root), one table per platform,
`inet railyard_<key>`, holds the ports handed out (`app_ports`) and which uid owns each
(`owners`); its output-hook rule rejects (TCP reset) a connection that a process of a service uid
(`min_uid` and up) opens to a local address on a port in `app_ports` it does not own. The platform
(root: the router, health checks) and the host's other users are not affected, nor is traffic
leaving the machine. Without `nft` (or without netfilter in the kernel) the guard is off and the
platform says so; nothing else depends on it.

The table is the platform's: made fresh at start, deleted at stop, and deleted by the reaper when
the platform dies (railyard/localdev/reaper.py), so a killed platform leaves no rule behind for
long. A port stays claimed until the platform stops or another service is given the same port.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading

logger = logging.getLogger(__name__)

TABLE_PREFIX = "railyard_"


def ruleset(table: str, min_uid: int) -> str:
    return f"""
table inet {table} {{
  set app_ports {{ typeof tcp dport; }}
  set owners {{ typeof tcp dport . meta skuid; }}
  chain guard {{
    type filter hook output priority 0; policy accept;
    meta skuid < {min_uid} accept
    fib daddr type != local accept
    tcp flags & (syn | ack) == syn tcp dport @app_ports \
      tcp dport . meta skuid != @owners reject with tcp reset
  }}
}}
"""


def delete_table(table: str) -> None:
    """Removes a platform's table (idempotent: a missing table or a missing `nft` is fine)."""
    nft = shutil.which("nft")
    if nft is not None:
        subprocess.run([nft, "delete", "table", "inet", table], capture_output=True, check=False)


class NetGuard:
    def __init__(self, table: str, nft: str) -> None:
        self.table = table
        self._nft = nft
        self._owners: dict[int, int] = {}  # port -> uid, as written to the table
        self._lock = threading.Lock()

    @classmethod
    def start(cls, table: str, min_uid: int) -> NetGuard | None:
        """The guard whose table is `table`, made fresh; None (logged) when netfilter is not
        available here."""
        nft = shutil.which("nft")
        if nft is None:
            logger.warning("network isolation is OFF: `nft` is not installed (make install installs it)")
            return None
        delete_table(table)  # a killed run's, with its stale ports
        made = subprocess.run([nft, "-f", "-"], input=ruleset(table, min_uid), capture_output=True, text=True)
        if made.returncode != 0:
            logger.warning("network isolation is OFF: nft refused the table: %s", made.stderr.strip())
            return None
        return cls(table, nft)

    def claim(self, port: int, uid: int) -> None:
        with self._lock:
            previous = self._owners.get(port)
            if previous == uid:
                return
            script = ""
            if previous is not None:
                script += f"delete element inet {self.table} owners {{ {port} . {previous} }}\n"
            script += f"add element inet {self.table} app_ports {{ {port} }}\n"
            script += f"add element inet {self.table} owners {{ {port} . {uid} }}\n"
            done = subprocess.run([self._nft, "-f", "-"], input=script, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"nft could not claim port {port}: {done.stderr.strip()}")
            self._owners[port] = uid

    def close(self) -> None:
        delete_table(self.table)
