"""Compile a drug-library entry (or a care area's basic limits) for one patient into ``LibBounds``.

Theory of operation
-------------------
The clinician's entry mode never reaches this module: the bounds depend only on the library
entry, the patient (weight, body surface) and the pump limits. So every way of programming a
drug - a dose, a rate, a VTBI over a duration, a loading or intermittent dose, PCA, a clinician
bolus - is held by the core to the same integer bounds (REQ-DRG-005). Conversion is exact
(``fractions.Fraction``) and each bound is rounded so that an integer quantity passes the
integer bound exactly when its exact value passes the library bound: maxima round down, minima
round up, window lengths round up. ``proofs/contracts.py`` checks these directions with
CrossHair on this code and ``proofs/edge.py`` proves the dose-to-rate direction over the reals.

A weight-based (or BSA-based) entry needs the patient's weight in every mode, and an entry
with weight bounds checks the weight in every mode, rate mode included (REQ-DRG-002).

Rules
1. ``compile_entry`` and ``compile_care_area`` are the only producers of ``LibBounds``.
2. A bound the entry does not give is the pump's ceiling (``LibBounds`` defaults).
3. ``entry_code`` is stable across library versions and restarts: the dose history of a line
   belongs to one drug at one concentration (REQ-DOS-006).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from fractions import Fraction

from controller.clinical.doses import amount_to_ml, dose_to_ml_h
from controller.clinical.drugs import Bounds, CareArea, DrugEntry, SoftViolation, check_bounds, show
from controller.core.libbounds import BASIC, N_BUCKETS, LibBounds
from controller.core.limits import PUMP_MAX_RATE, PUMP_MAX_VTBI, ROUTE_NAMES, Limits
from controller.core.units import MS_PER_S, RATE_PER_ML_H, VU_PER_ML
from controller.errors import ConfigurationError


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
    return math.floor(x * scale)


def ceil_to(x: Fraction, scale: int) -> int:
    """The smallest integer n with n >= x * scale (a minimum, or a window length)."""
    return math.ceil(x * scale)


def _rate_max(*candidates: Fraction | None) -> int:
    return min([PUMP_MAX_RATE, *(floor_to(c, RATE_PER_ML_H) for c in candidates if c is not None)])


def _rate_min(*candidates: Fraction | None) -> int:
    return max([0, *(ceil_to(c, RATE_PER_ML_H) for c in candidates if c is not None)])


def _vol_max(*candidates: Fraction | None) -> int:
    return min([PUMP_MAX_VTBI, *(floor_to(c, VU_PER_ML) for c in candidates if c is not None)])


def _bucket(window_s: Fraction) -> int:
    """Bucket length for a window: the window (in whole ms, rounded up) split in N_BUCKETS, rounded up."""
    return math.ceil(ceil_to(window_s, MS_PER_S) / N_BUCKETS)


def _dose_rates(entry: DrugEntry, p: Patient) -> tuple[Fraction | None, ...]:
    """(hard min, soft min, soft max, hard max) of the dose bound, in mL/h for this patient."""
    unit, d = entry.dose_unit, entry.dose
    if unit.per_time is None or d.empty:
        return (None, None, None, None)

    def conv(x: Fraction | None) -> Fraction | None:
        return None if x is None else dose_to_ml_h(x, unit, entry.concentration, entry.concentration_amount,
                                                   p.weight_kg, p.bsa_m2)
    return conv(d.hard_min), conv(d.soft_min), conv(d.soft_max), conv(d.hard_max)


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
    soft = check_bounds("weight_kg", p.weight_kg, entry.weight, "kg") if p.weight_kg is not None else None
    return (soft,) if soft is not None else ()


def _window(limit_ml: Fraction | None, window_s: Fraction | None) -> tuple[int, int]:
    if limit_ml is None or window_s is None:
        return 0, LibBounds().win_bucket_ms
    return floor_to(limit_ml, VU_PER_ML), _bucket(window_s)


def _check_pump(b: LibBounds, limits: Limits, what: str) -> LibBounds:
    """Bounds that leave nothing the pump can run are refused here, readably (REQ-DRG-001)."""
    if b.rate_min > min(b.dose_rate_max, limits.max_rate):
        raise ConfigurationError("rate_ml_h", f"at least {show(Fraction(b.rate_min, RATE_PER_ML_H))} mL/h",
                                 f"at most {show(Fraction(min(b.dose_rate_max, limits.max_rate), RATE_PER_ML_H))} "
                                 "mL/h",
                                 f"{what}: the library's minimum for this patient is above what the pump may run")
    if b.win_vol and b.win_bucket_ms < limits.max_tick_ms:
        raise ConfigurationError("limit_window_s", b.win_bucket_ms * N_BUCKETS,
                                 f"at least {limits.max_tick_ms * N_BUCKETS} ms (12 control ticks)", what)
    return b


def compile_entry(entry: DrugEntry, patient: Patient, limits: Limits) -> Compiled:
    """The entry's limits for this patient, in core integers (see the module docstring)."""
    soft = _patient(entry, patient)
    d_hmin, d_smin, d_smax, d_hmax = _dose_rates(entry, patient)
    r = entry.rate
    limit_ml = entry.limit_ml
    if entry.limit_dose is not None:
        limit_ml = amount_to_ml(entry.limit_dose, entry.dose_unit, entry.concentration, entry.concentration_amount,
                                patient.weight_kg, patient.bsa_m2)
    win_vol, win_bucket = _window(limit_ml, entry.limit_window_s)
    cb = entry.clinician_bolus_bounds
    b = LibBounds(
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
        soft_edge=bool(soft),
    )
    return Compiled(_check_pump(b, limits, f"{entry.drug} ({entry.care_area})"), soft, entry_code(entry))


def compile_care_area(area: CareArea, limits: Limits) -> Compiled:
    """A basic infusion's bounds: the care area's own limits (REQ-DRG-006)."""
    if not area.basic:
        raise ConfigurationError("drug", None, f"a drug from the library (care area {area.name!r} does not allow "
                                 "a basic infusion without a drug)", "choose the drug, or a care area that allows "
                                 "basic infusions")
    win_vol, win_bucket = _window(area.limit_ml, area.limit_window_s)
    b = LibBounds(
        rate_max=_rate_max(area.rate.hard_max), dose_rate_max=_rate_max(area.rate.hard_max),
        rate_min=_rate_min(area.rate.hard_min),
        rate_soft_max=_rate_max(area.rate.soft_max), rate_soft_min=_rate_min(area.rate.soft_min),
        clin_bolus_max=_vol_max(area.bolus.hard_max), clin_bolus_soft_max=_vol_max(area.bolus.soft_max),
        bolus_max=_vol_max(area.bolus.hard_max), bolus_soft_max=_vol_max(area.bolus.soft_max),
        vtbi_max=_vol_max(area.vtbi.hard_max), win_vol=win_vol, win_bucket_ms=win_bucket,
    )
    return Compiled(_check_pump(b, limits, f"basic infusion in {area.name}"), (), BASIC)


def soft_checks(entry: DrugEntry | CareArea, values: dict[str, Fraction]) -> list[SoftViolation]:
    """Hard limits in clinical units (refused with the clinician's own numbers) and the soft ones
    crossed, for messages; the core checks the same limits again on the compiled integers."""
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
