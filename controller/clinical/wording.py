"""Say a rate bound in the clinician's own terms: the field and the unit the program was entered in.

Theory of operation
-------------------
A program's rate is entered one of three ways: ``rate_ml_h``; a ``dose`` in the library's dose
unit, converted through the concentration and the patient; or ``vtbi_ml`` over ``duration_s``. The
core's bounds are integers in uL/h. A message for the clinician must give *their* field, *their*
value and the allowed range in *that* field's unit, so a refusal or a soft-limit warning reads
"dose = 50 ... at most 40 U/kg/h" and not "step_rate[0] = 35.000 mL/h". ``EntryMode`` carries what is
needed to say it (``controller.clinical.softlimits``, ``controller.clinical.refusals``).

Rules
1. Numbers are shown as decimals (``drugs.show``), never as raw fractions.
2. Bounds are converted exactly (Fractions) and rounded only for display.
3. A longer duration is a lower rate: a rate maximum is a duration minimum.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from controller.clinical.dosebounds import Patient
from controller.clinical.doses import ml_h_to_dose
from controller.clinical.drugs import CareArea, DrugEntry, show
from controller.core.units import RATE_PER_ML_H, VU_PER_ML

S_PER_H = 3600


def ml_h(rate: int) -> str:
    return show(Fraction(rate, RATE_PER_ML_H))


def ml(vu: int) -> str:
    return show(Fraction(vu, VU_PER_ML))


@dataclass(frozen=True, slots=True)
class EntryMode:
    """How the program's rate was entered (``field``: rate_ml_h, dose or duration_s) and with what."""

    field: str
    value: Fraction
    vtbi_ml: Fraction
    entry: DrugEntry | None
    patient: Patient

    @property
    def unit(self) -> str:
        if self.field == "dose" and self.entry is not None:
            return self.entry.dose_unit.text
        return "s" if self.field == "duration_s" else "mL/h"

    def of_rate(self, rate: int) -> Fraction:
        """A rate in uL/h (> 0 for a duration) in this field's unit."""
        r = Fraction(rate, RATE_PER_ML_H)
        if self.field == "dose" and self.entry is not None:
            e = self.entry
            return ml_h_to_dose(r, e.dose_unit, e.concentration, e.concentration_amount, self.patient.weight_kg,
                                self.patient.bsa_m2)
        return self.vtbi_ml * S_PER_H / r if self.field == "duration_s" else r

    def limit(self, lo: int | None, hi: int | None) -> str:
        """The rates from ``lo`` to ``hi`` uL/h (None or 0: no bound that side) in this field's unit (rule 3)."""
        lo = lo if lo else None
        if self.field == "duration_s":
            short = show(self.of_rate(hi)) if hi else None
            long = show(self.of_rate(lo)) if lo else None
            span = (f"{short} to {long} s" if short and long else f"{short} s or longer" if short
                    else f"{long} s or shorter" if long else "any duration")
            return f"{span} for vtbi_ml = {show(self.vtbi_ml)} ({_ml_h_span(lo, hi)})"
        a = show(self.of_rate(lo)) if lo is not None else "0"
        span = f"{a} to {show(self.of_rate(hi))} {self.unit}" if hi is not None else f"{a} {self.unit} or more"
        return span + (f", {_ml_h_span(lo, hi)} for this patient" if self.field == "dose" else "")


def _ml_h_span(lo: int | None, hi: int | None) -> str:
    return f"{ml_h(lo or 0)} to {ml_h(hi)} mL/h" if hi is not None else f"{ml_h(lo or 0)} mL/h or more"


def _span(lo: Fraction | None, hi: Fraction | None, unit: str) -> str:
    return f"{show(lo) if lo is not None else '0'} to {show(hi) if hi is not None else 'no maximum'} {unit}"


def soft_source(source: DrugEntry | CareArea, patient: Patient) -> str:
    """Where a rate soft limit comes from, in the library's own units."""
    parts = []
    if isinstance(source, DrugEntry) and (source.dose.soft_min is not None or source.dose.soft_max is not None):
        body = ""
        if source.dose_unit.per_body == "kg" and patient.weight_kg is not None:
            body = f" at {show(patient.weight_kg)} kg"
        elif source.dose_unit.per_body == "m2" and patient.bsa_m2 is not None:
            body = f" at {show(patient.bsa_m2)} m2"
        parts.append(f"dose {_span(source.dose.soft_min, source.dose.soft_max, source.dose_unit.text)}{body}, "
                     f"{show(source.concentration)} {source.concentration_amount}/mL")
    if source.rate.soft_min is not None or source.rate.soft_max is not None:
        parts.append(f"rate {_span(source.rate.soft_min, source.rate.soft_max, 'mL/h')}")
    name = source.drug if isinstance(source, DrugEntry) else f"basic infusion in {source.name}"
    return f"soft limits of {name}" + (": " + "; ".join(parts) if parts else "")
