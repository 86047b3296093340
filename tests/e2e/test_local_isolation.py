"""End to end: what a deployed app can reach on the local platform (issue 10, part 10).

Two tenants deploy the probe app (tests/fixtures/probe/main.py); one of them has a secret variable.
The other asks its probe to read the secret's holders and to reach the platform: the environment
it was given, /proc/<pid>/environ of the platform and of the other app, the platform's config.json
(the admin token), its data dir and AWS credentials, the other app's files and HOME, the other
app's port directly, the listeners the other app opened itself (an extra TCP port, a UDP port, an
abstract unix socket, a unix socket in its TMPDIR, all open to anyone), and the platform's AWS
endpoint and API, on 127.0.0.1 and on the host's side of its namespace. It reaches none of it; it
still serves through the router, reaches the other app through the router, reads its own environ,
reaches its own listeners and writes its own HOME (docs/security.md,
docs/decisions/0019-local-tenant-isolation.md).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from chalicelib.domain.injected_variables import INJECTED, names_of
from tests.support.platform import ROOT, Dev
from tests.support.router import get_through_router

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        os.geteuid() != 0,
        reason="tenant isolation needs `railyard dev` to run as root (it is off otherwise)",
    ),
    pytest.mark.skipif(
        not all(shutil.which(tool) for tool in ("ip", "nft", "nsenter")),
        reason="app network namespaces need ip, nft and nsenter (the platform falls back otherwise)",
    ),
]
SECRET = "s3cr3t-of-tenant-b"
# Platform-injected variables user code is meant to see: the runtime's own (chalicelib/adapters/
# runtime/local.py) and Railway's set (chalicelib/domain/injected_variables.py, docs/variables.md).
MEANT_FOR_THE_APP = {"RAILYARD_REPLICA_ID", "RAILWAY_REPLICA_ID", "PORT"} | {
    name for entry in INJECTED for name in names_of(entry)
}


def _deploy_probe(dev: Dev, tmp_path: Path, project: str) -> tuple[str, dict]:  # type: ignore[type-arg]
    app = tmp_path / project
    shutil.copytree(ROOT / "tests" / "fixtures" / "probe", app)
    dev.cli("init", "--project", project, "--name", "web", cwd=app)
    dev.cli("up", cwd=app)
    hostname = f"web-production-{project}"
    status, body = dev.get(hostname)
    assert status == 200, body
    return hostname, json.loads(body)


def _get_slowly(dev: Dev, hostname: str, path: str) -> tuple[int, str]:
    """Through the router, waiting longer than `dev.get`: a dropped packet costs the probe a timeout."""
    return get_through_router(dev.router_port, hostname, path, timeout=30)


def _reachable_inside(pid: int, unix_address: str) -> str:
    """Connects to a unix socket from inside the network namespace of process `pid` (as root);
    `@name` is the abstract socket `name`."""
    script = (
        "import socket,sys;s=socket.socket(socket.AF_UNIX);s.settimeout(3);a=sys.argv[1];"
        "s.connect(chr(0)+a[1:] if a.startswith('@') else a);print(s.recv(50).decode())"
    )
    done = subprocess.run(
        ["nsenter", f"--net=/proc/{pid}/ns/net", "/usr/bin/python3", "-c", script, unix_address],
        capture_output=True,
        text=True,
        timeout=10,
    )
    return done.stdout.strip() or done.stderr.strip()


def test_an_app_reaches_no_other_tenant_nor_the_platform(dev: Dev, tmp_path: Path) -> None:
    # GIVEN two tenants' apps, B holding a secret variable
    a_host, a = _deploy_probe(dev, tmp_path, "probe-a")
    b_host, _ = _deploy_probe(dev, tmp_path, "probe-b")
    dev.cli("variables", "set", f"DB_PASSWORD={SECRET}", cwd=tmp_path / "probe-b")
    status, body = dev.get(b_host)
    assert status == 200
    b = json.loads(body)
    platform_pid = json.loads((dev.home / "dev.json").read_text())["pid"]
    with open(f"/proc/{b['pid']}/environ", "rb") as environ:  # the secret is there to be stolen
        assert SECRET.encode() in environ.read()
    # B listens on all of these: a refusal below is isolation, not an empty port
    with socket.create_connection((b["address"], b["port"]), timeout=3):
        pass
    extra = b["listeners"]
    with socket.create_connection((b["address"], extra["tcp"]), timeout=3) as sock:
        assert sock.recv(50).startswith(b"hello")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        sock.sendto(b"x", (b["address"], extra["udp"]))
        assert sock.recvfrom(50)[0] == b"echo x"
    assert _reachable_inside(b["pid"], "@" + extra["abstract"]).startswith("hello")
    assert _reachable_inside(b["pid"], extra["unix"]).startswith("hello")
    api_port = urlsplit(dev.api_url).port
    gateway = a["gateway"]

    # WHEN A's probe tries everything
    targets = {
        "pid": [platform_pid, b["pid"], a["pid"]],
        "file": [
            str(dev.home / "config.json"),
            str(dev.data_dir / "aws" / "credentials.json"),
            str(Path(b["cwd"]) / "main.py"),
        ],
        "dir": [str(dev.data_dir), str(dev.data_dir / "logs"), b["cwd"], b["home"]],
        "port": [b["port"], a["port"], extra["tcp"]],
        "tcp": [
            f"{b['address']}:{b['port']}",
            f"{b['address']}:{extra['tcp']}",
            f"{gateway}:{extra['tcp']}",
            f"{gateway}:{dev.moto_port}",
            f"{gateway}:{api_port}",
            f"127.0.0.1:{api_port}",
            f"127.0.0.1:{a['listeners']['tcp']}",
        ],
        "udp": [
            f"{b['address']}:{extra['udp']}",
            f"127.0.0.1:{extra['udp']}",
            f"{gateway}:{extra['udp']}",
            f"127.0.0.1:{a['listeners']['udp']}",
        ],
        "abstract": [extra["abstract"], a["listeners"]["abstract"]],
        "unix": [extra["unix"], a["listeners"]["unix"]],
        "aws": [f"http://127.0.0.1:{dev.moto_port}", f"http://{gateway}:{dev.moto_port}"],
        "router": [f"127.0.0.1:{dev.router_port}/{a_host}", f"127.0.0.1:{dev.router_port}/{b_host}"],
    }
    status, body = _get_slowly(dev, a_host, "/probe?" + urlencode(targets, doseq=True))
    assert status == 200, body
    report = json.loads(body)

    # THEN its environment holds nothing of the platform's
    leaked = [
        name
        for name in report["env"]
        if name not in MEANT_FOR_THE_APP and (name.startswith(("AWS_", "RAILYARD_")) or name == "MOTO_PORT")
    ]
    assert leaked == [], leaked
    assert report["env"]["HOME"] == a["home"]
    # ... nor its import path or virtualenv: the app runs on the toolchain's python (ADR 0032)
    assert "PYTHONPATH" not in report["env"]
    assert str(Path(sys.prefix) / "bin") not in report["env"]["PATH"].split(":")
    # AND each tenant is its own unprivileged user
    assert a["uid"] >= 200_000 and b["uid"] >= 200_000 and a["uid"] != b["uid"]
    assert a["home"] != b["home"]
    # AND it reads no other process's environment, no platform file, no other tenant's files
    assert report["pids"].pop(str(a["pid"])).startswith("ok"), "the probe reads its own environ"
    assert report["ports"].pop(str(a["port"])).startswith("ok"), "the probe reaches its own port"
    # AND its own listeners, its own router URL and the other app's, through the router
    own = a["listeners"]
    assert report["tcp"].pop(f"127.0.0.1:{own['tcp']}").startswith("ok: hello")
    assert report["udp"].pop(f"127.0.0.1:{own['udp']}").startswith("ok: echo")
    assert report["abstract"].pop(own["abstract"]).startswith("ok: hello")
    assert report["unix"].pop(own["unix"]).startswith("ok: hello")
    routed = report.pop("router")
    assert all(result.startswith("ok") for result in routed.values()), routed
    # AND nothing else: not B's listeners (TCP, UDP, abstract or path unix socket), not the
    # platform's AWS or API, on 127.0.0.1 or on the host's side of its namespace
    assert a["address"] != b["address"] and not a["address"].startswith("127.")
    assert a["tmpdir"].startswith(a["home"]) and b["tmpdir"].startswith(b["home"])
    for kind in ("pids", "files", "dirs", "ports", "tcp", "udp", "abstract", "unix", "aws"):
        reached = {
            target: result for target, result in report[kind].items() if not result.startswith("refused")
        }
        assert reached == {}, f"{kind} reached: {reached}"
    assert len(report["aws"]) == 8 and "HTTP" not in json.dumps(report["aws"]), "not even a 403"
    # AND its own HOME is writable, and both still serve through the router
    assert report["home_writable"].startswith("ok"), report["home_writable"]
    assert dev.get(a_host)[0] == 200 and dev.get(b_host)[0] == 200
