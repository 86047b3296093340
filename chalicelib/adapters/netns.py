"""Enclosures: each app process group of the local platform in its own network namespace.

An enclosure is one network namespace with a veth pair to the host on a private /30 of
198.18.0.0/15 (RFC 2544's benchmarking range: not a LAN's, not the cloud metadata's). The app
binds $PORT inside (on 0.0.0.0, or 127.0.0.1: what arrives from the host is rewritten to the
namespace's loopback); the router and the health checks reach it at the namespace's address.
Its loopback, its abstract unix sockets and its ports are its own, so no other tenant reaches them.
From inside, 127.0.0.1 on an *exposed* port (the router, loopback package registries, a loopback
DNS resolver) is rewritten to the host end of the veth, where the platform's table
(netguard.py) rewrites it back to the host's loopback; every other packet to a host address is
refused there, and packets to other apps' namespaces are never forwarded.

Lifetime, without bookkeeping: the namespace is created with a name (`ip netns add`), wired, held
by an open file descriptor, and its name removed at once. The process enters it through that
descriptor (`nsenter --net=/proc/self/fd/N`, then drops to the service's uid), so the namespace,
and with it both ends of the veth, disappear when the last process in it exits — a replica that
stops, crashes or is killed with the platform takes its network with it. Names left by a platform
killed between two of those steps are swept at start by the platform's interface prefix.

Addresses are unique per host: one flock'd file serialises the choice among every platform on the
machine (tests run several at once), and the choice reads the host's addresses in use.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import logging
import os
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

APP_NETWORK = ipaddress.IPv4Network("198.18.0.0/15")
_BLOCK = 4  # a /30: network, host end, app end, broadcast
_LOCK_FILE = Path("/run/railyard-netns.lock")
_NETNS_DIR = Path("/run/netns")
INSIDE_INTERFACE = "eth0"
_TOOLS = ("ip", "nft", "nsenter")


@dataclass(frozen=True)
class Launch:
    """How to start one process group: the argv wrapper, extra Popen arguments and the address
    the platform reaches its listeners at."""

    address: str = "127.0.0.1"
    prefix: tuple[str, ...] = ()
    popen: dict[str, Any] = field(default_factory=dict)

    def argv(self, argv: list[str]) -> list[str]:
        return [*self.prefix, *argv]


class Enclosures:
    """The namespaces of one platform: interface names start with `prefix` (≤ 10 characters)."""

    def __init__(self, prefix: str, exposed: Iterable[int] = ()) -> None:
        self.prefix = prefix
        self._exposed = sorted(set(exposed))
        self._tools = {tool: shutil.which(tool) or tool for tool in _TOOLS}

    @classmethod
    def start(cls, prefix: str) -> tuple[Enclosures | None, str]:
        """Enclosures for this host, after sweeping a killed run's leftovers, or None and why not."""
        missing = [tool for tool in _TOOLS if shutil.which(tool) is None]
        if os.geteuid() != 0 or missing:
            return None, "not root" if os.geteuid() != 0 else f"{', '.join(missing)} not installed"
        enclosures = cls(prefix)
        enclosures.sweep()
        try:
            with enclosures.open():
                pass
        except (OSError, RuntimeError) as refused:
            return None, f"this host refuses network namespaces: {refused}"
        return enclosures, ""

    def expose(self, ports: Iterable[int]) -> None:
        """Host loopback ports that namespaces opened from now on reach at their own 127.0.0.1."""
        self._exposed = sorted(set(self._exposed) | set(ports))

    @contextlib.contextmanager
    def open(self) -> Iterator[Enclosure]:
        """A wired namespace held by a descriptor; once the block exits only the processes started
        in it keep it alive."""
        with _host_lock():
            index = _free_block(self._addresses_in_use())
            enclosure = Enclosure(self, index)
            try:
                enclosure.create_host_side()
            except BaseException:
                enclosure.remove()
                raise
        try:
            enclosure.wire_inside(self._exposed)
            enclosure.hold()
        except BaseException:
            enclosure.remove()
            raise
        try:
            yield enclosure
        finally:
            enclosure.release()

    def sweep(self) -> None:
        """Interfaces and namespace names of this platform that a killed run left."""
        links = json.loads(self.run("ip", "-j", "link", "show").stdout or "[]")
        for link in links:
            name = str(link.get("ifname", "")).split("@")[0]
            if name.startswith(self.prefix):
                self.run("ip", "link", "delete", name, check=False)
        if _NETNS_DIR.is_dir():
            for path in _NETNS_DIR.glob(f"{self.prefix}*"):
                self.run("ip", "netns", "delete", path.name, check=False)

    def run(self, tool: str, *args: str, stdin: str | None = None, check: bool = True) -> Any:
        done = subprocess.run(
            [self._tools[tool], *args], input=stdin, capture_output=True, text=True, check=False
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"`{tool} {' '.join(args)}` failed: {done.stderr.strip()}")
        return done

    def _addresses_in_use(self) -> set[ipaddress.IPv4Address]:
        shown = json.loads(self.run("ip", "-j", "-4", "addr", "show").stdout or "[]")
        return {
            ipaddress.IPv4Address(info["local"])
            for link in shown
            for info in link.get("addr_info", [])
            if "local" in info
        }


