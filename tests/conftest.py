"""Shared fixtures: one embedded moto server per session, reset between the tests that use it."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import requests


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def moto_server() -> Iterator[int]:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield port
    server.stop()


@pytest.fixture
def aws(moto_server: int, monkeypatch: pytest.MonkeyPatch, tmp_path) -> Iterator[int]:  # type: ignore[no-untyped-def]
    """AWS env pointed at the session's moto server, with empty state and Step Functions executing."""
    from chalicelib.adapters.aws import reset_clients

    base = f"http://127.0.0.1:{moto_server}"
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": base,
        "MOTO_PORT": str(moto_server),
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "RAILYARD_STAGE": "test",
        "RAILYARD_DATA_DIR": str(tmp_path / "data"),
        "RAILYARD_PUBLIC_URL": "http://{hostname}.localhost:8080",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    requests.post(f"{base}/moto-api/reset", timeout=10).raise_for_status()
    requests.post(
        f"{base}/moto-api/config", json={"stepfunctions": {"execute_state_machine": True}}, timeout=10
    ).raise_for_status()
    reset_clients()
    yield moto_server
    reset_clients()
