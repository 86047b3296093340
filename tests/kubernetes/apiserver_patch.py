"""Patch semantics of the test API server: JSON patch, merge patch, strategic merge patch, server-side apply.

The four content types kube-apiserver accepts on PATCH behave differently on lists, and clients
depend on those differences:

* ``application/json-patch+json`` (RFC 6902): what ``kubectl rollout undo`` sends.
* ``application/merge-patch+json`` (RFC 7386): lists are replaced wholesale, ``null`` deletes.
* ``application/strategic-merge-patch+json``: lists with a patch merge key are merged by that key
  (containers and env by ``name``, container ports by ``containerPort``, service ports by ``port``),
  and the directives ``$patch``, ``$retainKeys``, ``$setElementOrder/`` and
  ``$deleteFromPrimitiveList/`` are honoured.
* ``application/apply-patch+yaml``: server-side apply. Ownership is tracked per field manager in
  ``metadata.managedFields`` (FieldsV1), fields a manager stops applying are removed unless another
  manager owns them, and changing a field someone else owns is a 409 Conflict unless ``force``.

The list semantics (merge keys, sets, atomic lists) come from one table, :func:`list_rule`, which
mirrors the ``x-kubernetes-list-type`` / ``patchMergeKey`` markers of the Kubernetes API types used
by this project. Lists not in the table are atomic, as they are in Kubernetes.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

JSON = dict[str, Any]
Path = tuple[str, ...]

CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
ATOMIC_STRUCTS = ("selector", "podSelector", "namespaceSelector", "labelSelector", "nodeSelector")
# metadata fields nobody "owns" (structured-merge-diff strips them before computing field sets).
IGNORED_METADATA = (
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generateName",
)


class PatchError(Exception):
    """A patch the real server rejects: ``code`` is the HTTP status (400 or 422)."""

    def __init__(self, message: str, code: int = 422) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ListRule:
    """How one list field merges: for server-side apply and for strategic merge patch."""

    ssa: str = "atomic"  # "map" (associative, keyed), "set" (primitive set) or "atomic"
    keys: tuple[str, ...] = ()
    smp_key: str | None = None  # patchMergeKey; None with smp_merge=True means a primitive merge list
    smp_merge: bool = False


MAP_BY_NAME = ListRule("map", ("name",), "name", True)


def list_rule(path: Path, kind: str) -> ListRule:
    """Merge semantics of the list at ``path`` (field names only, list positions omitted)."""
    last = path[-1] if path else ""
    parent = path[-2] if len(path) > 1 else ""
    if last in CONTAINER_LISTS and parent == "spec":
        return MAP_BY_NAME
    if parent in CONTAINER_LISTS:
        if last == "env":
            return MAP_BY_NAME
        if last == "ports":
            return ListRule("map", ("containerPort", "protocol"), "containerPort", True)
        if last == "volumeMounts":
            return ListRule("map", ("mountPath",), "mountPath", True)
        if last == "volumeDevices":
            return ListRule("map", ("devicePath",), "devicePath", True)
        if last == "resizePolicy":
            return ListRule("atomic")
    if parent == "spec" and last in ("volumes", "imagePullSecrets", "schedulingGates", "resourceClaims"):
        return MAP_BY_NAME
    if last == "hostAliases":
        return ListRule("map", ("ip",), "ip", True)
    if last == "topologySpreadConstraints":
        return ListRule("map", ("topologyKey", "whenUnsatisfiable"), "topologyKey", True)
    if kind == "Service" and path == ("spec", "ports"):
        return ListRule("map", ("port", "protocol"), "port", True)
    if last == "conditions" and parent == "status":
        return ListRule("map", ("type",), "type", True)
    if parent == "metadata" and last == "ownerReferences":
        return ListRule("map", ("uid",), "uid", True)
    if parent == "metadata" and last == "finalizers":
        return ListRule("set", (), None, True)
    return ListRule()


def is_atomic_struct(path: Path) -> bool:
    return bool(path) and path[-1] in ATOMIC_STRUCTS


KEY_DEFAULTS = {"protocol": "TCP"}


def element_key(item: JSON, rule: ListRule) -> dict[str, Any]:
    """The key of an associative-list element; defaulted key fields (protocol) count as set."""
    out = {}
    for k in rule.keys:
        if k in item:
            out[k] = item[k]
        elif k in KEY_DEFAULTS:
            out[k] = KEY_DEFAULTS[k]
    return out


def encode_key(key: dict[str, Any]) -> str:
    return "k:" + json.dumps(key, separators=(",", ":"), sort_keys=True)


def strip_nulls(value: Any) -> Any:
    """Decoding into Go structs drops ``null`` for omitempty fields; do the same for stored objects."""
    if isinstance(value, dict):
        return {k: strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [strip_nulls(v) for v in value]
    return value


# --------------------------------------------------------------------------- JSON merge patch (RFC 7386)


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


# --------------------------------------------------------------------------- JSON patch (RFC 6902)


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f'invalid JSON pointer "{path}"', 400)
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _container(doc: Any, parts: list[str], op: str, path: str) -> tuple[Any, str]:
    cur = doc
    for part in parts[:-1]:
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            raise PatchError(f"{op} operation does not apply: doc is missing path: {path}: missing value")
    return cur, parts[-1]


def json_patch(doc: Any, operations: Any) -> Any:
    if not isinstance(operations, list):
        raise PatchError("json: cannot unmarshal object into Go value of type jsonpatch.Patch", 400)
    doc = copy.deepcopy(doc)
    for operation in operations:
        if not isinstance(operation, dict):
            raise PatchError("invalid JSON patch operation", 400)
        op, path = operation.get("op"), operation.get("path", "")
        if op in ("add", "replace", "test") and "value" not in operation:
            raise PatchError(f"missing value for {op} operation", 400)
        if op == "test":
            if _get(doc, path) != operation["value"]:
                raise PatchError(f"testing value {path} failed: test failed")
            continue
        if op in ("move", "copy"):
            value = _get(doc, operation.get("from", ""))
            if op == "move":
                doc = _remove(doc, operation.get("from", ""), op)
            doc = _add(doc, path, copy.deepcopy(value), op)
        elif op == "add":
            doc = _add(doc, path, copy.deepcopy(operation["value"]), op)
        elif op == "remove":
            doc = _remove(doc, path, op)
        elif op == "replace":
            doc = _remove(doc, path, op)
            doc = _add(doc, path, copy.deepcopy(operation["value"]), op)
        else:
            raise PatchError(f"Unexpected kind: {op}", 400)
    return doc


def _get(doc: Any, path: str) -> Any:
    cur = doc
    for part in _pointer(path):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            raise PatchError(f"doc is missing path: {path}: missing value")
    return cur


def _add(doc: Any, path: str, value: Any, op: str) -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    parent, last = _container(doc, parts, op, path)
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent):
            parent.insert(int(last), value)
        else:
            raise PatchError(f"{op} operation does not apply: doc is missing path: {path}: missing value")
    else:
        raise PatchError(f"{op} operation does not apply: doc is missing path: {path}: missing value")
    return doc


def _remove(doc: Any, path: str, op: str) -> Any:
    parts = _pointer(path)
    parent, last = _container(doc, parts, op, path)
    if isinstance(parent, dict) and last in parent:
        del parent[last]
    elif isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        del parent[int(last)]
    else:
        raise PatchError(f"{op} operation does not apply: doc is missing key: {path}: missing value")
    return doc


# --------------------------------------------------------------------------- strategic merge patch

_DELETE = object()


def strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: strip_directives(v)
            for k, v in value.items()
            if not k.startswith("$") and not k.startswith("$setElementOrder/")
        }
    if isinstance(value, list):
        return [strip_directives(v) for v in value]
    return value


def strategic_merge_patch(original: JSON, patch: JSON, kind: str) -> JSON:
    if not isinstance(patch, dict):
        raise PatchError("json: cannot unmarshal array into Go value of type map[string]interface {}", 400)
    merged = _smp(original, patch, (), kind)
    return {} if merged is _DELETE else merged


def _smp(original: Any, patch: Any, path: Path, kind: str) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return strip_directives({k: v for k, v in patch.items() if k != "$patch"})
    if directive == "delete":
        return _DELETE
    result = copy.deepcopy(original) if isinstance(original, dict) else {}
    orders: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys"):
            continue
        if key.startswith("$setElementOrder/"):
            orders[key.split("/", 1)[1]] = value or []
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            result[name] = [x for x in result.get(name) or [] if x not in (value or [])]
            continue
        if value is None:
            result.pop(key, None)
            continue
        child = (*path, key)
        if isinstance(value, list):
            rule = list_rule(child, kind)
            if rule.smp_merge:
                result[key] = _smp_list(result.get(key), value, child, rule, kind)
            else:
                result[key] = strip_directives(value)
        elif isinstance(value, dict):
            merged = _smp(result.get(key), value, child, kind)
            if merged is _DELETE:
                result.pop(key, None)
            else:
                result[key] = merged
        else:
            result[key] = value
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    for name, order in orders.items():
        rule = list_rule((*path, name), kind)
        items = result.get(name)
        if isinstance(items, list) and rule.smp_key:
            wanted = [o.get(rule.smp_key) for o in order if isinstance(o, dict)]
            rank = {v: i for i, v in enumerate(wanted)}
            result[name] = sorted(items, key=lambda it: rank.get(it.get(rule.smp_key), len(rank)))
    return result


def _smp_list(original: Any, patch: list[Any], path: Path, rule: ListRule, kind: str) -> list[Any]:
    current = copy.deepcopy(original) if isinstance(original, list) else []
    if rule.smp_key is None:  # primitive list with merge strategy: union
        return current + [x for x in patch if x not in current]
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [
            strip_directives(i) for i in patch if not (isinstance(i, dict) and i.get("$patch") == "replace")
        ]
    key = rule.smp_key
    for item in patch:
        if not isinstance(item, dict):
            raise PatchError(f"unable to find api field in struct for the list element: {item!r}")
        index = next((i for i, cur in enumerate(current) if cur.get(key) == item.get(key)), None)
        if item.get("$patch") == "delete":
            if index is not None:
                del current[index]
            continue
        if index is None:
            current.append(strip_directives(item))
        else:
            current[index] = _smp(current[index], item, path, kind)
    return current


# ------------------------------------------------------------------- field sets (structured-merge-diff)

ELEMENT = "<element>"  # the value recorded for the "." member of a list element


def flatten(obj: JSON, kind: str, scope: str) -> tuple[dict[Path, Any], set[Path]]:
    """Every owned-field path of ``obj`` with its value, plus the paths of non-leaf maps.

    ``scope`` is ``"main"`` (everything but status) or ``"status"`` (everything but spec), matching
    the fields each endpoint may change.
    """
    leaves: dict[Path, Any] = {}
    maps: set[Path] = set()
    for key, value in obj.items():
        if value is None or key in ("apiVersion", "kind"):
            continue
        if scope == "main" and key == "status":
            continue
        if scope == "status" and key == "spec":
            continue
        if key == "metadata" and isinstance(value, dict):
            meta = {k: v for k, v in value.items() if k not in IGNORED_METADATA}
            if meta:
                maps.add(("f:metadata",))
                _walk(meta, ("metadata",), ("f:metadata",), kind, leaves, maps)
            continue
        _walk(value, (key,), (f"f:{key}",), kind, leaves, maps)
    return leaves, maps


def _walk(value: Any, fpath: Path, ppath: Path, kind: str, leaves: dict[Path, Any], maps: set[Path]) -> None:
    if isinstance(value, dict) and not is_atomic_struct(fpath):
        if not value:
            leaves[ppath] = {}
            return
        maps.add(ppath)
        for key, child in value.items():
            if child is not None:
                _walk(child, (*fpath, key), (*ppath, f"f:{key}"), kind, leaves, maps)
        return
    if isinstance(value, list) and value:
        rule = list_rule(fpath, kind)
        if rule.ssa == "map" and all(isinstance(i, dict) for i in value):
            for item in value:
                epath = (*ppath, encode_key(element_key(item, rule)))
                leaves[epath] = ELEMENT
                for key, child in item.items():
                    if child is not None:
                        _walk(child, (*fpath, key), (*epath, f"f:{key}"), kind, leaves, maps)
            return
        if rule.ssa == "set":
            for item in value:
                leaves[(*ppath, "v:" + json.dumps(item, separators=(",", ":")))] = item
            return
    leaves[ppath] = value


def to_fields_v1(paths: Iterable[Path]) -> JSON:
    """Render a set of paths as the FieldsV1 trie stored in managedFields."""
    root: JSON = {}
    members = set(paths)
    for p in members:
        node = root
        for element in p:
            node = node.setdefault(element, {})
    for p in members:
        node = root
        for element in p:
            node = node[element]
        if node and "." not in node:
            node["."] = {}
    return _sorted_trie(root)


def _sorted_trie(node: JSON) -> JSON:
    return {k: _sorted_trie(node[k]) for k in sorted(node, key=lambda k: (k != ".", k))}


def from_fields_v1(trie: JSON, prefix: Path = ()) -> set[Path]:
    out: set[Path] = set()
    for key, sub in (trie or {}).items():
        if key == ".":
            out.add(prefix)
        elif not sub:
            out.add((*prefix, key))
        else:
            out |= from_fields_v1(sub, (*prefix, key))
    return out


def path_string(path: Path) -> str:
    """structured-merge-diff's ``fieldpath.Path.String()``: ``.spec.containers[name="web"].image``."""
    out = ""
    for element in path:
        tag, rest = element[:2], element[2:]
        if tag == "f:":
            out += "." + rest
        elif tag == "k:":
            key = json.loads(rest)
            out += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in sorted(key.items())) + "]"
        elif tag == "v:":
            out += f"[={rest}]"
    return out


