"""Sending to WebSocket connections through API Gateway's Management API (`post_to_connection`).

The endpoint is the WebSocket API's own URL with an http(s) scheme (`wss://<id>.execute-api.<region>
.amazonaws.com/<stage>` -> `https://...`); the local platform's WebSocket server answers the same
`POST /@connections/{id}` (railyard/localdev/live_server.py), so this one adapter runs in both.
A connection that is gone (GoneException, HTTP 410) answers False: the feed then forgets it.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from chalicelib.adapters.aws import error_code

GONE = "GoneException"
# A send must not hold a pipeline step: a connection that does not answer in this time is skipped
# (it stays subscribed; its reader catches up through the HTTP log route).
SEND_TIMEOUT_SECONDS = 2.0


def management_endpoint(websocket_url: str) -> str:
    """wss://host/stage -> https://host/stage (ws:// -> http:// locally)."""
    if websocket_url.startswith("wss://"):
        return "https://" + websocket_url.removeprefix("wss://").rstrip("/")
    if websocket_url.startswith("ws://"):
        return "http://" + websocket_url.removeprefix("ws://").rstrip("/")
    raise ValueError(f"RAILYARD_WEBSOCKET_URL={websocket_url!r} must be a ws:// or wss:// URL")


class ApiGatewayChannel:
    def __init__(self, websocket_url: str, region: str | None = None) -> None:
        self._endpoint = management_endpoint(websocket_url)
        self._region = region
        self._client: Any = None
        self._lock = threading.Lock()

    def _api(self) -> Any:
        with self._lock:
            if self._client is None:
                import boto3
                from botocore.config import Config

                config = Config(
                    connect_timeout=SEND_TIMEOUT_SECONDS,
                    read_timeout=SEND_TIMEOUT_SECONDS,
                    retries={"mode": "standard", "max_attempts": 2},
                )
                # The endpoint is explicit: AWS_ENDPOINT_URL (moto, LocalStack) must not win here.
                self._client = boto3.session.Session().client(
                    "apigatewaymanagementapi",
                    endpoint_url=self._endpoint,
                    region_name=self._region,
                    config=config,
                )
            return self._client

    def send(self, connection_id: str, message: dict[str, Any]) -> bool:
        data = json.dumps(message, separators=(",", ":")).encode()
        try:
            self._api().post_to_connection(ConnectionId=connection_id, Data=data)
        except Exception as error:
            if error_code(error) == GONE:
                return False
            raise
        return True
