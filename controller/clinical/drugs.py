"""Drug library entries: hard and soft limits per drug, concentration and care area.

Theory of operation
-------------------
An entry names a drug at one concentration in one care area (each concentration is its own
entry, REQ-DRG-001), its dose unit, the routes it may be given by, and ``Bounds`` (hard min,
soft min, soft max, hard max) for rate, dose, patient weight, VTBI, patient (PCA) bolus,
clinician bolus, loading-dose and intermittent-dose volumes, plus an optional dose-window
limit in mL or in the drug's own amount (``limit_dose``, per kg for a per-kg dose unit).
A value outside a *hard* bound is refused (REQ-DRG-002); outside a *soft* bound it is accepted
only after an explicit confirmation that is recorded (REQ-DRG-003). ``controller.clinical.dosebounds``
compiles an entry for one patient into the core's integer ``LibBounds``.

A care area (``[[care_area]]``) says whether a *basic infusion* (no drug selected) is allowed
there and under which limits (REQ-DRG-006); a library without care-area tables allows none.
The library is plain data (TOML or JSON); integrity and signatures are handled where files
are read.

Rules
1. Every number is parsed exactly (``units.to_fraction``); NaN, infinity and negatives are
   refused with the field named.
2. Bounds are ordered: hard_min <= soft_min <= soft_max <= hard_max wherever present.
3. Unknown keys are refused (a typo must never silently drop a limit).
4. Limits that contradict the pump are refused at load, with values printed as decimals (never
   as 300-digit fractions): a rate hard max above the pump maximum, a window or weight hard
   max of zero, an absurd concentration (REQ-DRG-001), and any maximum (hard or soft) of a rate,
   a volume, a dose or a window below what the pump can resolve: 0.001 mL/h, 0.001 mL, and for a
   dose or ``limit_dose`` at the entry's concentration for the largest patient the entry allows
   (its weight hard max, else 500 kg; 5 m2). A per-patient shortfall is refused where the entry
   is compiled for the patient (``controller.clinical.dosebounds``); a rate hard max above this
   pump's configured ``max_rate`` is not an error: the tighter of the two binds.
5. Dose limits need a dose *rate* unit (ending in /min or /h): in a per-dose unit they would bind
   nothing, so they are refused (give volume limits: bolus, loading, intermittent).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from itertools import pairwise

from controller.clinical.doses import (
    AMOUNTS,
    DoseUnit,
    amount_to_ml,
    dose_to_ml_h,
    parse_concentration_unit,
    parse_dose_unit,
)
from controller.core.limits import PUMP_MAX_RATE, PUMP_MAX_VTBI, ROUTE_NAMES
from controller.core.units import RATE_PER_ML_H, VU_PER_ML, to_fraction
from controller.errors import ConfigurationError

MAX_PUMP_ML_H = Fraction(PUMP_MAX_RATE, RATE_PER_ML_H)
MAX_PUMP_ML = Fraction(PUMP_MAX_VTBI, VU_PER_ML)
CONCENTRATION_RANGE = (Fraction(1, 10**9), Fraction(10**9))  # per mL, in the concentration's own unit
WINDOW_RANGE_S = (Fraction(60), Fraction(86_400))
WEIGHT_MAX_KG = Fraction(500)
BSA_MAX_M2 = Fraction(5)  # no patient's body surface is larger: the most a per-m2 limit can give
RATE_RESOLUTION_ML_H = Fraction(1, RATE_PER_ML_H)  # the core's rate unit, 1 uL/h
VOLUME_RESOLUTION_ML = Fraction(1, 1000)  # the smallest volume the pump shows (1 uL)


def show(x: Fraction | int | None) -> str:
    """A number as a person reads it (rule 4)."""
    return "none" if x is None else f"{float(x):.6g}"

BOUND_KEYS = ("hard_min", "soft_min", "soft_max", "hard_max")


@dataclass(frozen=True, slots=True)
class Bounds:
    hard_min: Fraction | None = None
    soft_min: Fraction | None = None
    soft_max: Fraction | None = None
    hard_max: Fraction | None = None

    def describe_hard(self, unit: str) -> str:
        lo = show(self.hard_min) if self.hard_min is not None else "0"
        hi = show(self.hard_max) if self.hard_max is not None else "no maximum"
        return f"{lo} to {hi} {unit} (hard limits)"

    def describe_soft(self, unit: str) -> str:
        lo = show(self.soft_min) if self.soft_min is not None else "0"
        hi = show(self.soft_max) if self.soft_max is not None else "no maximum"
        return f"{lo} to {hi} {unit} (soft limits)"

    @property
    def empty(self) -> bool:
        return all(getattr(self, k) is None for k in BOUND_KEYS)


@dataclass(frozen=True, slots=True)
class SoftViolation:
    field: str
    value: Fraction
    allowed: str

    def __str__(self) -> str:
        return f"{self.field} = {show(self.value)} is outside {self.allowed}"


def check_bounds(field: str, value: Fraction, b: Bounds, unit: str, source: str = "") -> SoftViolation | None:
    """Raise on a hard-limit breach; return the soft-limit breach, if any."""
    if (b.hard_min is not None and value < b.hard_min) or (b.hard_max is not None and value > b.hard_max):
        raise ConfigurationError(field, show(value), b.describe_hard(unit), "hard limits cannot be overridden",
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
    bolus: Bounds  # mL (patient / PCA bolus)
    weight: Bounds  # kg
    limit_ml: Fraction | None = None
    limit_window_s: Fraction | None = None
    clinician_bolus: Bounds = Bounds()  # mL; falls back to ``bolus`` where it gives nothing
    loading: Bounds = Bounds()  # mL, the loading dose
    intermittent: Bounds = Bounds()  # mL, each intermittent dose
    vtbi: Bounds = Bounds()  # mL
    limit_dose: Fraction | None = None  # window limit in the dose unit's amount (per kg if the unit is)

    @property
    def key(self) -> tuple[str, str]:
        return (self.drug.lower(), self.care_area.lower())

    @property
    def clinician_bolus_bounds(self) -> Bounds:
        return self.clinician_bolus if not self.clinician_bolus.empty else self.bolus


@dataclass(frozen=True, slots=True)
class CareArea:
    """A care area's basic-infusion policy and limits (REQ-DRG-006)."""

    name: str
    basic: bool  # basic infusion (no drug selected) allowed here
    rate: Bounds = Bounds()  # mL/h
    vtbi: Bounds = Bounds()  # mL
    bolus: Bounds = Bounds()  # mL (clinician bolus during a basic infusion)
    limit_ml: Fraction | None = None
    limit_window_s: Fraction | None = None