@dataclass
class ManagedEntry:
    manager: str
    operation: str
    api_version: str
    subresource: str
    time: str
    fields: set[Path] = field(default_factory=set)

    def identity(self) -> tuple[str, str, str]:
        return (self.manager, self.operation, self.subresource)

    def to_json(self) -> JSON:
        out: JSON = {
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": to_fields_v1(self.fields),
        }
        if self.subresource:
            out["subresource"] = self.subresource
        return out

    def describe(self) -> str:
        """``printManager`` from k8s.io/apiserver's fieldmanager, used in conflict messages."""
        text = json.dumps(self.manager)
        if self.subresource:
            text += f" with subresource {json.dumps(self.subresource)}"
        if self.operation == "Update":
            text += f" using {self.api_version} at {self.time}"
        return text


def parse_managed_fields(obj: JSON | None) -> list[ManagedEntry]:
    out = []
    for raw in ((obj or {}).get("metadata") or {}).get("managedFields") or []:
        out.append(
            ManagedEntry(
                manager=raw.get("manager", ""),
                operation=raw.get("operation", "Update"),
                api_version=raw.get("apiVersion", ""),
                subresource=raw.get("subresource", ""),
                time=raw.get("time", ""),
                fields=from_fields_v1(raw.get("fieldsV1") or {}),
            )
        )
    return out


