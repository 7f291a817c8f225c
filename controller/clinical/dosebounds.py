"""Compile a drug-library entry (or a care area's basic limits) for one patient into ``LibBounds``.

Theory of operation
-------------------
The clinician's entry mode never reaches this module: the bounds depend only on the library
entry, the patient (weight, body surface) and the pump limits. So every way of programming a
drug - a dose, a rate, a VTBI over a duration, a loading or intermittent dose, PCA, a clinician
bolus - is held by the core to the same integer bounds (REQ-DRG-005). Conversion is exact
(``fractions.Fraction``) and each bound is rounded so that an integer quantity passes the
integer bound exactly when its exact value passes the library bound: maxima round down, minima
round up, window lengths round up.

The arithmetic (``entry_bounds``, ``area_bounds``) is dual-use: ``proofs/edge.py`` calls these
very functions with Z3 reals for every number of the entry and the patient and proves, for every
dose unit family and all positive values, that every compiled bound passes an integer exactly
when the library's own limit in clinical units does (EDGE-RND-*). ``proofs/contracts.py`` checks
the same code with CrossHair on whole-number inputs. ``compile_entry`` and
``compile_care_area`` add the checks that need concrete values: the patient's weight, and
bounds that leave nothing this pump can run or that compile to nothing (refused readably).

A weight-based (or BSA-based) entry needs the patient's weight in every mode, and an entry
with weight bounds checks the weight in every mode, rate mode included (REQ-DRG-002).

Rules
1. ``compile_entry`` and ``compile_care_area`` are the only producers of ``LibBounds``.
2. A bound the entry does not give is the pump's ceiling (``LibBounds`` defaults).
3. ``entry_code`` is stable across library versions and restarts: the dose history of a line
   belongs to one drug at one concentration (REQ-DOS-006).
4. ``entry_bounds``/``area_bounds`` use only dual-use operations (``floor_to``, ``ceil_to``,
   ``minimum``, ``maximum``, ``div_ceil``) on values that may be symbolic.
5. A library window never compiles to "no window": a limit below one volume unit for this
   patient is refused, as is a maximum that leaves nothing the pump can run (REQ-DRG-001).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

from controller.clinical.doses import amount_to_ml, dose_to_ml_h, ml_h_to_dose
from controller.clinical.drugs import Bounds, CareArea, DrugEntry, SoftViolation, check_bounds, show
from controller.core.libbounds import BASIC, N_BUCKETS, LibBounds
from controller.core.limits import PUMP_MAX_RATE, PUMP_MAX_VTBI, ROUTE_NAMES, Limits
from controller.core.logic import div_ceil, maximum, minimum
from controller.core.units import MS_PER_S, RATE_PER_ML_H, VU_PER_ML
from controller.errors import ConfigurationError

_TO_INT: Callable[[Any], Any] | None = None


def register_floor(to_int: Callable[[Any], Any]) -> None:
    """Install the symbolic floor of a real (``proofs/edge.py`` passes ``z3.ToInt``)."""
    global _TO_INT
    _TO_INT = to_int


def _floor(y: Any) -> int:
    if isinstance(y, (int, Fraction)):
        return math.floor(y)
    if _TO_INT is None:
        raise TypeError("symbolic value used but no symbolic floor is registered")
    out: int = _TO_INT(y)
    return out


@dataclass(frozen=True, slots=True)
class Patient:
    weight_kg: Fraction | None = None
    bsa_m2: Fraction | None = None


@dataclass(frozen=True, slots=True)
class Compiled:
    bounds: LibBounds
    soft: tuple[SoftViolation, ...]  # soft limits only the edge can see (patient weight)
    code: int


def entry_code(entry: DrugEntry) -> int:
    """A stable positive 48-bit code for (drug, concentration, unit): rule 3."""
    text = f"{entry.drug.strip().lower()}|{entry.concentration}|{entry.concentration_amount}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:6], "big") | 1


def floor_to(x: Fraction, scale: int) -> int:
    """The largest integer n with n <= x * scale (a maximum, rounded toward less drug)."""
    return _floor(x * scale)


def ceil_to(x: Fraction, scale: int) -> int:
    """The smallest integer n with n >= x * scale (a minimum, or a window length)."""
    return -_floor(-x * scale)


def _rate_max(*candidates: Fraction | None) -> int:
    return minimum(PUMP_MAX_RATE, *(floor_to(c, RATE_PER_ML_H) for c in candidates if c is not None))


def _rate_min(*candidates: Fraction | None) -> int:
    return maximum(0, *(ceil_to(c, RATE_PER_ML_H) for c in candidates if c is not None))


def _vol_max(*candidates: Fraction | None) -> int:
    return minimum(PUMP_MAX_VTBI, *(floor_to(c, VU_PER_ML) for c in candidates if c is not None))


def _bucket(window_s: Fraction) -> int:
    """Bucket length for a window: the window (in whole ms, rounded up) split in N_BUCKETS, rounded up."""
    return div_ceil(ceil_to(window_s, MS_PER_S), N_BUCKETS)


def _dose_rates(entry: DrugEntry, p: Patient) -> tuple[Fraction | None, ...]:
    """(hard min, soft min, soft max, hard max) of the dose bound, in mL/h for this patient."""
    unit, d = entry.dose_unit, entry.dose
    if unit.per_time is None or d.empty:
        return (None, None, None, None)

    def conv(x: Fraction | None) -> Fraction | None:
        return None if x is None else dose_to_ml_h(x, unit, entry.concentration, entry.concentration_amount,
                                                   p.weight_kg, p.bsa_m2)
    return conv(d.hard_min), conv(d.soft_min), conv(d.soft_max), conv(d.hard_max)


def _window(limit_ml: Fraction | None, window_s: Fraction | None) -> tuple[int, int]:
    if limit_ml is None or window_s is None:
        return 0, LibBounds().win_bucket_ms
    return _vol_max(limit_ml), _bucket(window_s)  # above the pump's largest volume it can never bind: capped


def window_ml(entry: DrugEntry, p: Patient) -> Fraction | None:
    """The entry's window limit in mL for this patient (``limit_dose`` converted at its concentration)."""
    if entry.limit_dose is None:
        return entry.limit_ml
    return amount_to_ml(entry.limit_dose, entry.dose_unit, entry.concentration, entry.concentration_amount,
                        p.weight_kg, p.bsa_m2)


