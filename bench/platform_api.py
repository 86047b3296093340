"""The benches' client of a running `railyard dev`: pack a directory, make a service, deploy, wait,
and GET through the router — the calls the CLI makes, over HTTP on 127.0.0.1."""

from __future__ import annotations

import http.client
import io
import tarfile
import time
from pathlib import Path
from typing import Any

import requests

ACTIVE = ("QUEUED", "BUILDING", "DEPLOYING")


def pack(directory: Path, extra: dict[str, str] | None = None) -> bytes:
    """A gzipped tarball of `directory` (no __pycache__), plus `extra` files {name: text}."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path in sorted(directory.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                tar.add(path, arcname=str(path.relative_to(directory)))
        for name, text in (extra or {}).items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def get(port: int, host: str, path: str = "/") -> tuple[int, bytes]:
    """GET through the router at 127.0.0.1:`port` with Host `host`; (0, b"") when nothing answers."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", path, headers={"Host": host})
        response = conn.getresponse()
        return response.status, response.read()
    except OSError:
        return 0, b""
    finally:
        conn.close()


class Api:
    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.session.request(method, self.url + path, timeout=30, **kwargs)
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def service(self, project: str, name: str = "app") -> dict[str, Any]:
        env = self.call("POST", "/v1/projects", json={"name": project})["environments"][0]["id"]
        body = {"name": name, "settings": {"drainingSeconds": 0}}
        return self.call("POST", f"/v1/environments/{env}/services", json=body)["service"]  # type: ignore[no-any-return]

    def deploy(self, service_id: str, tarball: bytes | None, *, no_cache: bool = False) -> tuple[str, float]:
        """Returns the deployment id and the moment the API accepted it."""
        if tarball is None:
            body: dict[str, Any] = {"redeploy": True}
        else:
            upload = self.call("POST", f"/v1/services/{service_id}/uploads")
            files = {"file": ("source.tar.gz", tarball)}  # a presigned POST: the fields, then the file
            requests.post(
                upload["uploadUrl"], data=upload["uploadFields"], files=files, timeout=60
            ).raise_for_status()
            body = {"sourceKey": upload["sourceKey"]}
        if no_cache:
            body["noCache"] = True
        deployment = self.call("POST", f"/v1/services/{service_id}/deployments", json=body)["deployment"]
        return deployment["id"], time.perf_counter()

    def wait(self, deployment_id: str, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            deployment = self.call("GET", f"/v1/deployments/{deployment_id}")["deployment"]
            if deployment["status"] not in ACTIVE:
                return deployment  # type: ignore[no-any-return]
            time.sleep(0.05)
        raise TimeoutError(deployment_id)
