"""Finding secrets where they must not be (issue 10): every API response, log line and event a test
produced is scanned for the passwords, tokens and sealed values that test used.

A secret is learnt from what the test sent (a password or a sealed value in a request body, the
bearer token of a request) and from what the API issued (an access, refresh or API token in an
answer). Each may appear only in the one answer that issued it; anywhere else (another answer, the
captured output of the process, an event put on a bus) is a leak."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

# Request fields whose values are secrets, and answer fields that issue one.
SECRET_FIELDS = frozenset(
    {"password", "currentPassword", "newPassword", "code", "recoveryCode", "refreshToken"}
)
ISSUED_FIELDS = frozenset(
    {"accessToken", "refreshToken", "secret", "token", "mfaToken", "deviceCode", "recoveryCodes"}
)
MIN_SECRET_LENGTH = 8  # shorter values (a 6-digit TOTP code) are too common to scan for


@dataclass
class LeakScan:
    secrets: set[str] = field(default_factory=set)
    pending: set[str] = field(default_factory=set)  # sent with the request not answered yet
    answers: list[tuple[str, str, frozenset[str]]] = field(default_factory=list)  # (what, text, issued)
    events: list[str] = field(default_factory=list)

    def request(self, body: Any, authorization: str | None) -> None:
        self.pending.clear()
        if authorization and authorization.startswith("Bearer "):
            self.pending.add(authorization.removeprefix("Bearer "))
        if isinstance(body, dict):
            for name, value in body.items():
                if name in SECRET_FIELDS and isinstance(value, str):
                    self.pending.add(value)
                if name == "sealed" and isinstance(value, dict):
                    self.pending.update(str(sealed) for sealed in value.values())

    def answer(self, what: str, status: int, text: str) -> None:
        # What a refused request sent was never kept (a weak password may be the email itself).
        if status < 400:
            for value in self.pending:
                self._learn(value)
        self.pending.clear()
        issued: set[str] = set()
        try:
            body = json.loads(text) if text else None
        except ValueError:
            body = None
        for value in _values_of(body, ISSUED_FIELDS):
            issued.add(value)
            self._learn(value)
        self.answers.append((what, text, frozenset(issued)))

    def leaks(self, output: str) -> list[str]:
        found = []
        for secret in self.secrets:
            for what, text, issued in self.answers:
                if secret in text and secret not in issued:
                    found.append(f"{what} answered with a secret ({secret[:4]}...)")
            if secret in output:
                found.append(f"the process output holds a secret ({secret[:4]}...)")
            found.extend(
                f"an event holds a secret ({secret[:4]}...)" for event in self.events if secret in event
            )
        return found

    def _learn(self, value: str) -> None:
        if len(value) >= MIN_SECRET_LENGTH:
            self.secrets.add(value)


def _values_of(body: Any, names: frozenset[str]) -> Iterable[str]:
    if isinstance(body, dict):
        for name, value in body.items():
            if name in names and isinstance(value, str):
                yield value
            elif name in names and isinstance(value, list):
                yield from (item for item in value if isinstance(item, str))
            else:
                yield from _values_of(value, names)
    elif isinstance(body, list):
        for item in body:
            yield from _values_of(item, names)


@contextmanager
def recording_events(scan: LeakScan) -> Iterator[None]:
    """Records the entries of every EventBridge PutEvents call while open (botocore's call point)."""
    from botocore.client import BaseClient

    original = BaseClient._make_api_call

    def recording(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        if operation_name == "PutEvents":
            scan.events.append(json.dumps(api_params.get("Entries", []), default=str))
        return original(self, operation_name, api_params)

    BaseClient._make_api_call = recording  # type: ignore[method-assign]
    try:
        yield
    finally:
        BaseClient._make_api_call = original  # type: ignore[method-assign]
