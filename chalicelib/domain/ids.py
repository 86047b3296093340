"""Identifiers and time: injected so tests can control them.

Ids are time-sortable (`dep_01HX...`-like: a millisecond timestamp in Crockford base32 followed by
randomness), so "newest first" is a plain descending sort on the id.

Ids carry their place (docs/decisions/0034-ids-carry-their-place.md): a project id made now holds its
workspace's key, an environment id its project's body, a service id its environment's body, each
followed by an own part (OWN_CHARS), so where a service lives (workspace, project, environment) is
a pure function of its id:

    ws_<w:18>   prj_<w:18><p:11>   env_<w:18><p:11><e:12>   svc_<w:18><p:11><e:12><s:12> (57 chars)

The lengths are the names' limits: a project id (33) fits the build role `railyard-<stage>-build-
<project id>` under IAM's 64 characters for the longest stage (15, stacks/stage.py), a service id
stays under 63 (a Kubernetes label value), `ry-<environment id>` is a 49-character namespace name.
A workspace's key is its id's body for a `ws_` id, else a digest of the id (the local platform's
`org_default`), so a place names its workspace only to a caller who holds it (`workspace_of`).
Ids made before this format (an 18-character body) have no place: `place_of` answers None and the
item is read as before. A child of such a parent keeps the old format.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"

IdFactory = Callable[[str], str]
Clock = Callable[[], datetime]


def _b32(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, rem = divmod(number, 32)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    """A new sortable id such as `dep_01jc3v7q2m8x4k2p`."""
    millis = int(time.time() * 1000)
    rand = int.from_bytes(os.urandom(5), "big")
    return f"{prefix}_{_b32(millis, 10)}{_b32(rand, 8)}"


def derived_id(prefix: str, millis: int, seed: str) -> str:
    """An id shaped as new_id's, for the moment `millis`, whose random part is a digest of `seed`:
    the same inputs always make the same id (a worker retrying a step makes no second entity)."""
    digest = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:5], "big")
    return f"{prefix}_{_b32(millis, 10)}{_b32(digest, 8)}"


# --- ids that carry their place -------------------------------------------------------------------
WORKSPACE_KEY_CHARS = 18
# A child's own part: 9 characters of its millisecond time, then 2 (a project) or 3 random ones.
OWN_CHARS = {"prj": 11, "env": 12, "svc": 12}
_PARENT = {"prj": None, "env": "prj", "svc": "env"}  # what each kind's id embeds (prj: a workspace)
_BODY_CHARS = {"prj": 29, "env": 41, "svc": 53}


@dataclass(frozen=True)
class Place:
    """Where a service lives, read from its id alone."""

    workspace_key: str
    project_id: str
    environment_id: str
    service_id: str


def workspace_key(workspace_id: str) -> str:
    """The 18 characters a project id holds for its workspace."""
    prefix, _, body = workspace_id.partition("_")
    if prefix == "ws" and _is_body(body, WORKSPACE_KEY_CHARS):
        return body
    digest = int.from_bytes(hashlib.sha256(workspace_id.encode()).digest()[:12], "big")
    return _b32(digest, WORKSPACE_KEY_CHARS)


def child_id(kind: str, parent_id: str, fresh_id: str) -> str:
    """The id of a new project (`parent_id` its workspace's), environment or service (its
    project's or environment's), from `fresh_id`, a new id of the factory: the own part is its body
    after the first character (new_id's leading time character, "0" until the year 3084), cut or
    padded to OWN_CHARS. Under a parent of the old format, `fresh_id` itself."""
    body, length = fresh_id.partition("_")[2], OWN_CHARS[kind]
    own = body[1 : 1 + length].ljust(length, "0")
    parent = _PARENT[kind]
    if parent is None:
        return f"{kind}_{workspace_key(parent_id)}{own}"
    parent_prefix, _, parent_body = parent_id.partition("_")
    if parent_prefix != parent or not _is_body(parent_body, _BODY_CHARS[parent]):
        return fresh_id
    return f"{kind}_{parent_body}{own}"


def place_of(service_id: str) -> Place | None:
    """Where a service of the current format lives; None for an old-format (or foreign) id."""
    prefix, _, body = service_id.partition("_")
    if prefix != "svc" or not _is_body(body, _BODY_CHARS["svc"]):
        return None
    return Place(
        workspace_key=body[:WORKSPACE_KEY_CHARS],
        project_id="prj_" + body[: _BODY_CHARS["prj"]],
        environment_id="env_" + body[: _BODY_CHARS["env"]],
        service_id=service_id,
    )


def workspace_of(place: Place, workspace_ids: Iterable[str]) -> str | None:
    """Which of a caller's workspaces the place is in; None: none of them."""
    return next((w for w in workspace_ids if workspace_key(w) == place.workspace_key), None)


def _is_body(text: str, length: int) -> bool:
    return len(text) == length and all(c in _ALPHABET for c in text)


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime | None:
    """The moment `iso()` wrote; None for anything else (an item written by hand, say)."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None