def entry_bounds(entry: DrugEntry, patient: Patient) -> LibBounds:
    """The entry's limits for this patient in core integers (dual-use: rule 4; no checks here)."""
    d_hmin, d_smin, d_smax, d_hmax = _dose_rates(entry, patient)
    r = entry.rate
    win_vol, win_bucket = _window(window_ml(entry, patient), entry.limit_window_s)
    cb = entry.clinician_bolus_bounds
    return LibBounds(
        rate_max=_rate_max(r.hard_max), dose_rate_max=_rate_max(r.hard_max, d_hmax),
        rate_min=_rate_min(r.hard_min, d_hmin),
        rate_soft_max=_rate_max(r.soft_max, d_smax), rate_soft_min=_rate_min(r.soft_min, d_smin),
        bolus_max=_vol_max(entry.bolus.hard_max), bolus_soft_max=_vol_max(entry.bolus.soft_max),
        clin_bolus_max=_vol_max(cb.hard_max), clin_bolus_soft_max=_vol_max(cb.soft_max),
        load_max=_vol_max(entry.loading.hard_max), load_soft_max=_vol_max(entry.loading.soft_max),
        dose_max=_vol_max(entry.intermittent.hard_max), dose_soft_max=_vol_max(entry.intermittent.soft_max),
        vtbi_max=_vol_max(entry.vtbi.hard_max),
        win_vol=win_vol, win_bucket_ms=win_bucket,
        routes=tuple(name in entry.routes for name in ROUTE_NAMES),
    )


