"""The Sealer port on KMS: envelope encryption of sealed variables (docs/decisions/0023).

`seal` asks KMS for a fresh AES-256 data key (GenerateDataKey) under the value's encryption context,
encrypts the value with it (AES-GCM, the same context as associated data) and keeps only the
encrypted data key: the plaintext key never leaves this call. `open` has KMS decrypt the data key
with the same context (a ciphertext moved to another service or name fails there) and checks the
GCM tag (a changed byte fails here). The API's role may only GenerateDataKey, the deploy worker's
only Decrypt (stacks/keys.py).

The key is named by RAILYARD_KMS_KEY_ID (a key id, key ARN, alias or alias ARN); an ARN's region
is where KMS is asked, so a stage's other regions use the primary region's key. boto3 and
cryptography are imported on first use.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from chalicelib.adapters.aws import client, error_code
from chalicelib.domain.errors import TransientError
from chalicelib.domain.sealing import SealedValue, SealedValueUnreadable

_NONCE_BYTES = 12  # AES-GCM's standard nonce; a fresh data key per value, so never reused anyway
# KMS answers these when the data key cannot be decrypted as asked: not worth a retry.
_UNREADABLE = frozenset(
    {
        "InvalidCiphertextException",
        "IncorrectKeyException",
        "AccessDeniedException",
        "NotFoundException",
        "DisabledException",
        "KMSInvalidStateException",
    }
)


class KmsSealer:
    def __init__(self, key_id: str, kms: Any | None = None) -> None:
        self._key_id = key_id
        self._kms = kms

    def seal(self, plaintext: bytes, context: Mapping[str, str]) -> SealedValue:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        try:
            issued = self._client().generate_data_key(
                KeyId=self._key_id, KeySpec="AES_256", EncryptionContext=dict(context)
            )
        except Exception as error:
            raise TransientError(
                f"could not seal the value: KMS key {self._key_id} answered {error_code(error) or error}"
            ) from None
        nonce = os.urandom(_NONCE_BYTES)
        ciphertext = AESGCM(issued["Plaintext"]).encrypt(nonce, plaintext, _aad(context))
        return SealedValue(nonce + ciphertext, issued["CiphertextBlob"], issued["KeyId"])

    def open(self, sealed: SealedValue, context: Mapping[str, str]) -> bytes:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        try:
            data_key = self._client(sealed.key_id).decrypt(
                CiphertextBlob=sealed.encrypted_key, EncryptionContext=dict(context), KeyId=sealed.key_id
            )["Plaintext"]
        except Exception as error:
            code = error_code(error)
            if code in _UNREADABLE:
                raise SealedValueUnreadable(f"KMS refused its data key ({code})") from None
            raise TransientError(f"could not open a sealed value: KMS answered {code or error}") from None
        nonce, ciphertext = sealed.ciphertext[:_NONCE_BYTES], sealed.ciphertext[_NONCE_BYTES:]
        try:
            return bytes(AESGCM(data_key).decrypt(nonce, ciphertext, _aad(context)))
        except (InvalidTag, ValueError):
            raise SealedValueUnreadable("its ciphertext does not verify (changed or not its own)") from None

    def _client(self, key_id: str | None = None) -> Any:
        if self._kms is not None:
            return self._kms
        return client("kms", _region_of(key_id or self._key_id))


def _aad(context: Mapping[str, str]) -> bytes:
    """The context as AES-GCM associated data: canonical, so seal and open agree byte for byte."""
    return json.dumps(dict(context), sort_keys=True, separators=(",", ":")).encode()


def _region_of(key_id: str) -> str | None:
    """arn:aws:kms:<region>:<account>:key/... -> its region; None (the client's own) otherwise."""
    parts = key_id.split(":")
    return parts[3] if key_id.startswith("arn:") and len(parts) > 5 and parts[3] else None