_ENTRY_KEYS = {"drug", "care_area", "concentration", "concentration_unit", "dose_unit", "routes",
               "rate_ml_h", "dose", "bolus_ml", "weight_kg", "limit_ml", "limit_window_s", "clinician_bolus_ml",
               "loading_ml", "intermittent_ml", "vtbi_ml", "limit_dose"}
_AREA_KEYS = {"name", "basic", "rate_ml_h", "vtbi_ml", "bolus_ml", "limit_ml", "limit_window_s"}


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
            raise ConfigurationError(f"{field}.{k2}", show(v2), f">= {field}.{k1} ({show(v1)})",
                                     "bounds must be ordered hard_min <= soft_min <= soft_max <= hard_max",
                                     source=source)
    return Bounds(**vals)


def _within(field: str, b: Bounds, top: Fraction, unit: str, source: str, least: Fraction | None = None) -> Bounds:
    """Rule 4: a maximum above what the pump can do, a zero maximum, or one below the pump's
    resolution (``least``) contradicts the pump."""
    for k in BOUND_KEYS:
        x = getattr(b, k)
        if x is not None and x > top:
            raise ConfigurationError(f"{field}.{k}", show(x), f"at most {show(top)} {unit} (the pump's maximum)",
                                     "a library limit the pump can never reach is a typo", source=source)
    if b.hard_max is not None and b.hard_max <= 0:
        raise ConfigurationError(f"{field}.hard_max", show(b.hard_max), f"more than 0 {unit}",
                                 "a zero hard maximum allows nothing", source=source)
    for k in ("soft_max", "hard_max"):
        x = getattr(b, k)
        if least is not None and x is not None and x < least:
            raise ConfigurationError(f"{field}.{k}", show(x), f"at least {show(least)} {unit} (the pump's "
                                     "resolution)", "a maximum the pump cannot resolve allows nothing", source=source)
    return b