def _store_entries(entries: list[ManagedEntry]) -> list[JSON]:
    return [e.to_json() for e in entries if e.fields]


class ApplyConflict(Exception):
    """A server-side apply that would change fields owned by other managers (HTTP 409)."""

    def __init__(self, conflicts: list[tuple[ManagedEntry, Path]]) -> None:
        self.conflicts = conflicts
        super().__init__(self.message())

    def message(self) -> str:
        if len(self.conflicts) == 1:
            entry, path = self.conflicts[0]
            return f"Apply failed with 1 conflict: conflict with {entry.describe()}: {path_string(path)}"
        by_manager: dict[str, list[Path]] = {}
        described: dict[str, str] = {}
        for entry, path in self.conflicts:
            ident = json.dumps(entry.to_json(), sort_keys=True)
            by_manager.setdefault(ident, []).append(path)
            described[ident] = entry.describe()
        lines = []
        for ident in sorted(by_manager):
            lines.append(f"conflicts with {described[ident]}:")
            lines.extend(f"- {path_string(p)}" for p in sorted(by_manager[ident]))
        return f"Apply failed with {len(self.conflicts)} conflicts: " + "\n".join(lines)

    def causes(self) -> list[JSON]:
        return [
            {
                "type": "FieldManagerConflict",
                "message": f"conflict with {e.describe()}",
                "field": path_string(p),
            }
            for e, p in self.conflicts
        ]