def area_bounds(area: CareArea) -> LibBounds:
    """A care area's basic-infusion limits in core integers (dual-use: rule 4; no checks here)."""
    win_vol, win_bucket = _window(area.limit_ml, area.limit_window_s)
    return LibBounds(
        rate_max=_rate_max(area.rate.hard_max), dose_rate_max=_rate_max(area.rate.hard_max),
        rate_min=_rate_min(area.rate.hard_min),
        rate_soft_max=_rate_max(area.rate.soft_max), rate_soft_min=_rate_min(area.rate.soft_min),
        clin_bolus_max=_vol_max(area.bolus.hard_max), clin_bolus_soft_max=_vol_max(area.bolus.soft_max),
        bolus_max=_vol_max(area.bolus.hard_max), bolus_soft_max=_vol_max(area.bolus.soft_max),
        vtbi_max=_vol_max(area.vtbi.hard_max), win_vol=win_vol, win_bucket_ms=win_bucket,
    )


def _patient(entry: DrugEntry, p: Patient) -> tuple[SoftViolation, ...]:
    """Check the weight in every mode (rule: weight-based entries need it; bounds are checked)."""
    needs_weight = entry.dose_unit.per_body == "kg" or not entry.weight.empty
    if needs_weight and p.weight_kg is None:
        raise ConfigurationError("weight_kg", None, f"the patient's weight in kg ({entry.drug} has weight-based "
                                 "limits, in every programming mode)")
    if entry.dose_unit.per_body == "m2" and p.bsa_m2 is None:
        raise ConfigurationError("bsa_m2", None, f"the patient's body surface in m2 ({entry.drug} is dosed per m2)")
    if p.weight_kg is not None and p.weight_kg <= 0:
        raise ConfigurationError("weight_kg", show(p.weight_kg), "more than 0 kg")
    if p.bsa_m2 is not None and p.bsa_m2 <= 0:
        raise ConfigurationError("bsa_m2", show(p.bsa_m2), "more than 0 m2")
    soft = check_bounds("weight_kg", p.weight_kg, entry.weight, "kg") if p.weight_kg is not None else None
    return (soft,) if soft is not None else ()


def _ml_h(rate: int) -> str:
    return show(Fraction(rate, RATE_PER_ML_H))