class Enclosure:
    """One namespace: `name` (host interface and, briefly, namespace name), its two addresses."""

    def __init__(self, owner: Enclosures, index: int) -> None:
        self.owner = owner
        self.name = f"{owner.prefix}{index:04x}"
        base = APP_NETWORK.network_address + index * _BLOCK
        self.host_address = str(base + 1)
        self.address = str(base + 2)
        self._fd: int | None = None

    def create_host_side(self) -> None:
        self.owner.run(
            "ip",
            "-batch",
            "-",
            stdin=(
                f"netns add {self.name}\n"
                f"link add {self.name} type veth peer name {INSIDE_INTERFACE} netns {self.name}\n"
                f"addr add {self.host_address}/30 dev {self.name}\n"
                f"link set {self.name} up\n"
            ),
        )
        # Exposed ports arrive here rewritten to the host's loopback (netguard.py); the kernel
        # routes such packets only where route_localnet is on: this one interface.
        Path(f"/proc/sys/net/ipv4/conf/{self.name}/route_localnet").write_text("1")

    def wire_inside(self, exposed: list[int]) -> None:
        self.owner.run(
            "ip",
            "-n",
            self.name,
            "-batch",
            "-",
            stdin=(
                f"addr add {self.address}/30 dev {INSIDE_INTERFACE}\n"
                "link set lo up\n"
                f"link set {INSIDE_INTERFACE} up\n"
                f"route add default via {self.host_address}\n"
            ),
        )
        # Sysctls under /proc/sys/net are the reading process's namespace's: set from inside.
        script = (
            "echo 1 > /proc/sys/net/ipv4/conf/all/route_localnet && "
            f"echo 1 > /proc/sys/net/ipv4/conf/{INSIDE_INTERFACE}/route_localnet && exec nft -f -"
        )
        self.owner.run(
            "nsenter",
            f"--net={_NETNS_DIR / self.name}",
            "/bin/sh",
            "-c",
            script,
            stdin=self._ruleset(exposed),
        )

    def _ruleset(self, exposed: list[int]) -> str:
        ports = ", ".join(str(port) for port in exposed)
        loopback = "ip daddr 127.0.0.0/8 meta l4proto { tcp, udp }"
        to_host = f"{loopback} th dport {{ {ports} }} dnat ip to {self.host_address}" if exposed else ""
        return f"""
table ip railyard {{
  chain prerouting {{
    type nat hook prerouting priority -100;
    # Only the host connects in (the router, health checks): to the app's loopback, so an app that
    # listens on 127.0.0.1:$PORT, as it could before namespaces, still serves.
    iifname "{INSIDE_INTERFACE}" meta l4proto tcp dnat ip to 127.0.0.1
  }}
  chain output {{
    type nat hook output priority -100;
    {to_host}
  }}
  chain postrouting {{
    type nat hook postrouting priority 100;
    oifname "{INSIDE_INTERFACE}" ip saddr 127.0.0.0/8 masquerade
  }}
}}
"""

    def hold(self) -> None:
        """Keeps the namespace by a descriptor and drops its name: nothing named is left behind."""
        self._fd = os.open(_NETNS_DIR / self.name, os.O_RDONLY | os.O_CLOEXEC)
        self.owner.run("ip", "netns", "delete", self.name)

    def launch(self, uid: int, umask: int) -> Launch:
        """Enter the namespace as root, then become `uid` with its own group and no other."""
        assert self._fd is not None
        nsenter = self.owner._tools["nsenter"]
        prefix = (nsenter, f"--net=/proc/self/fd/{self._fd}", "-S", str(uid), "-G", str(uid), "--")
        return Launch(self.address, prefix, {"pass_fds": (self._fd,), "umask": umask})

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def remove(self) -> None:
        self.release()
        self.owner.run("ip", "link", "delete", self.name, check=False)
        self.owner.run("ip", "netns", "delete", self.name, check=False)


@contextlib.contextmanager
def _host_lock() -> Iterator[None]:
    with open(_LOCK_FILE, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _free_block(in_use: set[ipaddress.IPv4Address]) -> int:
    """The first /30 of APP_NETWORK none of whose addresses the host uses."""
    for index in range(APP_NETWORK.num_addresses // _BLOCK):
        base = APP_NETWORK.network_address + index * _BLOCK
        if not any(base + offset in in_use for offset in range(_BLOCK)):
            return index
    raise RuntimeError(f"no free /30 left in {APP_NETWORK}")
