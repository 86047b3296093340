"""The `HttpPoster` port: one POST to a webhook's URL, to a public address only (no SSRF).

A user's URL must not make the platform call its own network: the instance metadata endpoint
(169.254.169.254), the VPC's private addresses, or loopback services. So the host is resolved here,
every address it resolves to is checked (`address_refusal`: one refused address refuses the URL,
so a name cannot mix a public and a private answer), and the connection is made to the checked
address itself, with the URL's host name for the Host header and TLS (SNI and certificate
verification): a second resolution between check and connect (DNS rebinding) cannot move it.
Redirects are not followed (a 3xx is a failed attempt): a redirect could point anywhere.
Loopback is allowed only with RAILYARD_WEBHOOK_ALLOW_LOOPBACK (`railyard dev`, the tests).

The whole attempt is bounded by POST_TIMEOUT_SECONDS per socket operation; the answer's body is
read up to 64 KiB and dropped.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from urllib.parse import urlsplit

from chalicelib.domain.webhook_delivery import POST_TIMEOUT_SECONDS, PostResult
from chalicelib.domain.webhooks import address_refusal

_MAX_ANSWER_BYTES = 64 * 1024


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address
        self._tls = ssl.create_default_context()

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)


class GuardedPoster:
    def __init__(self, allow_loopback: bool = False, timeout: float = POST_TIMEOUT_SECONDS) -> None:
        self._allow_loopback = allow_loopback
        self._timeout = timeout

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> PostResult:
        started = time.monotonic()

        def result(status: int | None, error: str | None) -> PostResult:
            return PostResult(status, error, int((time.monotonic() - started) * 1000))

        parts = urlsplit(url)
        host = parts.hostname or ""
        https = parts.scheme == "https"
        port = parts.port or (443 if https else 80)
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as error:
            return result(None, f"could not resolve {host}: {error}")
        addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
        for address in addresses:
            refusal = address_refusal(address, self._allow_loopback)
            if refusal:
                return result(None, f"refused: {host} resolves to {refusal}")
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        kind = _PinnedHTTPS if https else _PinnedHTTP
        connection = kind(host, port, addresses[0], self._timeout)
        try:
            connection.request("POST", target, body=body, headers=headers)
            answer = connection.getresponse()
            answer.read(_MAX_ANSWER_BYTES)
            return result(answer.status, None if 200 <= answer.status < 300 else answer.reason or None)
        except TimeoutError:
            return result(None, f"timed out after {self._timeout:g} s")
        except (OSError, http.client.HTTPException) as error:
            return result(None, f"{type(error).__name__}: {error}")
        finally:
            connection.close()