def _check_pump(b: LibBounds, limits: Limits, source: DrugEntry | CareArea, patient: Patient) -> LibBounds:
    """Where the library meets this pump's limits and this patient: bounds that leave nothing the
    pump can run, or that compile to nothing, are refused readably (rule 5, REQ-DRG-001)."""
    entry: DrugEntry | None
    if isinstance(source, DrugEntry):
        entry, name, limit = source, source.drug, window_ml(source, patient)
        what = f"{source.drug} ({source.care_area})"
    else:
        entry, name, limit = None, f"care_area[{source.name}]", source.limit_ml
        what = f"basic infusion in {source.name}"
    rate = source.rate
    # a rate hard max above this pump's configured max_rate is not refused: the tighter one binds
    # (the program's rate_hard_max and the core's rate_cap take the minimum), so a pump configured
    # lower than the library was written for still runs every entry within its own maximum;
    # a library above the mechanism's physical maximum is refused at load (drugs.py)
    if b.rate_max < limits.min_rate:
        raise ConfigurationError(f"{name}.rate_ml_h.hard_max", f"{show(rate.hard_max)} mL/h",
                                 f"at least {_ml_h(limits.min_rate)} mL/h (this pump's minimum rate)", source=what)
    if entry is not None and b.dose_rate_max < limits.min_rate:  # a care area's equals its rate_max
        unit = entry.dose_unit
        least = ml_h_to_dose(Fraction(limits.min_rate, RATE_PER_ML_H), unit, entry.concentration,
                             entry.concentration_amount, patient.weight_kg, patient.bsa_m2)
        raise ConfigurationError(f"{name}.dose.hard_max", f"{show(entry.dose.hard_max)} {unit.text}",
                                 f"at least {show(least)} {unit.text} for this patient ({_ml_h(limits.min_rate)} "
                                 "mL/h, this pump's minimum rate)", "the library's dose maximum leaves nothing the "
                                 "pump can run for this patient", source=what)
    if b.rate_min > min(b.dose_rate_max, limits.max_rate):
        raise ConfigurationError("rate_ml_h", f"at least {_ml_h(b.rate_min)} mL/h",
                                 f"at most {_ml_h(min(b.dose_rate_max, limits.max_rate))} mL/h",
                                 f"{what}: the library's minimum for this patient is above what the pump may run")
    if b.rate_soft_min > b.rate_soft_max:
        raise ConfigurationError(f"{name}.soft_min", f"{_ml_h(b.rate_soft_min)} mL/h for this patient",
                                 f"at most the soft maximum, {_ml_h(b.rate_soft_max)} mL/h for this patient",
                                 "the entry's rate and dose soft limits contradict each other for this patient",
                                 source=what)
    if limit is not None and b.win_vol <= 0:
        field = "limit_dose" if entry is not None and entry.limit_dose is not None else "limit_ml"
        raise ConfigurationError(f"{name}.{field}", show(getattr(source, field)),
                                 f"a limit of at least one volume unit for this patient (it is {show(limit)} mL)",
                                 "a window limit that rounds to nothing would drop the window", source=what)
    if b.win_vol and b.win_bucket_ms < limits.max_tick_ms:
        raise ConfigurationError(f"{name}.limit_window_s", show(source.limit_window_s),
                                 f"at least {show(Fraction(limits.max_tick_ms * N_BUCKETS, MS_PER_S))} s "
                                 f"({N_BUCKETS} control ticks)", source=what)
    return b


def compile_entry(entry: DrugEntry, patient: Patient, limits: Limits) -> Compiled:
    """The entry's limits for this patient, in core integers (see the module docstring)."""
    soft = _patient(entry, patient)
    b = replace(entry_bounds(entry, patient), soft_edge=bool(soft))
    return Compiled(_check_pump(b, limits, entry, patient), soft, entry_code(entry))


def compile_care_area(area: CareArea, limits: Limits) -> Compiled:
    """A basic infusion's bounds: the care area's own limits (REQ-DRG-006)."""
    if not area.basic:
        raise ConfigurationError("drug", None, f"a drug from the library (care area {area.name!r} does not allow "
                                 "a basic infusion without a drug)", "choose the drug, or a care area that allows "
                                 "basic infusions")
    return Compiled(_check_pump(area_bounds(area), limits, area, Patient()), (), BASIC)


def soft_checks(entry: DrugEntry | CareArea, values: dict[str, Fraction]) -> list[SoftViolation]:
    """Hard limits in clinical units (refused with the clinician's own numbers) and the soft ones
    crossed in those units; the core checks the same limits again on the compiled integers, and
    the soft list the clinician sees comes from those integers (``controller.clinical.softlimits``)."""
    out: list[SoftViolation] = []
    table: dict[str, tuple[Bounds, str]] = {"rate_ml_h": (entry.rate, "mL/h")}
    if isinstance(entry, DrugEntry):
        table.update({"bolus_ml": (entry.bolus, "mL"), "clinician_bolus_max_ml": (entry.clinician_bolus_bounds, "mL"),
                      "loading_ml": (entry.loading, "mL"), "dose_ml": (entry.intermittent, "mL"),
                      "vtbi_ml": (entry.vtbi, "mL"), "dose": (entry.dose, entry.dose_unit.text)})
    else:
        table.update({"clinician_bolus_max_ml": (entry.bolus, "mL"), "bolus_ml": (entry.bolus, "mL"),
                      "vtbi_ml": (entry.vtbi, "mL")})
    for field, value in values.items():
        if field in table:
            bounds, unit = table[field]
            v = check_bounds(field, value, bounds, unit)
            if v is not None:
                out.append(v)
    return out