def track_update(
    old: JSON | None, new: JSON, kind: str, manager: str, api_version: str, subresource: str, now: str
) -> list[JSON]:
    """managedFields after a non-apply write (create, update, patch) by ``manager``.

    The writer takes ownership of every field whose value it changed (on create: every field,
    defaults included, as in a real cluster), and those fields are taken away from other managers.
    """
    scope = "status" if subresource == "status" else "main"
    entries = parse_managed_fields(old)
    old_leaves, old_maps = flatten(old, kind, scope) if old else ({}, set())
    new_leaves, new_maps = flatten(new, kind, scope)
    changed = {p for p, v in new_leaves.items() if p not in old_leaves or old_leaves[p] != v}
    changed |= new_maps - old_maps  # a newly created map is owned too (the "." member)
    removed = (set(old_leaves) | old_maps) - (set(new_leaves) | new_maps)
    if not changed and not removed:
        return _store_entries(entries)
    for entry in entries:
        entry.fields -= changed | removed
    mine = next((e for e in entries if e.identity() == (manager, "Update", subresource)), None)
    if changed:
        if mine is None:
            mine = ManagedEntry(manager, "Update", api_version, subresource, now)
            entries.append(mine)
        mine.fields |= changed
        mine.time, mine.api_version = now, api_version
    return _store_entries(entries)


