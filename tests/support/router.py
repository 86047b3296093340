"""A request to an app through a Railyard router (the local runtime's, or `railyard dev`'s), sent as
a browser sends it: to 127.0.0.1 on the router's port, naming the app's host."""

from __future__ import annotations

import http.client


def get_through_router(
    router_port: int, hostname: str, path: str = "/", timeout: float = 5.0
) -> tuple[int, str]:
    """(status, body) of a GET of `path` on `hostname`.localhost."""
    connection = http.client.HTTPConnection("127.0.0.1", router_port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Host": f"{hostname}.localhost:{router_port}"})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()
