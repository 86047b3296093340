"""End to end on `railyard dev`: names that used to collide get two hostnames and each serves its
own app; a custom domain added with the CLI is served through the router only once its TXT record
(on a real DNS server on 127.0.0.1) holds the token, and stops when it is removed."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.dns_server import DnsServer
from tests.support.platform import Dev, running_dev, write_app

pytestmark = pytest.mark.e2e

DOMAIN = "api.example.test"
APP = """
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = os.environ["WHO"].encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""


@pytest.fixture(scope="module")
def dns() -> Iterator[DnsServer]:
    with DnsServer() as server:
        yield server


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory, dns: DnsServer) -> Iterator[Dev]:
    home = tmp_path_factory.mktemp("railyard-home")
    with running_dev(home, extra_env={"RAILYARD_DNS_RESOLVER": dns.address}) as platform:
        yield platform


def _router(dev: Dev, host: str) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", dev.router_port, timeout=5)
    try:
        connection.request("GET", "/", headers={"Host": host})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def _deployed(dev: Dev, tmp: Path, project: dict, environment: str, service: str) -> tuple[Path, dict]:  # type: ignore[type-arg]
    """A service `service` in a new environment of `project`, linked to a directory and deployed."""
    env = dev.api("POST", f"/v1/projects/{project['id']}/environments", json={"name": environment})
    created = dev.api("POST", f"/v1/environments/{env['environment']['id']}/services", json={"name": service})
    svc = created["service"]
    directory = write_app(tmp / svc["id"], {"main.py": APP})  # not by name: `a`+`b-c` is `a-b`+`c`
    link = {
        "projectId": project["id"],
        "environmentId": env["environment"]["id"],
        "serviceId": svc["id"],
        "project": project["name"],
        "environment": environment,
        "service": service,
    }
    (directory / ".railyard.json").write_text(json.dumps(link))
    dev.cli("variables", "set", f"WHO={service} in {environment}", cwd=directory)
    dev.cli("up", cwd=directory)
    return directory, svc


def test_colliding_names_get_two_hosts_and_a_domain_serves_only_once_verified(
    dev: Dev, dns: DnsServer, tmp_path: Path
) -> None:
    # GIVEN service `a` in environment `b-c` and service `a-b` in environment `c` of project `p`
    project = dev.api("POST", "/v1/projects", json={"name": "p"})["project"]
    first_dir, first = _deployed(dev, tmp_path, project, "b-c", "a")
    _, second = _deployed(dev, tmp_path, project, "c", "a-b")

    # THEN they have two hostnames, and each serves its own app
    assert first["hostname"] == "a-b-c-p"
    assert second["hostname"].startswith("a-b-c-p-") and second["hostname"] != first["hostname"]
    assert dev.get(first["hostname"]) == (200, "a in b-c")
    assert dev.get(second["hostname"]) == (200, "a-b in c")
    assert f"Hostname: {first['hostname']}" in dev.cli("status", cwd=first_dir).stdout

    # WHEN a custom domain is added, THEN the CLI shows the records and the router does not serve it
    added = dev.cli("domain", "add", DOMAIN, cwd=first_dir).stdout
    token = next(line.split()[-1] for line in added.splitlines() if line.strip().startswith("TXT"))
    assert f"_railyard-challenge.{DOMAIN}" in added
    assert f"CNAME  {DOMAIN}" in added and f"{first['hostname']}.localhost" in added
    assert _router(dev, DOMAIN)[0] == 404

    # WHEN the TXT record holds something else, THEN verify fails saying what it found
    dns.set_txt(f"_railyard-challenge.{DOMAIN}", "not-the-token")
    failed = dev.cli("domain", "verify", DOMAIN, cwd=first_dir, check=False)
    assert failed.returncode == 1 and "VerificationFailed" in failed.stderr
    assert "'not-the-token'" in failed.stderr and token in failed.stderr
    assert _router(dev, DOMAIN)[0] == 404

    # WHEN it holds the token, THEN verify succeeds and the router serves the app on the domain
    dns.set_txt(f"_railyard-challenge.{DOMAIN}", token)
    assert "is verified" in dev.cli("domain", "verify", DOMAIN, cwd=first_dir).stdout
    assert _router(dev, DOMAIN) == (200, "a in b-c")
    assert f"{DOMAIN}  VERIFIED" in dev.cli("domain", "list", cwd=first_dir).stdout

    # and a redeploy keeps serving it (the release's spec carries the verified domains)
    dev.cli("redeploy", cwd=first_dir)
    assert _router(dev, DOMAIN) == (200, "a in b-c")

    # WHEN it is removed, THEN the router no longer serves it
    dev.cli("domain", "remove", DOMAIN, cwd=first_dir)
    assert _router(dev, DOMAIN)[0] == 404
    assert dev.get(first["hostname"]) == (200, "a in b-c")