def _apply_merge(live: Any, applied: Any, fpath: Path, kind: str) -> Any:
    if isinstance(applied, dict) and isinstance(live, dict) and not is_atomic_struct(fpath):
        out = dict(live)
        for key, value in applied.items():
            if value is not None:
                out[key] = _apply_merge(live.get(key), value, (*fpath, key), kind)
        return out
    if isinstance(applied, list) and isinstance(live, list):
        rule = list_rule(fpath, kind)
        if rule.ssa == "map" and all(isinstance(i, dict) for i in applied + live):
            live_by_key = {encode_key(element_key(i, rule)): i for i in live}
            out_list, seen = [], set()
            for item in applied:
                k = encode_key(element_key(item, rule))
                seen.add(k)
                out_list.append(_apply_merge(live_by_key[k], item, fpath, kind) if k in live_by_key else item)
            out_list.extend(i for i in live if encode_key(element_key(i, rule)) not in seen)
            return copy.deepcopy(out_list)
        if rule.ssa == "set":
            return live + [x for x in applied if x not in live]
    return copy.deepcopy(applied)


def _remove_path(obj: Any, path: Path, fpath: Path, kind: str) -> None:
    """Remove the field or list element at ``path`` (a FieldsV1 path) from ``obj`` if present."""
    if not path or not isinstance(obj, dict | list):
        return
    head, rest = path[0], path[1:]
    if head.startswith("f:") and isinstance(obj, dict):
        name = head[2:]
        if name not in obj:
            return
        if not rest:
            del obj[name]
        else:
            _remove_path(obj[name], rest, (*fpath, name), kind)
    elif head.startswith("k:") and isinstance(obj, list):
        rule = list_rule(fpath, kind)
        for i, item in enumerate(obj):
            if isinstance(item, dict) and encode_key(element_key(item, rule)) == head:
                if not rest:
                    del obj[i]
                else:
                    _remove_path(item, rest, fpath, kind)
                return
    elif head.startswith("v:") and isinstance(obj, list):
        value = json.loads(head[2:])
        if value in obj:
            obj.remove(value)


