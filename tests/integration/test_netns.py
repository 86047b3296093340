"""The app network namespaces (chalicelib/adapters/netns.py) and the enclosing table
(chalicelib/adapters/netguard.py) on this host's real kernel: real namespaces, veths, nftables and
processes, each test with its own interface prefix and table (several run at once)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import pytest

from chalicelib.adapters.netguard import NetGuard
from chalicelib.adapters.netns import Enclosures
from chalicelib.adapters.tenancy import _loopback_endpoints

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(tool) for tool in ("ip", "nft", "nsenter")),
    reason="network namespaces need root, ip, nft and nsenter",
)
SERVICE_UID = 200_123
PYTHON = "/usr/bin/python3"  # reachable by another uid (pyenv's is below /root)
# Serves "hello" on $HOST:$PORT until killed; prints "ready" once listening.
LISTENER = """
import os, socket
s = socket.create_server((os.environ["HOST"], int(os.environ["PORT"])))
print("ready", os.getuid(), flush=True)
while True:
    c, _ = s.accept(); c.sendall(b"hello"); c.close()
"""
# Connects to argv[1]:argv[2] ("gateway": the host's end of its own namespace's veth).
CONNECT = """
import socket, sys
host = sys.argv[1]
if host == "gateway":
    route = [line.split() for line in open("/proc/net/route")][1:]
    host = socket.inet_ntoa(int(next(r[2] for r in route if r[1] == "00000000"), 16).to_bytes(4, "little"))
try:
    s = socket.create_connection((host, int(sys.argv[2])), timeout=1)
    s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
    print("reached", s.recv(20).decode() or "-")
except OSError as error:
    print("refused", type(error).__name__)
"""


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def network() -> Iterator[tuple[Enclosures, NetGuard]]:
    prefix = "ryt" + uuid.uuid4().hex[:7]
    enclosures, why = Enclosures.start(prefix)
    assert enclosures is not None, why
    guard = NetGuard.start(f"railyard_test_{prefix}", prefix)
    assert guard is not None
    guard.admit(SERVICE_UID)
    yield enclosures, guard
    guard.close()
    enclosures.sweep()


@pytest.fixture
def host_server() -> Iterator[int]:
    """An HTTP server on the host's 127.0.0.1 (the router's place)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def _start_inside(
    enclosures: Enclosures, code: str, env: dict[str, str]
) -> tuple[subprocess.Popen[str], str]:
    with enclosures.open() as enclosure:
        launch = enclosure.launch(SERVICE_UID, 0o077)
        proc = subprocess.Popen(
            launch.argv([PYTHON, "-c", code]),
            env=env,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
            **launch.popen,
        )
    return proc, launch.address


def _run_inside(enclosures: Enclosures, *args: str) -> str:
    with enclosures.open() as enclosure:
        launch = enclosure.launch(SERVICE_UID, 0o077)
        done = subprocess.run(
            launch.argv([PYTHON, "-c", CONNECT, *args]),
            capture_output=True,
            text=True,
            timeout=10,
            **launch.popen,
        )
    return done.stdout.strip()


def _connect(host: str, port: int) -> str:
    with socket.create_connection((host, port), timeout=2) as sock:
        return sock.recv(20).decode()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("bind", ["0.0.0.0", "127.0.0.1"])
def test_the_platform_reaches_an_enclosed_listener_at_its_address_as_the_service_uid(
    network: tuple[Enclosures, NetGuard], bind: str
) -> None:
    # GIVEN an app listening on its port, on all addresses or on its loopback only
    enclosures, _ = network
    port = _free_port()
    proc, address = _start_inside(enclosures, LISTENER, {"HOST": bind, "PORT": str(port)})
    try:
        assert proc.stdout is not None
        # THEN it runs as the service's uid, and the host reaches it at the namespace's address
        assert proc.stdout.readline().split() == ["ready", str(SERVICE_UID)]
        assert address.startswith("198.18.")
        assert _connect(address, port) == "hello"
        # AND not on the host's loopback: the port is the namespace's own
        with pytest.raises(ConnectionRefusedError):
            _connect("127.0.0.1", port)
    finally:
        proc.kill()
        proc.wait()


def test_an_enclosed_process_reaches_exposed_host_ports_and_nothing_else(
    network: tuple[Enclosures, NetGuard], host_server: int
) -> None:
    # GIVEN a host service on 127.0.0.1 that is exposed (the router) and one that is not
    enclosures, guard = network
    guard.expose(host_server)
    enclosures.expose([host_server])
    hidden = ThreadingHTTPServer(("0.0.0.0", 0), _Hello)
    Thread(target=hidden.serve_forever, daemon=True).start()
    hidden_port = int(hidden.server_address[1])
    try:
        # WHEN a process in a namespace connects to each
        exposed = _run_inside(enclosures, "127.0.0.1", str(host_server))
        unexposed = _run_inside(enclosures, "127.0.0.1", str(hidden_port))
        via_gateway = _run_inside(enclosures, "gateway", str(hidden_port))
    finally:
        hidden.shutdown()
        hidden.server_close()
    # THEN only the exposed one answers, at the namespace's own 127.0.0.1
    assert exposed.startswith("reached HTTP/1.0 200"), exposed
    assert unexposed.startswith("refused"), unexposed
    # AND a host service listening on every address is refused at once, not left to time out
    assert via_gateway == "refused ConnectionRefusedError", via_gateway


