"""Sealed variables: values stored only encrypted, opened only for the running release (ADR 0023).

A sealed value is envelope-encrypted by a `Sealer` (the KMS adapter in chalicelib/adapters/sealing.py):
a data key encrypts the value, and the key service encrypts the data key under an encryption
context naming the service and the variable, so a ciphertext copied to another service or another
name does not open. The API seals and never opens; the Deploy step opens, right before the runtime
starts the release's processes (domain/release_spec.py). Builds never get sealed values.

Entities keep a sealed value as its text form (`SealedValue.to_text`): an opaque, versioned string
that stores and travels like any other value (ServiceVariables.sealed, ConfigSnapshot.sealed), so a
rollback or a redeploy carries the ciphertext, never the plaintext.

An environment copied from another (domain/environments.py) gets its services' sealed values as
they are: the API may seal but never open (stacks/keys.py), so it cannot re-seal them for the new
services. A copied value is the original text wrapped with the service it was sealed for
(`copied_sealed`), and opens with that service's context; a copy of a copy keeps the first origin.
Only the platform writes the wrapper (no API accepts sealed text), and only within one project.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from chalicelib.domain.errors import DomainError

# The encryption context's keys: the key policy / IAM conditions name them too (stacks/keys.py).
CONTEXT_SERVICE = "railyard:service"
CONTEXT_VARIABLE = "railyard:variable"
_TEXT_VERSION = "sealed.v1"
_COPY_PREFIX = "copied.v1"


class SealedValueUnreadable(DomainError):
    """A sealed value did not open: tampered with, bound to another service or name, its key gone
    or disabled, or no key configured. The deployment fails; nothing is retried."""


def sealing_context(service_id: str, name: str) -> dict[str, str]:
    """What a sealed value is bound to: its service and its name."""
    return {CONTEXT_SERVICE: service_id, CONTEXT_VARIABLE: name}


@dataclass(frozen=True)
class SealedValue:
    """One envelope: the value encrypted with a data key, and that data key encrypted by the key
    service (`key_id` names the master key that can decrypt it)."""

    ciphertext: bytes
    encrypted_key: bytes
    key_id: str

    def to_text(self) -> str:
        parts = (self.key_id.encode(), self.encrypted_key, self.ciphertext)
        return ".".join([_TEXT_VERSION, *(base64.urlsafe_b64encode(p).decode() for p in parts)])

    @classmethod
    def from_text(cls, text: str) -> SealedValue:
        pieces = text.split(".")  # base64url never contains "."
        if len(pieces) != 5 or ".".join(pieces[:2]) != _TEXT_VERSION:
            raise SealedValueUnreadable("a stored sealed value is not in a known format")
        try:
            key_id, encrypted_key, ciphertext = (base64.urlsafe_b64decode(p) for p in pieces[2:])
        except (binascii.Error, ValueError):
            raise SealedValueUnreadable("a stored sealed value is not in a known format") from None
        return cls(ciphertext=ciphertext, encrypted_key=encrypted_key, key_id=key_id.decode())


class Sealer(Protocol):
    """Envelope encryption bound to a context. `open` raises SealedValueUnreadable when the value
    does not open (tampered, other context, key gone) and TransientError when the key service
    could not be asked."""

    def seal(self, plaintext: bytes, context: Mapping[str, str]) -> SealedValue: ...
    def open(self, sealed: SealedValue, context: Mapping[str, str]) -> bytes: ...


def seal_variable(sealer: Sealer, service_id: str, name: str, value: str) -> str:
    """The stored (text) form of `value` sealed for variable `name` of service `service_id`."""
    return sealer.seal(value.encode(), sealing_context(service_id, name)).to_text()


def copied_sealed(text: str, origin_service_id: str) -> str:
    """The stored form of a sealed value copied from service `origin_service_id` to another: it
    still opens with its origin's context. A copy of a copy keeps the first origin."""
    if text.startswith(_COPY_PREFIX + "."):
        return text
    origin = base64.urlsafe_b64encode(origin_service_id.encode()).decode()
    return f"{_COPY_PREFIX}.{origin}.{text}"


def _origin_of(text: str, service_id: str) -> tuple[str, str]:
    """(the service the value was sealed for, its SealedValue text)."""
    if not text.startswith(_COPY_PREFIX + "."):
        return service_id, text
    try:
        _, _, origin, inner = text.split(".", 3)
        return base64.urlsafe_b64decode(origin).decode(), inner
    except (binascii.Error, ValueError):
        raise SealedValueUnreadable("a stored sealed value is not in a known format") from None


def open_variables(sealer: Sealer | None, service_id: str, sealed: Mapping[str, str]) -> dict[str, str]:
    """The plaintext of every sealed variable of a release, for its runtime environment only."""
    if not sealed:
        return {}
    if sealer is None:
        raise SealedValueUnreadable(
            f"sealed variables {', '.join(sorted(sealed))} cannot be opened: no sealing key is configured"
        )
    opened = {}
    for name, text in sorted(sealed.items()):
        try:
            origin, inner = _origin_of(text, service_id)
            plaintext = sealer.open(SealedValue.from_text(inner), sealing_context(origin, name))
            opened[name] = plaintext.decode()
        except SealedValueUnreadable as error:
            raise SealedValueUnreadable(f"sealed variable {name} could not be opened: {error}") from None
        except UnicodeDecodeError:
            raise SealedValueUnreadable(f"sealed variable {name} did not open to text") from None
    return opened
