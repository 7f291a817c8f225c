"""Drug library entries: hard and soft limits per drug, concentration and care area.

Theory of operation
-------------------
An entry names a drug at one concentration in one care area (each concentration is its own
entry, REQ-DRG-001), its dose unit, the routes it may be given by, and ``Bounds`` (hard min,
soft min, soft max, hard max) for rate, dose, bolus volume and patient weight, plus an
optional dose-window limit. A value outside a *hard* bound is refused (REQ-DRG-002); outside
a *soft* bound it is accepted only after an explicit confirmation that is recorded
(REQ-DRG-003). The library is plain data (TOML or JSON); integrity and signatures are
handled where files are read.

Rules
1. Every number is parsed exactly (``units.to_fraction``); NaN, infinity and negatives are
   refused with the field named.
2. Bounds are ordered: hard_min <= soft_min <= soft_max <= hard_max wherever present.
3. Unknown keys are refused (a typo must never silently drop a limit).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from itertools import pairwise

from controller.doses import AMOUNTS, DoseUnit, parse_concentration_unit, parse_dose_unit
from controller.errors import ConfigurationError
from controller.limits import ROUTE_NAMES
from controller.units import to_fraction

BOUND_KEYS = ("hard_min", "soft_min", "soft_max", "hard_max")


@dataclass(frozen=True, slots=True)
class Bounds:
    hard_min: Fraction | None = None
    soft_min: Fraction | None = None
    soft_max: Fraction | None = None
    hard_max: Fraction | None = None

    def describe_hard(self, unit: str) -> str:
        lo = f"{float(self.hard_min):g}" if self.hard_min is not None else "0"
        hi = f"{float(self.hard_max):g}" if self.hard_max is not None else "no maximum"
        return f"{lo} to {hi} {unit} (hard limits)"

    def describe_soft(self, unit: str) -> str:
        lo = f"{float(self.soft_min):g}" if self.soft_min is not None else "0"
        hi = f"{float(self.soft_max):g}" if self.soft_max is not None else "no maximum"
        return f"{lo} to {hi} {unit} (soft limits)"


@dataclass(frozen=True, slots=True)
class SoftViolation:
    field: str
    value: Fraction
    allowed: str

    def __str__(self) -> str:
        return f"{self.field} = {float(self.value):g} is outside {self.allowed}"


def check_bounds(field: str, value: Fraction, b: Bounds, unit: str, source: str = "") -> SoftViolation | None:
    """Raise on a hard-limit breach; return the soft-limit breach, if any."""
    if (b.hard_min is not None and value < b.hard_min) or (b.hard_max is not None and value > b.hard_max):
        raise ConfigurationError(field, float(value), b.describe_hard(unit), "hard limits cannot be overridden",
                                 source=source)
    if (b.soft_min is not None and value < b.soft_min) or (b.soft_max is not None and value > b.soft_max):
        return SoftViolation(field, value, b.describe_soft(unit))
    return None


@dataclass(frozen=True, slots=True)
class DrugEntry:
    drug: str
    care_area: str
    concentration: Fraction
    concentration_amount: str  # amount unit of the concentration (per mL)
    dose_unit: DoseUnit
    routes: tuple[str, ...]
    rate: Bounds  # mL/h
    dose: Bounds  # in dose_unit
    bolus: Bounds  # mL
    weight: Bounds  # kg
    limit_ml: Fraction | None = None
    limit_window_s: Fraction | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.drug.lower(), self.care_area.lower())


_ENTRY_KEYS = {"drug", "care_area", "concentration", "concentration_unit", "dose_unit", "routes",
               "rate_ml_h", "dose", "bolus_ml", "weight_kg", "limit_ml", "limit_window_s"}


def _bounds(raw: object, field: str, source: str) -> Bounds:
    if raw is None:
        return Bounds()
    if not isinstance(raw, Mapping):
        raise ConfigurationError(field, raw, f"a table with keys {', '.join(BOUND_KEYS)}", source=source)
    extra = set(raw) - set(BOUND_KEYS)
    if extra:
        raise ConfigurationError(f"{field}.{sorted(extra)[0]}", raw[sorted(extra)[0]],
                                 f"keys {', '.join(BOUND_KEYS)}", source=source)
    vals = {k: (to_fraction(raw[k], f"{field}.{k}") if k in raw else None) for k in BOUND_KEYS}
    present = [(k, v) for k, v in vals.items() if v is not None]
    for (k1, v1), (k2, v2) in pairwise(present):
        if v1 > v2:
            raise ConfigurationError(f"{field}.{k2}", float(v2), f">= {field}.{k1} ({float(v1):g})",
                                     "bounds must be ordered hard_min <= soft_min <= soft_max <= hard_max",
                                     source=source)
    return Bounds(**vals)


def parse_entry(raw: Mapping[str, object], source: str = "") -> DrugEntry:
    extra = set(raw) - _ENTRY_KEYS
    if extra:
        k = sorted(extra)[0]
        raise ConfigurationError(k, raw[k], "one of " + ", ".join(sorted(_ENTRY_KEYS)), source=source)
    name = raw.get("drug")
    if not isinstance(name, str) or not name.strip():
        raise ConfigurationError("drug", name, "a non-empty name", source=source)
    area = raw.get("care_area", "general")
    if not isinstance(area, str) or not area.strip():
        raise ConfigurationError("care_area", area, "a non-empty name", source=source)
    conc = to_fraction(raw.get("concentration"), f"{name}.concentration")
    if conc <= 0:
        raise ConfigurationError(f"{name}.concentration", raw.get("concentration"), "more than 0", source=source)
    conc_amount = parse_concentration_unit(raw.get("concentration_unit", "mL/mL"), f"{name}.concentration_unit")
    unit = parse_dose_unit(raw.get("dose_unit", "mL/h"), f"{name}.dose_unit")
    if AMOUNTS[conc_amount][0] != unit.dimension:
        raise ConfigurationError(f"{name}.dose_unit", unit.text,
                                 f"a unit measured in {AMOUNTS[conc_amount][0]} like the concentration",
                                 "unit mismatch", source=source)
    routes_raw = raw.get("routes", list(ROUTE_NAMES))
    if (not isinstance(routes_raw, list) or not routes_raw
            or any(not isinstance(r, str) or r not in ROUTE_NAMES for r in routes_raw)):
        raise ConfigurationError(f"{name}.routes", routes_raw, "a non-empty list of " + ", ".join(ROUTE_NAMES),
                                 source=source)
    limit_ml = raw.get("limit_ml")
    window = raw.get("limit_window_s")
    if (limit_ml is None) != (window is None):
        raise ConfigurationError(f"{name}.limit_window_s", window, "given together with limit_ml", source=source)
    return DrugEntry(
        drug=name.strip(), care_area=area.strip(), concentration=conc, concentration_amount=conc_amount,
        dose_unit=unit, routes=tuple(routes_raw),
        rate=_bounds(raw.get("rate_ml_h"), f"{name}.rate_ml_h", source),
        dose=_bounds(raw.get("dose"), f"{name}.dose", source),
        bolus=_bounds(raw.get("bolus_ml"), f"{name}.bolus_ml", source),
        weight=_bounds(raw.get("weight_kg"), f"{name}.weight_kg", source),
        limit_ml=to_fraction(limit_ml, f"{name}.limit_ml") if limit_ml is not None else None,
        limit_window_s=to_fraction(window, f"{name}.limit_window_s") if window is not None else None,
    )


@dataclass(frozen=True, slots=True)
class Library:
    entries: tuple[DrugEntry, ...]
    version: str = "unversioned"
    source: str = ""

    @classmethod
    def from_data(cls, data: Mapping[str, object], source: str = "") -> Library:
        raw = data.get("drug", [])
        if not isinstance(raw, list):
            raise ConfigurationError("drug", type(raw).__name__, "an array of drug tables", source=source)
        entries = tuple(parse_entry(r, source) if isinstance(r, Mapping) else _not_table(r, source) for r in raw)
        seen: set[tuple[str, str]] = set()
        for e in entries:
            if e.key in seen:
                raise ConfigurationError("drug", e.drug, "one entry per drug and care area",
                                         f"duplicate entry in care area {e.care_area!r}", source=source)
            seen.add(e.key)
        return cls(entries, str(data.get("version", "unversioned")), source)

    def lookup(self, drug: object, care_area: str = "general") -> DrugEntry:
        for e in self.entries:
            if isinstance(drug, str) and e.key == (drug.strip().lower(), care_area.lower()):
                return e
        known = sorted({f"{e.drug} ({e.care_area})" for e in self.entries})
        raise ConfigurationError("drug", drug, "one of " + (", ".join(known) or "nothing: the library is empty"),
                                 "unknown drug: the pump stays stopped until a library entry is chosen",
                                 source=self.source)


def _not_table(r: object, source: str) -> DrugEntry:
    raise ConfigurationError("drug", r, "a table", source=source)
