"""One change to a set of variables (a service's own or an environment's shared ones): the rules
both follow, declared once. Names are checked, a name is plain or sealed and never both (setting it
the other way replaces it, so a sealed value is never turned back into a readable one), sizes and
counts are checked before and after (domain/limits.py)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from chalicelib.domain.errors import BadRequest
from chalicelib.domain.limits import check_variables
from chalicelib.domain.models import ServiceVariables, SharedVariables
from chalicelib.domain.sealing import Sealer, seal_variable

VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")


def apply_changes(
    current: ServiceVariables | SharedVariables,
    to_set: Mapping[str, str],
    to_unset: Sequence[str],
    to_seal: Mapping[str, str] | None,
    sealer: Sealer | None,  # None: no sealing key, sealed values are refused
    owner_id: str,  # what sealed values are bound to: the service's id, or the environment's
) -> tuple[dict[str, str], dict[str, str]]:
    """The plain and sealed variables after the change."""
    values, sealed, to_seal = current.values, current.sealed, dict(to_seal or {})
    if not to_set and not to_unset and not to_seal:
        raise BadRequest("nothing to change: give 'set', 'sealed' and/or 'unset'")
    for key in [*to_unset, *to_set, *to_seal]:
        if not VARIABLE_NAME.match(key):
            raise BadRequest(f"variable name {key!r} must match [A-Za-z_][A-Za-z0-9_]*")
    check_variables(dict(to_seal))  # each plaintext's size, before it is sealed
    twice = sorted(set(to_set) & set(to_seal))
    if twice:
        raise BadRequest(f"variables {', '.join(twice)} are in both 'set' and 'sealed': give each once")
    if to_seal and sealer is None:
        raise BadRequest("sealed variables are not available: this platform has no sealing key")
    removed = set(to_unset)
    new_values = {k: v for k, v in values.items() if k not in removed | set(to_seal)}
    new_values.update(to_set)
    new_sealed = {k: v for k, v in sealed.items() if k not in removed | set(to_set)}
    for key, value in to_seal.items():
        assert sealer is not None
        new_sealed[key] = seal_variable(sealer, owner_id, key, value)
    # The count and sizes after it, as stored (domain/limits.py)
    check_variables(new_values, dict(values), new_sealed, dict(sealed))
    return new_values, new_sealed
