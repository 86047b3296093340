"""Reference variables in Railway's template syntax, resolved (pure; docs/decisions/0037).

A value may contain `${{NAMESPACE.VAR}}` or `${{VAR}}` (spaces inside the braces are allowed):
- `${{shared.VAR}}`: the environment's shared variable VAR;
- `${{api.VAR}}`: service `api`'s (same environment, by name) own variable VAR, else the variable
  the platform injects into it (RAILYARD_PUBLIC_DOMAIN, ...: domain/injected_variables.py);
- `${{VAR}}` in a service's value: that service's effective VAR (its own, else shared, else
  injected); in a shared value: the shared VAR.

References resolve recursively. A missing service or variable, a sealed variable (its value never
leaves the platform before the release starts, so nothing can be built from it) or a cycle fails,
naming the variable and the reference. Railway has no escape syntax and neither do we: text that is
not shaped like a reference (`${{ not a name }}`, a lone `${{`) stays as written. `shared` is
the shared namespace even if a service has that name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from chalicelib.domain.errors import UnresolvedReference
from chalicelib.domain.limits import MAX_VARIABLE_BYTES

SHARED = "shared"
REFERENCE = re.compile(r"\$\{\{\s*(?:([A-Za-z0-9][A-Za-z0-9_-]*)\.)?([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
MAX_DEPTH = 32  # references of references of ...: deeper than any honest configuration


@dataclass(frozen=True)
class Namespace:
    """Where variables live: a service's own, or the environment's shared ones. `values` are as
    stored (unresolved), `sealed` the names of sealed ones, `injected` the platform's (literal)."""

    values: Mapping[str, str] = field(default_factory=dict)
    sealed: frozenset[str] = frozenset()
    injected: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Scope:
    """Everything a service's references may name: the services of its environment by name (itself
    included) and the shared variables."""

    service: str
    services: Mapping[str, Namespace]
    shared: Namespace


def references_in(value: str) -> list[tuple[str | None, str]]:
    """The (namespace, name) pairs a value refers to, in order."""
    return [(m.group(1), m.group(2)) for m in REFERENCE.finditer(value)]


def effective_names(scope: Scope) -> tuple[list[str], list[str]]:
    """The deploying service's plain and sealed variable names: shared ones, overridden by its own
    (a name the service sets, plain or sealed, hides the shared one of either kind)."""
    own = scope.services[scope.service]
    mine = set(own.values) | own.sealed
    plain = sorted(set(own.values) | (set(scope.shared.values) - mine))
    sealed = sorted(own.sealed | (scope.shared.sealed - mine))
    return plain, sealed


def resolve(scope: Scope) -> dict[str, str]:
    """The deploying service's effective plain variables with every reference resolved."""
    resolver = _Resolver(scope)
    return {name: resolver.top(name) for name in effective_names(scope)[0]}


# A variable's place: (service name, name) or (SHARED, name); a service is never named by SHARED here.
_Key = tuple[str, str]


class _Resolver:
    def __init__(self, scope: Scope) -> None:
        self._scope = scope
        self._done: dict[_Key, str] = {}

    def top(self, name: str) -> str:
        own = self._scope.services[self._scope.service]
        key = (self._scope.service, name) if name in own.values else (SHARED, name)
        try:
            return self._value(key, [key])
        except _Failed as failed:
            raise UnresolvedReference(f"variable {name} {failed.path}: {failed.why}") from None

    def _value(self, key: _Key, stack: list[_Key]) -> str:
        if key in self._done:
            return self._done[key]
        raw = self._namespace(key[0]).values[key[1]]

        def substitute(match: re.Match[str]) -> str:
            text = match.group(0)
            target = self._target(key[0], match.group(1), match.group(2), text)
            if isinstance(target, str):
                return target  # an injected value: literal
            if target in stack:
                cycle = " → ".join(_label(k) for k in [*stack[stack.index(target) :], target])
                raise _Failed(text, f"a cycle: {cycle}")
            if len(stack) >= MAX_DEPTH:
                raise _Failed(text, f"references nested deeper than {MAX_DEPTH}")
            try:
                return self._value(target, [*stack, target])
            except _Failed as inner:
                raise _Failed(text, inner.why, inner) from None

        value = REFERENCE.sub(substitute, raw)
        if len(value.encode()) > MAX_VARIABLE_BYTES:
            raise _Failed(_label(key), f"its resolved value is over {MAX_VARIABLE_BYTES} bytes")
        self._done[key] = value
        return value

    def _namespace(self, name: str) -> Namespace:
        return self._scope.shared if name == SHARED else self._scope.services[name]

    def _target(self, where: str, namespace: str | None, name: str, text: str) -> _Key | str:
        """What a reference in a value of `where` names: a variable's place, or an injected value."""
        shared = self._scope.shared
        if namespace == SHARED or (namespace is None and where == SHARED):
            if name in shared.values:
                return (SHARED, name)
            if name in shared.sealed:
                raise _Failed(text, f"shared variable {name} is sealed; a sealed value cannot be referenced")
            raise _Failed(text, f"there is no shared variable {name}")
        service = namespace or where
        found = self._scope.services.get(service)
        if found is None:
            raise _Failed(text, f"there is no service {service} in this environment")
        if name in found.values:
            return (service, name)
        if name in found.sealed:
            raise _Failed(text, f"{service}'s {name} is sealed; a sealed value cannot be referenced")
        if namespace is None and name in shared.values:  # `${{VAR}}`: the effective value
            return (SHARED, name)
        if namespace is None and name in shared.sealed:
            raise _Failed(text, f"shared variable {name} is sealed; a sealed value cannot be referenced")
        if name in found.injected:
            return found.injected[name]
        raise _Failed(text, f"service {service} has no variable {name}")


def _label(key: _Key) -> str:
    return f"{key[0]}.{key[1]}"


class _Failed(Exception):
    """A reference that did not resolve; `path` names it (and what it was reached through)."""

    def __init__(self, text: str, why: str, inner: _Failed | None = None) -> None:
        super().__init__(why)
        self.why: str = why
        self.path: str = f"references {text}" + (f", which {inner.path}" if inner is not None else "")