def _reachable(e: DrugEntry, source: str) -> DrugEntry:
    """Rules 4 and 5 for the limits in the drug's own unit: at the entry's concentration, for the
    largest patient it allows, each maximum must come to at least the pump's resolution."""
    unit, name = e.dose_unit, e.drug
    if unit.per_time is None and not e.dose.empty:
        raise ConfigurationError(f"{name}.dose", unit.text, "dose limits in a dose rate unit (ending in /min or /h)",
                                 "a dose per dose binds nothing here: give the volume limits (bolus_ml, loading_ml, "
                                 "intermittent_ml)", source=source)
    weight = e.weight.hard_max if e.weight.hard_max is not None else WEIGHT_MAX_KG
    body = (f" for the largest patient ({show(weight)} kg)" if unit.per_body == "kg" else
            f" for the largest patient ({show(BSA_MAX_M2)} m2)" if unit.per_body == "m2" else "")
    where = f" at {show(e.concentration)} {e.concentration_amount}/mL{body}"
    args = (unit, e.concentration, e.concentration_amount, weight, BSA_MAX_M2)
    if unit.per_time is not None:
        for k in ("soft_max", "hard_max"):
            x = getattr(e.dose, k)
            if x is not None and dose_to_ml_h(x, *args) < RATE_RESOLUTION_ML_H:
                least = RATE_RESOLUTION_ML_H / dose_to_ml_h(Fraction(1), *args)
                raise ConfigurationError(f"{name}.dose.{k}", show(x), f"at least {show(least)} {unit.text} "
                                         f"({show(RATE_RESOLUTION_ML_H)} mL/h, the pump's rate resolution,{where})",
                                         "a maximum the pump cannot resolve allows nothing", source=source)
    if e.limit_dose is not None and amount_to_ml(e.limit_dose, *args) < VOLUME_RESOLUTION_ML:
        least = VOLUME_RESOLUTION_ML / amount_to_ml(Fraction(1), *args)
        raise ConfigurationError(f"{name}.limit_dose", show(e.limit_dose), f"at least {show(least)} "
                                 f"{unit.amount}{'/' + unit.per_body if unit.per_body else ''} "
                                 f"({show(VOLUME_RESOLUTION_ML)} mL{where})", "a window limit that rounds to "
                                 "nothing would drop the window", source=source)
    return e


def _limit_ml(limit_ml: Fraction | None, field: str, source: str) -> Fraction | None:
    if limit_ml is not None and limit_ml < VOLUME_RESOLUTION_ML:
        raise ConfigurationError(field, show(limit_ml), f"at least {show(VOLUME_RESOLUTION_ML)} mL (the pump's "
                                 "resolution)", "a window limit that rounds to nothing would drop the window",
                                 source=source)
    return limit_ml


def _window(raw: Mapping[str, object], name: str, source: str, *amounts: str
            ) -> tuple[Fraction | None, Fraction | None, Fraction | None]:
    """(limit mL, limit amount, window s) of an entry or care area; validated together."""
    vals = {k: (to_fraction(raw[k], f"{name}.{k}") if raw.get(k) is not None else None)
            for k in ("limit_ml", *amounts, "limit_window_s")}
    limit_ml, window = vals["limit_ml"], vals["limit_window_s"]
    amount = vals.get(amounts[0]) if amounts else None
    if limit_ml is not None and amount is not None:
        raise ConfigurationError(f"{name}.limit_dose", show(amount), "limit_ml or limit_dose, not both", source=source)
    given = limit_ml if limit_ml is not None else amount
    if (given is None) != (window is None):
        field = "limit_window_s" if window is None else "limit_ml"
        raise ConfigurationError(f"{name}.{field}", None, "limit_window_s given together with limit_ml or limit_dose",
                                 source=source)
    if given is not None and given <= 0:
        raise ConfigurationError(f"{name}.{'limit_ml' if limit_ml is not None else 'limit_dose'}", show(given),
                                 "more than 0", "a zero window limit allows nothing", source=source)
    if window is not None and not WINDOW_RANGE_S[0] <= window <= WINDOW_RANGE_S[1]:
        raise ConfigurationError(f"{name}.limit_window_s", show(window), "60 to 86400 s", source=source)
    return limit_ml, amount, window


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
    conc_amount = parse_concentration_unit(raw.get("concentration_unit", "mL/mL"), f"{name}.concentration_unit")
    lo, hi = CONCENTRATION_RANGE
    if not lo <= conc <= hi:
        raise ConfigurationError(f"{name}.concentration", show(conc),
                                 f"more than 0: {show(lo)} to {show(hi)} {conc_amount}/mL",
                                 "an absurd concentration is a typo", source=source)
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
    limit_ml, limit_dose, window = _window(raw, name, source, "limit_dose")

    def vol(key: str) -> Bounds:
        return _within(f"{name}.{key}", _bounds(raw.get(key), f"{name}.{key}", source), MAX_PUMP_ML, "mL", source,
                       VOLUME_RESOLUTION_ML)
    return _reachable(DrugEntry(
        drug=name.strip(), care_area=area.strip(), concentration=conc, concentration_amount=conc_amount,
        dose_unit=unit, routes=tuple(routes_raw),
        rate=_within(f"{name}.rate_ml_h", _bounds(raw.get("rate_ml_h"), f"{name}.rate_ml_h", source),
                     MAX_PUMP_ML_H, "mL/h", source, RATE_RESOLUTION_ML_H),
        dose=_bounds(raw.get("dose"), f"{name}.dose", source),
        bolus=vol("bolus_ml"),
        weight=_within(f"{name}.weight_kg", _bounds(raw.get("weight_kg"), f"{name}.weight_kg", source),
                       WEIGHT_MAX_KG, "kg", source),
        limit_ml=_limit_ml(limit_ml, f"{name}.limit_ml", source), limit_window_s=window,
        clinician_bolus=vol("clinician_bolus_ml"), loading=vol("loading_ml"), intermittent=vol("intermittent_ml"),
        vtbi=vol("vtbi_ml"), limit_dose=limit_dose,
    ), source)


