"""Typed field tables for the simulator's TOML sections ([pump], [plant], [[event]], [expect]).

Theory of operation
-------------------
Each section is described by a tuple of field specs (``Num``, ``Choice``, ``Flag``, ``Text``),
each with its allowed range and default. ``parse_table`` checks a raw TOML mapping against
such a tuple and returns plain Python values (floats, ints, strings, bools), so the physics
and sensing code never sees an unchecked value.

Rules
1. Unknown keys are refused: a typo must never silently fall back to a default.
2. Every refusal is a ``ConfigurationError`` naming the section and field, the value given,
   the allowed range and the file.
3. Numbers must be finite; booleans are never numbers; integers are refused where a
   fraction would be meaningless (``Num(integer=True)``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from controller.errors import ConfigurationError


@dataclass(frozen=True, slots=True)
class Num:
    name: str
    lo: float
    hi: float
    default: float | None
    unit: str = ""
    integer: bool = False
    doc: str = ""

    def allowed(self) -> str:
        kind = "a whole number" if self.integer else "a number"
        return f"{kind} from {self.lo:g} to {self.hi:g}{(' ' + self.unit) if self.unit else ''}"


@dataclass(frozen=True, slots=True)
class Choice:
    name: str
    options: tuple[str, ...]
    default: str | None
    doc: str = ""

    def allowed(self) -> str:
        return "one of " + ", ".join(self.options)


@dataclass(frozen=True, slots=True)
class Flag:
    name: str
    default: bool | None
    doc: str = ""

    def allowed(self) -> str:
        return "true or false"


@dataclass(frozen=True, slots=True)
class Text:
    name: str
    default: str | None
    doc: str = ""

    def allowed(self) -> str:
        return "a non-empty string"


Field = Num | Choice | Flag | Text


def number(value: object, field: str, lo: float, hi: float, *, unit: str = "", integer: bool = False,
           source: str = "") -> float:
    """A finite number in [lo, hi] (never a bool), or a ConfigurationError naming ``field``."""
    spec = Num(field, lo, hi, None, unit, integer)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(field, value, spec.allowed(), source=source)
    x = float(value)
    if not math.isfinite(x):
        raise ConfigurationError(field, value, spec.allowed(), "NaN and infinity are never valid", source=source)
    if integer and not (isinstance(value, int) or x.is_integer()):
        raise ConfigurationError(field, value, spec.allowed(), source=source)
    if not lo <= x <= hi:
        raise ConfigurationError(field, value, spec.allowed(), source=source)
    return x


def parse_value(spec: Field, value: object, where: str, source: str) -> object:
    field = f"{where}.{spec.name}" if where else spec.name
    if isinstance(spec, Num):
        x = number(value, field, spec.lo, spec.hi, unit=spec.unit, integer=spec.integer, source=source)
        return int(x) if spec.integer else x
    if isinstance(spec, Flag):
        if not isinstance(value, bool):
            raise ConfigurationError(field, value, spec.allowed(), source=source)
        return value
    if isinstance(spec, Choice):
        if value not in spec.options:
            raise ConfigurationError(field, value, spec.allowed(), source=source)
        return value
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(field, value, spec.allowed(), source=source)
    return value


def parse_table(raw: object, specs: Sequence[Field], where: str, source: str = "", *,
                extra: Sequence[str] = ()) -> dict[str, object]:
    """Check ``raw`` against ``specs``; fill defaults (fields whose default is None stay absent).

    ``extra`` names keys the caller handles itself (they are passed through unchecked)."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigurationError(where, type(raw).__name__, "a table", source=source)
    by_name = {s.name: s for s in specs}
    for key in raw:
        if key not in by_name and key not in extra:
            known = sorted([*by_name, *extra])
            raise ConfigurationError(f"{where}.{key}" if where else str(key), raw[key],
                                     "one of the keys " + ", ".join(known), "unknown key (a typo?)", source=source)
    out: dict[str, object] = {}
    for spec in specs:
        if spec.name in raw:
            out[spec.name] = parse_value(spec, raw[spec.name], where, source)
        elif spec.default is not None:
            out[spec.name] = spec.default
    for key in extra:
        if key in raw:
            out[key] = raw[key]
    return out


def describe(specs: Sequence[Field]) -> list[tuple[str, str, str]]:
    """(name, allowed, default) rows, for documentation and ``--help`` text."""
    return [(s.name, s.allowed(), "" if s.default is None else str(s.default)) for s in specs]
