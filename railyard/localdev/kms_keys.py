"""The local emulator's KMS keys, kept across restarts (docs/decisions/0023).

moto keeps KMS keys in memory only: after a restart of `railyard dev` no sealed variable could be
opened again, and no live release that has one could come back. So, as with the table's items,
when a CreateKey or CreateAlias succeeds the emulator copies every customer key (id, material,
aliases) to its Store (`<data dir>/aws/state.sqlite3`), and puts them back into moto when it starts,
before it serves a request. Locally the data directory plays the HSM: it is the platform's own,
and user code must not be able to read it (issue 10, part 10).
"""

from __future__ import annotations

import base64
from typing import Any

KMS_TARGET = "TrentService."
KEY_WRITES = frozenset({"CreateKey", "CreateAlias"})
TABLE = "kms:keys"  # the Store's table of kept keys (no DynamoDB table can have this name)


def is_key_write(target: str) -> bool:
    """True for the X-Amz-Target of a KMS request that creates a key or an alias."""
    return target.startswith(KMS_TARGET) and target.removeprefix(KMS_TARGET) in KEY_WRITES


def save(store: Any, account: str, region: str) -> None:
    """Copies every symmetric customer key of moto's backend to the Store."""
    from moto.kms.models import kms_backends

    keys = [
        key
        for key in list(kms_backends[account][region].keys.values())
        if key.key_manager == "CUSTOMER" and key.key_spec == "SYMMETRIC_DEFAULT"
    ]
    store.put_items(
        [
            (
                TABLE,
                {"KeyId": key.id},
                {
                    "KeyId": key.id,
                    "Material": base64.b64encode(key.key_material).decode(),
                    "Description": key.description,
                    "Aliases": sorted(key.aliases),
                },
            )
            for key in keys
        ]
    )


def restore(store: Any, account: str, region: str) -> int:
    """Puts the kept keys back into moto (same ids, same material); returns how many."""
    kept = list(store.items(TABLE))
    if not kept:
        return 0  # and moto's KMS is not even imported
    from moto.kms.models import Key, kms_backends

    backend = kms_backends[account][region]
    for item in kept:
        if item["KeyId"] in backend.keys:
            continue
        key = Key(None, "ENCRYPT_DECRYPT", "SYMMETRIC_DEFAULT", item["Description"], account, region)  # type: ignore[abstract]
        key.arn = key.arn.replace(key.id, item["KeyId"])
        key.id = item["KeyId"]
        key.key_material = base64.b64decode(item["Material"])
        backend.keys[key.id] = key
        for alias in item["Aliases"]:
            backend.create_alias(key.id, alias)
    return len(kept)