def parse_care_area(raw: Mapping[str, object], source: str = "") -> CareArea:
    extra = set(raw) - _AREA_KEYS
    if extra:
        k = sorted(extra)[0]
        raise ConfigurationError(f"care_area.{k}", raw[k], "one of " + ", ".join(sorted(_AREA_KEYS)), source=source)
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigurationError("care_area.name", name, "a non-empty name", source=source)
    basic = raw.get("basic")
    if not isinstance(basic, bool):
        raise ConfigurationError(f"care_area[{name}].basic", basic,
                                 "true or false: whether a basic infusion (no drug) is allowed", source=source)
    where = f"care_area[{name}]"
    limit_ml, _, window = _window(raw, where, source)
    return CareArea(
        name=name.strip(), basic=basic,
        rate=_within(f"{where}.rate_ml_h", _bounds(raw.get("rate_ml_h"), f"{where}.rate_ml_h", source),
                     MAX_PUMP_ML_H, "mL/h", source, RATE_RESOLUTION_ML_H),
        vtbi=_within(f"{where}.vtbi_ml", _bounds(raw.get("vtbi_ml"), f"{where}.vtbi_ml", source),
                     MAX_PUMP_ML, "mL", source, VOLUME_RESOLUTION_ML),
        bolus=_within(f"{where}.bolus_ml", _bounds(raw.get("bolus_ml"), f"{where}.bolus_ml", source),
                      MAX_PUMP_ML, "mL", source, VOLUME_RESOLUTION_ML),
        limit_ml=_limit_ml(limit_ml, f"{where}.limit_ml", source), limit_window_s=window,
    )


@dataclass(frozen=True, slots=True)
class Library:
    entries: tuple[DrugEntry, ...]
    version: str = "unversioned"
    source: str = ""
    care_areas: tuple[CareArea, ...] = ()

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
        raw_areas = data.get("care_area", [])
        if not isinstance(raw_areas, list) or not all(isinstance(a, Mapping) for a in raw_areas):
            raise ConfigurationError("care_area", type(raw_areas).__name__, "an array of [[care_area]] tables",
                                     source=source)
        areas = tuple(parse_care_area(a, source) for a in raw_areas)
        if len({a.name.lower() for a in areas}) != len(areas):
            raise ConfigurationError("care_area.name", sorted(a.name for a in areas), "one table per care area",
                                     source=source)
        return cls(entries, str(data.get("version", "unversioned")), source, areas)

    def care_area(self, name: str) -> CareArea:
        """The care area's basic-infusion policy; a care area the library does not list allows no
        basic infusion (REQ-DRG-006)."""
        for a in self.care_areas:
            if a.name.lower() == name.strip().lower():
                return a
        return CareArea(name, False)

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