def _lookup(obj: Any, path: Path, fpath: Path, kind: str) -> Any:
    """The value at ``path`` (a FieldsV1 path) in ``obj``, or None."""
    for head in path:
        if head.startswith("f:") and isinstance(obj, dict):
            fpath, obj = (*fpath, head[2:]), obj.get(head[2:])
        elif head.startswith("k:") and isinstance(obj, list):
            rule = list_rule(fpath, kind)
            obj = next(
                (i for i in obj if isinstance(i, dict) and encode_key(element_key(i, rule)) == head), None
            )
        else:
            return None
    return obj


def _prune_emptied(obj: Any, path: Path, kind: str, kept: set[Path]) -> None:
    """Drop the maps a removal left empty on its way (a map the applier owned goes when nothing of
    it is applied any more, e.g. securityContext.seccompProfile once its `type` is not), unless a
    field someone still owns lies in them."""
    for cut in range(len(path) - 1, 0, -1):
        prefix = path[:cut]
        if not prefix[-1].startswith("f:") or any(k[:cut] == prefix for k in kept):
            return
        if _lookup(obj, prefix, (), kind) != {}:
            return
        _remove_path(obj, prefix, (), kind)


def server_side_apply(
    live: JSON | None,
    applied: JSON,
    kind: str,
    manager: str,
    api_version: str,
    subresource: str,
    force: bool,
    now: str,
) -> tuple[JSON, list[JSON]]:
    """Merge an apply configuration into ``live``; returns the new object and its managedFields.

    Raises :class:`ApplyConflict` when the apply changes a value owned by another manager and
    ``force`` is false. Applying the same configuration twice returns an identical object and
    identical managedFields (the entry's time only moves when its field set changes).
    """
    scope = "status" if subresource == "status" else "main"
    applied = strip_nulls(applied)
    if scope == "main":
        applied.pop("status", None)
    else:
        applied = {k: v for k, v in applied.items() if k in ("apiVersion", "kind", "metadata", "status")}
        applied["metadata"] = {
            k: v for k, v in (applied.get("metadata") or {}).items() if k in ("name", "namespace")
        }
    applied_leaves, _ = flatten(applied, kind, scope)
    applied_set = set(applied_leaves)
    base = copy.deepcopy(live) if live else {}
    live_leaves, _ = flatten(base, kind, scope) if live else ({}, set())
    entries = parse_managed_fields(live)
    me = (manager, "Apply", subresource)
    others = [e for e in entries if e.identity() != me]
    changing = {p for p, v in applied_leaves.items() if p not in live_leaves or live_leaves[p] != v}
    conflicts = [(e, p) for e in others for p in sorted(e.fields & changing) if applied_leaves[p] != ELEMENT]
    if conflicts and not force:
        raise ApplyConflict(conflicts)
    for entry in others:
        entry.fields -= changing if force else set()
    merged = _apply_merge(base, applied, (), kind)
    previous = next((e for e in entries if e.identity() == me), None)
    owned_by_others = set().union(*(e.fields for e in others)) if others else set()
    if previous is not None:
        stale = previous.fields - applied_set - owned_by_others
        # Drop an element only if nobody else owns something inside it.
        for path in sorted(stale, key=len):
            if any(o[: len(path)] == path and len(o) > len(path) for o in owned_by_others):
                continue
            _remove_path(merged, path, (), kind)
            _prune_emptied(merged, path, kind, applied_set | owned_by_others)
    if previous is None:
        previous = ManagedEntry(manager, "Apply", api_version, subresource, now, set(applied_set))
        entries.append(previous)
    elif previous.fields != applied_set or previous.api_version != api_version:
        previous.fields, previous.time, previous.api_version = set(applied_set), now, api_version
    return merged, _store_entries(entries)
