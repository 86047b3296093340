"""The kinds of value Railway's config-as-code keys take, each reading a value as Railway does
(`Number` also from a numeric string, `Choice` in any case, null handled by the caller) and
describing itself as JSON Schema; and `Key`/`Table`/`MapOf`, the shape railway_schema.py declares
Railway's keys in. A value a kind cannot read raises `Invalid` with the message's end.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any


class Invalid(Exception):
    """A value its kind cannot read. args[0] completes "<file>: <key path> ...", e.g. `must be a
    number, got "soon"`; `at` is a suffix of the key path (`[1]` for a list item)."""

    def __init__(self, problem: str, at: str = "") -> None:
        super().__init__(problem)
        self.at = at


def describe(value: Any) -> str:
    """`value` as a user wrote it, for "got ..." in a message."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    try:
        return json.dumps(value)
    except (TypeError, ValueError):  # TOML dates and times have no JSON form
        return f"{type(value).__name__} {value}"


# --- kinds of value -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    pattern: str | None = None
    max_chars: int | None = None

    def read(self, value: Any) -> str:
        if not isinstance(value, str):
            raise Invalid(f"must be a string, got {describe(value)}")
        if self.pattern is not None and not re.search(self.pattern, value):
            raise Invalid(f"must match {self.pattern}, got {describe(value)}")
        if self.max_chars is not None and len(value) > self.max_chars:
            raise Invalid(f"is {len(value)} characters; the limit is {self.max_chars}")
        return value

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": ["string", "null"]}
        if self.pattern is not None:
            schema["pattern"] = self.pattern
        if self.max_chars is not None:
            schema["maxLength"] = self.max_chars
        return schema


_NUMERIC = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")


@dataclass(frozen=True)
class Number:
    integer: bool = False
    minimum: float | None = None
    above: float | None = None  # an exclusive minimum
    maximum: float | None = None  # Railway's own maximum: more fails

    def read(self, value: Any) -> int | float:
        wanted = "an integer" if self.integer else "a number"
        number: Any = value
        if isinstance(value, str) and _NUMERIC.match(value):
            number = float(value)
        if isinstance(number, bool) or not isinstance(number, int | float) or not math.isfinite(number):
            raise Invalid(f"must be {wanted}, got {describe(value)}")
        if self.integer:
            if number != int(number):
                raise Invalid(f"must be {wanted}, got {describe(value)}")
            number = int(number)
        if self.minimum is not None and number < self.minimum:
            raise Invalid(f"must be at least {self.minimum:g}, got {describe(value)}")
        if self.above is not None and number <= self.above:
            raise Invalid(f"must be greater than {self.above:g}, got {describe(value)}")
        if self.maximum is not None and number > self.maximum:
            raise Invalid(f"must be at most {self.maximum:g}, got {describe(value)}")
        return number

    def json_schema(self) -> dict[str, Any]:
        bounds: dict[str, Any] = {}
        if self.minimum is not None:
            bounds["minimum"] = self.minimum
        if self.above is not None:
            bounds["exclusiveMinimum"] = self.above
        if self.maximum is not None:
            bounds["maximum"] = self.maximum
        number = {"type": "integer" if self.integer else "number", **bounds}
        return {"anyOf": [number, {"type": "string", "pattern": _NUMERIC.pattern}, {"type": "null"}]}


@dataclass(frozen=True)
class Flag:
    def read(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        raise Invalid(f"must be true or false, got {describe(value)}")

    def json_schema(self) -> dict[str, Any]:
        words = "|".join("".join(_either_case(c) for c in word) for word in ("true", "false"))
        return {
            "anyOf": [{"type": "boolean"}, {"type": "string", "pattern": f"^({words})$"}, {"type": "null"}]
        }


@dataclass(frozen=True)
class Choice:
    values: tuple[str, ...]

    def read(self, value: Any) -> str:
        # Railway's guide and templates write these in lower case; its API takes any case.
        if isinstance(value, str) and value.strip().upper() in self.values:
            return value.strip().upper()
        choices = ", ".join(json.dumps(v) for v in self.values)
        raise Invalid(f"must be one of {choices} (in any case), got {describe(value)}")

    def json_schema(self) -> dict[str, Any]:
        # The enum lets editors complete a value; the pattern accepts it in any case.
        any_case = "|".join("".join(_either_case(c) for c in value) for value in self.values)
        return {
            "anyOf": [
                {"enum": list(self.values)},
                {"type": "string", "pattern": f"^({any_case})$"},
                {"type": "null"},
            ]
        }


def _either_case(character: str) -> str:
    return f"[{character.upper()}{character.lower()}]" if character.isalpha() else re.escape(character)


@dataclass(frozen=True)
class Texts:
    """A list of strings (watchPatterns)."""

    item: Text = field(default_factory=Text)
    max_items: int | None = None

    def read(self, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list):
            raise Invalid(f"must be an array, got {describe(value)}")
        if self.max_items is not None and len(value) > self.max_items:
            raise Invalid(f"has {len(value)} entries; the limit is {self.max_items}")
        read = []
        for index, item in enumerate(value):
            try:
                read.append(self.item.read(item))
            except Invalid as exc:
                raise Invalid(str(exc), f"[{index}]") from None
        return tuple(read)

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": ["array", "null"], "items": {"type": "string"}}
        if self.max_items is not None:
            schema["maxItems"] = self.max_items
        return schema


@dataclass(frozen=True)
class Command:
    """One command, or a list run in order (preDeployCommand)."""

    max_chars: int

    def read(self, value: Any) -> str | tuple[str, ...]:
        if isinstance(value, list):
            return Texts(Text(max_chars=self.max_chars)).read(value)
        if isinstance(value, str):
            return Text(max_chars=self.max_chars).read(value)
        raise Invalid(f"must be a string or an array, got {describe(value)}")

    def json_schema(self) -> dict[str, Any]:
        return {"type": ["string", "array", "null"], "items": {"type": "string"}}


@dataclass(frozen=True)
class Anything:
    """An object Railyard keeps only to report (nixpacksPlan, limitOverride, registryCredentials)."""

    def read(self, value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise Invalid(f"must be an object, got {describe(value)}")
        return value

    def json_schema(self) -> dict[str, Any]:
        return {"type": ["object", "null"]}


Leaf = Text | Number | Flag | Choice | Texts | Command | Anything


@dataclass(frozen=True)
class Key:
    """One key of Railway's schema. `setting`: the BuildConfig/DeployConfig field it fills; None
    with `unsupported` saying why Railyard does not act on it. `railyard_maximum`: where Railway
    sets no limit but Railyard has one, larger values are applied as this, with a warning."""

    kind: Leaf | Table | MapOf
    description: str
    setting: str | None = None
    unsupported: str = ""
    railyard_maximum: float | None = None


@dataclass(frozen=True)
class Table:
    """An object whose keys are known; another key fails when it looks like a typo of one of them
    and is ignored with a warning otherwise."""

    keys: dict[str, Key]


@dataclass(frozen=True)
class MapOf:
    """An object keyed by names the user chooses (environments, regions)."""

    item: Table
