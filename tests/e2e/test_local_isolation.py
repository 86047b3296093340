"""End to end: what a deployed app can reach on the local platform (issue 10, part 10).

Two tenants deploy the probe app (tests/fixtures/probe/main.py); one of them has a secret variable.
The other asks its probe to read the secret's holders and to reach the platform: the environment
it was given, /proc/<pid>/environ of the platform and of the other app, the platform's config.json
(the admin token), its data dir and AWS credentials, the other app's files and HOME, the other
app's port directly, and the platform's AWS endpoint unsigned or signed with a made-up key. It
reaches none of it; it still serves through the router, reads its own environ, connects to its own
port and writes its own HOME (docs/security.md, docs/decisions/0019-local-tenant-isolation.md).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.support.platform import ROOT, Dev

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        os.geteuid() != 0,
        reason="tenant isolation needs `railyard dev` to run as root (it is off otherwise)",
    ),
]
SECRET = "s3cr3t-of-tenant-b"
# Platform-injected variables user code is meant to see (chalicelib/adapters/runtime/local.py).
INJECTED = {"RAILYARD_REPLICA_ID", "RAILWAY_REPLICA_ID", "PORT"}


def _deploy_probe(dev: Dev, tmp_path: Path, project: str) -> tuple[str, dict]:  # type: ignore[type-arg]
    app = tmp_path / project
    shutil.copytree(ROOT / "tests" / "fixtures" / "probe", app)
    dev.cli("init", "--project", project, "--name", "web", cwd=app)
    dev.cli("up", cwd=app)
    hostname = f"web-production-{project}"
    status, body = dev.get(hostname)
    assert status == 200, body
    return hostname, json.loads(body)


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
    with socket.create_connection(("127.0.0.1", b["port"]), timeout=3):
        pass  # B listens on its port: a refusal below is the guard, not an empty port

    # WHEN A's probe tries everything
    targets = {
        "pid": [platform_pid, b["pid"], a["pid"]],
        "file": [
            str(dev.home / "config.json"),
            str(dev.data_dir / "aws" / "credentials.json"),
            str(Path(b["cwd"]) / "main.py"),
        ],
        "dir": [str(dev.data_dir), str(dev.data_dir / "logs"), b["cwd"], b["home"]],
        "port": [b["port"], a["port"]],
        "aws": [f"http://127.0.0.1:{dev.moto_port}"],
    }
    status, body = dev.get(a_host, "/probe?" + urlencode(targets, doseq=True))
    assert status == 200, body
    report = json.loads(body)

    # THEN its environment holds nothing of the platform's
    leaked = [
        name
        for name in report["env"]
        if name not in INJECTED and (name.startswith(("AWS_", "RAILYARD_")) or name == "MOTO_PORT")
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
    for kind in ("pids", "files", "dirs", "ports", "aws"):
        reached = {
            target: result for target, result in report[kind].items() if not result.startswith("refused")
        }
        assert reached == {}, f"{kind} reached: {reached}"
    assert "HTTP 403" in report["aws"]["dynamodb"] and "HTTP 403" in report["aws"]["s3-list-buckets"]
    assert "HTTP 403" in report["aws"]["dynamodb-fake-signature"]
    # AND its own HOME is writable, and both still serve through the router
    assert report["home_writable"].startswith("ok"), report["home_writable"]
    assert dev.get(a_host)[0] == 200 and dev.get(b_host)[0] == 200