def test_one_enclosure_cannot_reach_another(network: tuple[Enclosures, NetGuard]) -> None:
    # GIVEN an app listening in its namespace
    enclosures, _ = network
    port = _free_port()
    proc, address = _start_inside(enclosures, LISTENER, {"HOST": "0.0.0.0", "PORT": str(port)})
    try:
        assert proc.stdout is not None and proc.stdout.readline().startswith("ready")
        assert _connect(address, port) == "hello"  # it listens
        # WHEN another namespace's process connects to it, at its address and at 127.0.0.1
        other = _run_inside(enclosures, address, str(port))
        loopback = _run_inside(enclosures, "127.0.0.1", str(port))
    finally:
        proc.kill()
        proc.wait()
    # THEN neither reaches it
    assert other.startswith("refused") and loopback.startswith("refused"), (other, loopback)


def test_the_namespace_and_its_interface_go_with_the_last_process(
    network: tuple[Enclosures, NetGuard],
) -> None:
    # GIVEN an enclosed process
    enclosures, _ = network
    proc, address = _start_inside(enclosures, "import time; time.sleep(60)", {})
    host_side = address[: address.rindex(".") + 1] + str(int(address.rsplit(".", 1)[1]) - 1)
    assert host_side in subprocess.run(["ip", "-4", "addr"], capture_output=True, text=True).stdout
    # WHEN it is killed
    proc.kill()
    proc.wait()
    # THEN its veth disappears on its own, and nothing named is left in /run/netns
    deadline = time.monotonic() + 5
    while host_side in subprocess.run(["ip", "-4", "addr"], capture_output=True, text=True).stdout:
        assert time.monotonic() < deadline, "the veth outlived its namespace"
        time.sleep(0.05)
    assert not list(Path("/run/netns").glob(f"{enclosures.prefix}*"))


def test_a_service_uid_in_the_hosts_namespace_reaches_only_exposed_local_ports(
    network: tuple[Enclosures, NetGuard], host_server: int
) -> None:
    # GIVEN the guard of builds (service uids outside a namespace) and two host services
    _, guard = network
    guard.expose(host_server)
    hidden = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    Thread(target=hidden.serve_forever, daemon=True).start()
    try:
        # WHEN a build's process connects to each
        def connect(port: int) -> str:
            done = subprocess.run(
                [PYTHON, "-c", CONNECT, "127.0.0.1", str(port)],
                capture_output=True,
                text=True,
                timeout=10,
                user=SERVICE_UID,
                group=SERVICE_UID,
                extra_groups=[],
            )
            return done.stdout.strip()

        exposed, unexposed = connect(host_server), connect(int(hidden.server_address[1]))
    finally:
        hidden.shutdown()
        hidden.server_close()
    # THEN only the exposed one (a registry, the router) answers; the platform itself still does
    assert exposed.startswith("reached"), exposed
    assert unexposed == "refused ConnectionRefusedError", unexposed


def test_sweep_removes_what_a_killed_platform_left(network: tuple[Enclosures, NetGuard]) -> None:
    # GIVEN an interface of this platform's prefix with no process behind it
    enclosures, _ = network
    leftover = f"{enclosures.prefix}beef"
    subprocess.run(
        ["ip", "link", "add", leftover, "type", "veth", "peer", "name", leftover + "p"], check=True
    )
    # WHEN the platform starts again (sweep)
    enclosures.sweep()
    # THEN it is gone
    shown = subprocess.run(["ip", "link", "show", leftover], capture_output=True, text=True)
    assert shown.returncode != 0


def test_loopback_registries_and_resolver_are_exposed_and_nothing_of_the_platform(tmp_path: Path) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("# systemd-resolved\nnameserver 127.0.0.53\noptions edns0\n")
    environ = {
        "PIP_INDEX_URL": "http://127.0.0.1:3141/root/pypi/+simple/",
        "NPM_CONFIG_REGISTRY": "http://localhost:4873/",
        "HTTPS_PROXY": "http://10.0.0.1:3128",  # not on this host: nothing to expose
        "RAILYARD_NPM_REGISTRY": "http://127.0.0.1:9999",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",  # the platform's own: never
        "RAILYARD_API_URL": "http://127.0.0.1:8000",
    }
    assert _loopback_endpoints(environ, resolv) == {
        3141: "127.0.0.1",
        4873: "127.0.0.1",
        9999: "127.0.0.1",
        53: "127.0.0.53",
    }
