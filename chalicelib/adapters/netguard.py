"""NetGuard: one service's processes cannot open a TCP connection to another service's port.

The local platform gives every replica its port (PORT) and every service its uid (tenancy.py).
With netfilter (the `nft` tool, installed by `make install` as root), one table per platform,
`inet railyard_<key>`, holds the ports handed out (`app_ports`) and which uid owns each
(`owners`); its output-hook rule rejects (TCP reset) a connection that a process of one of its
services' uids (`tenant_uids`, added by `admit`) opens to a local address on a port in
`app_ports` it does not own. The platform
(root: the router, health checks) and the host's other users are not affected, nor is traffic
leaving the machine. Without `nft` (or without netfilter in the kernel) the guard is off and the
platform says so; nothing else depends on it.

The table is the platform's: made fresh at start, deleted at stop, and deleted by the reaper when
the platform dies (railyard/localdev/reaper.py), so a killed platform leaves no rule behind for
long. A port stays claimed until the platform stops or another service is given the same port.

That per-port table is the fallback. Where network namespaces work (netns.py), apps run in their
own and the table is the enclosing one (`enclosing_ruleset`): from the platform's app interfaces
(`iifname "<prefix>*"`) only the *exposed* ports reach the host, rewritten to the host address
that serves them (the router on 127.0.0.1, a loopback registry or DNS resolver); every other packet
to a host address is refused, nothing is forwarded to another app's namespace nor to the cloud
metadata range, and only replies are forwarded into a namespace. Builds still run in the host's
namespace as their service's uid: for them the output rule refuses any local address except the
exposed ports, and every app namespace.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading

logger = logging.getLogger(__name__)

TABLE_PREFIX = "railyard_"
# Every platform's app namespaces (netns.APP_NETWORK) and the link-local range of cloud metadata
# endpoints: no app or build connects there.
_NEVER_FORWARDED = "198.18.0.0/15, 169.254.0.0/16"


# The uids of this platform's services (`NetGuard.admit`): the rules apply to them alone, so two
# platforms on one host (pytest workers) never filter each other's builds and apps.
_TENANTS = "set tenant_uids { typeof meta skuid; }"


def ruleset(table: str) -> str:
    return f"""
table inet {table} {{
  {_TENANTS}
  set app_ports {{ typeof tcp dport; }}
  set owners {{ typeof tcp dport . meta skuid; }}
  chain guard {{
    type filter hook output priority 0; policy accept;
    meta skuid != @tenant_uids accept
    fib daddr type != local accept
    tcp flags & (syn | ack) == syn tcp dport @app_ports \
      tcp dport . meta skuid != @owners reject with tcp reset
  }}
}}
"""


def enclosing_ruleset(table: str, prefix: str) -> str:
    apps = f'iifname "{prefix}*"'
    return f"""
table inet {table} {{
  {_TENANTS}
  set exposed_ports {{ typeof th dport; }}
  map exposed_to {{ typeof th dport : ip daddr; }}
  chain guard {{
    type filter hook output priority 0; policy accept;
    # Only packets of a service uid's socket: the platform's, and the resets and ICMP errors the
    # kernel sends for it (no socket), pass untouched.
    meta skuid @tenant_uids jump service_uid
  }}
  chain service_uid {{
    ip daddr {{ {_NEVER_FORWARDED} }} reject with icmpx type admin-prohibited
    fib daddr type != local accept
    ct state established,related accept
    meta l4proto {{ tcp, udp }} th dport @exposed_ports accept
    meta l4proto tcp reject with tcp reset
    reject with icmpx type port-unreachable
  }}
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    {apps} fib daddr type local meta l4proto {{ tcp, udp }} dnat ip to th dport map @exposed_to
  }}
  chain input {{
    type filter hook input priority filter; policy accept;
    {apps} ct state established,related accept
    {apps} ct status dnat accept
    {apps} meta l4proto tcp reject with tcp reset
    {apps} reject with icmpx type admin-prohibited
  }}
  chain forward {{
    type filter hook forward priority filter; policy accept;
    oifname "{prefix}*" ct state established,related accept
    oifname "{prefix}*" reject with icmpx type admin-prohibited
    {apps} ip daddr {{ {_NEVER_FORWARDED} }} reject with icmpx type admin-prohibited
  }}
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    {apps} oifname != "{prefix}*" masquerade
  }}
}}
"""


def delete_table(table: str) -> None:
    """Removes a platform's table (idempotent: a missing table or a missing `nft` is fine)."""
    nft = shutil.which("nft")
    if nft is not None:
        subprocess.run([nft, "delete", "table", "inet", table], capture_output=True, check=False)


class NetGuard:
    def __init__(self, table: str, nft: str, enclosing: bool = False) -> None:
        self.table = table
        self.enclosing = enclosing  # apps run in namespaces; ports need no claim
        self._nft = nft
        self._owners: dict[int, int] = {}  # port -> uid, as written to the table
        self._lock = threading.Lock()

    @classmethod
    def start(cls, table: str, enclosure_prefix: str | None = None) -> NetGuard | None:
        """The guard whose table is `table`, made fresh; None (logged) when netfilter is not
        available here. With `enclosure_prefix` (the app interfaces' prefix), the enclosing table."""
        nft = shutil.which("nft")
        if nft is None:
            logger.warning("network isolation is OFF: `nft` is not installed (make install installs it)")
            return None
        delete_table(table)  # a killed run's, with its stale ports
        rules = ruleset(table) if enclosure_prefix is None else enclosing_ruleset(table, enclosure_prefix)
        made = subprocess.run([nft, "-f", "-"], input=rules, capture_output=True, text=True)
        if made.returncode != 0:
            logger.warning("network isolation is OFF: nft refused the table: %s", made.stderr.strip())
            return None
        return cls(table, nft, enclosing=enclosure_prefix is not None)

    def admit(self, uid: int) -> None:
        """`uid` is one of this platform's services: the rules now apply to its processes."""
        self._run(f"add element inet {self.table} tenant_uids {{ {uid} }}\n", f"admit uid {uid}")

    def _run(self, script: str, what: str) -> None:
        done = subprocess.run([self._nft, "-f", "-"], input=script, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"nft could not {what}: {done.stderr.strip()}")

    def claim(self, port: int, uid: int) -> None:
        if self.enclosing:
            return  # the port is in the app's own namespace
        with self._lock:
            previous = self._owners.get(port)
            if previous == uid:
                return
            script = ""
            if previous is not None:
                script += f"delete element inet {self.table} owners {{ {port} . {previous} }}\n"
            script += f"add element inet {self.table} app_ports {{ {port} }}\n"
            script += f"add element inet {self.table} owners {{ {port} . {uid} }}\n"
            self._run(script, f"claim port {port}")
            self._owners[port] = uid

    def expose(self, port: int, address: str = "127.0.0.1") -> None:
        """Apps (from their namespaces) and builds may reach `address`:`port` on the host."""
        if not self.enclosing:
            return
        script = (
            f"add element inet {self.table} exposed_ports {{ {port} }}\n"
            f"add element inet {self.table} exposed_to {{ {port} : {address} }}\n"
        )
        self._run(script, f"expose port {port}")

    def close(self) -> None:
        delete_table(self.table)
