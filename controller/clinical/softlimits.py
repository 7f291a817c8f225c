"""The soft limits a program crosses, said in the clinician's words and read off the integers the core checks.

Theory of operation
-------------------
The core decides that a program needs a confirmation (``controller.core.program.soft_exceeded``)
by comparing the program's integers with its compiled library bounds. The clinician must be told
*which* soft limit was crossed, in every entry mode (dose, rate, VTBI + duration, loading,
intermittent, PCA, clinician bolus), and the event log must record it. ``crossed`` makes the same
comparisons on the same compiled bounds, one ``SoftViolation`` per comparison that fires, worded
in the request's field and unit (``controller.clinical.wording``), so the list cannot disagree with
the core by a rounding: a rate whose delivered (rounded-down) value is within the soft bound is
within it here too.

Some soft limits only the edge can see: the patient's weight, the VTBI (the core has no VTBI soft
bound) and the plateau of a ramp (the core compares the last step, the taper). Those are returned
with ``edge = True`` and the caller sets ``lib.soft_edge``, which the core's ``soft_exceeded`` reads,
so the core asks for the confirmation too. Hence: the list is non-empty exactly when
``soft_exceeded(program)`` holds (``tests/test_softlimits.py`` checks it on random programs).

Rules
1. One comparison here per disjunct of ``soft_exceeded``, on ``program.lib`` (REQ-DRG-003).
2. Every entry names a request field, the clinician's value and the soft range in that field's unit.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

from controller.clinical.dosebounds import ceil_to, floor_to
from controller.clinical.drugs import CareArea, DrugEntry, SoftViolation
from controller.clinical.wording import EntryMode, ml, ml_h, soft_source
from controller.core.limits import PUMP_MAX_RATE, PUMP_MAX_VTBI
from controller.core.program import Kind, Program, maintenance_rate
from controller.core.units import VU_PER_ML


def _soft_max(vu: int) -> str:
    return f"0 to {ml(vu)} mL (soft limits)" if vu < PUMP_MAX_VTBI else "no soft maximum"


def _rate_range(p: Program, mode: EntryMode, source: DrugEntry | CareArea | None) -> str:
    b = p.lib
    why = f" ({soft_source(source, mode.patient)})" if source is not None else " (soft limits)"
    hi = b.rate_soft_max if b.rate_soft_max < PUMP_MAX_RATE else None
    if p.kind == Kind.RAMP:  # the core compares the taper, half the rate entered
        return (f"a taper rate (half of {mode.field}) of {ml_h(b.rate_soft_min)} to "
                f"{ml_h(hi) if hi is not None else 'no maximum'} mL/h; it is {ml_h(maintenance_rate(p))} mL/h{why}")
    return f"{mode.limit(b.rate_soft_min, hi)}{why}"


def edge_only(p: Program, mode: EntryMode, source: DrugEntry | CareArea | None, weight: tuple[SoftViolation, ...],
              values: Mapping[str, Fraction]) -> tuple[SoftViolation, ...]:
    """The soft limits the core cannot see: weight (compiled), VTBI, a ramp's plateau."""
    out = list(weight)
    if source is not None:
        v = source.vtbi
        if (v.soft_max is not None and p.vtbi > floor_to(v.soft_max, VU_PER_ML)) or (
                v.soft_min is not None and p.vtbi < ceil_to(v.soft_min, VU_PER_ML)):
            out.append(SoftViolation("vtbi_ml", values["vtbi_ml"], v.describe_soft("mL")))
    if p.kind == Kind.RAMP and p.step_rate[1] > p.lib.rate_soft_max:
        why = f" ({soft_source(source, mode.patient)})" if source is not None else " (soft limits)"
        plateau = f"{mode.limit(None, p.lib.rate_soft_max)} for the plateau{why}"
        out.append(SoftViolation(mode.field, mode.value, plateau))
    return tuple(out)


def crossed(p: Program, mode: EntryMode, source: DrugEntry | CareArea | None, edge: tuple[SoftViolation, ...],
            values: Mapping[str, Fraction]) -> tuple[SoftViolation, ...]:
    """Every soft limit the program crosses (rule 1): ``edge`` (from ``edge_only``, recorded in
    ``p.lib.soft_edge`` by the caller), then one entry per disjunct of ``soft_exceeded`` that fires."""
    b = p.lib
    out = list(edge)
    maint = maintenance_rate(p)
    if maint > b.rate_soft_max or (maint > 0 and maint < b.rate_soft_min):
        out.append(SoftViolation(mode.field, mode.value, _rate_range(p, mode, source)))
    if p.pca_vol > b.bolus_soft_max:
        out.append(SoftViolation("bolus_ml", values["bolus_ml"], _soft_max(b.bolus_soft_max)))
    if p.clin_bolus_max > b.clin_bolus_soft_max:
        out.append(SoftViolation("clinician_bolus_max_ml", values["clinician_bolus_max_ml"],
                                 _soft_max(b.clin_bolus_soft_max)))
    if p.kind == Kind.LOADING and p.step_vol[0] > b.load_soft_max:
        out.append(SoftViolation("loading_ml", values["loading_ml"], _soft_max(b.load_soft_max)))
    if p.kind == Kind.INTERMITTENT and p.step_vol[0] > b.dose_soft_max:
        out.append(SoftViolation("dose_ml", values["dose_ml"], _soft_max(b.dose_soft_max)))
    return tuple(out)
