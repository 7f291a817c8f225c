"""Dose units and exact dose <-> rate conversion (edge of the core, Fractions only).

Theory of operation
-------------------
A dose unit is ``amount[/kg|/m2][/min|/h]`` where the amount is one of the units below,
e.g. ``mcg/kg/min``, ``mg/h``, ``U/kg/h``, ``mL/h``. A concentration is ``amount/mL``.
Amounts belong to a *dimension* (mass, units, mEq, mmol, kcal, volume); a dose and a
concentration of different dimensions cannot be converted (unit mismatch). Conversion is

    rate [mL/h] = dose x (weight or BSA, if per kg / per m2) x (60 if per min) / concentration

done with ``fractions.Fraction`` so nothing is lost before the final rounding, which
rounds the *rate down* (REQ-DRG-004).

Rules
1. Unknown units, mismatched dimensions and a zero concentration raise ConfigurationError.
2. Results are exact Fractions; rounding to core units happens only in ``controller.core.units``
   and ``controller.clinical.dosebounds``.
3. The arithmetic is dual-use: ``proofs/edge.py`` passes Z3 reals for the dose, the
   concentration and the weight or body surface (the units stay concrete). A symbolic value
   skips the positivity refusals, because the proof assumes exactly what they check.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from controller.errors import ConfigurationError

# amount unit -> (dimension, factor to the dimension's base unit)
AMOUNTS: dict[str, tuple[str, Fraction]] = {
    "g": ("mass", Fraction(1)),
    "mg": ("mass", Fraction(1, 1_000)),
    "mcg": ("mass", Fraction(1, 1_000_000)),
    "ng": ("mass", Fraction(1, 1_000_000_000)),
    "MU": ("units", Fraction(1_000_000)),
    "kU": ("units", Fraction(1_000)),
    "U": ("units", Fraction(1)),
    "mU": ("units", Fraction(1, 1_000)),
    "mEq": ("meq", Fraction(1)),
    "mmol": ("mmol", Fraction(1)),
    "kcal": ("kcal", Fraction(1)),
    "mL": ("volume", Fraction(1)),
}
PER_TIME: dict[str, Fraction] = {"min": Fraction(60), "h": Fraction(1)}  # to per hour


@dataclass(frozen=True, slots=True)
class DoseUnit:
    text: str
    amount: str
    per_body: str | None  # "kg", "m2" or None
    per_time: str | None  # "min", "h" or None (an amount, e.g. a bolus dose)

    @property
    def dimension(self) -> str:
        return AMOUNTS[self.amount][0]


def parse_dose_unit(text: object, field: str = "dose_unit") -> DoseUnit:
    allowed = "amount[/kg|/m2][/min|/h], amount one of " + ", ".join(AMOUNTS)
    if not isinstance(text, str):
        raise ConfigurationError(field, text, allowed)
    parts = [p.strip() for p in text.strip().split("/")]
    if not parts or parts[0] not in AMOUNTS or len(parts) > 3:
        raise ConfigurationError(field, text, allowed)
    rest = parts[1:]
    per_body = rest.pop(0) if rest and rest[0] in ("kg", "m2") else None
    per_time = rest.pop(0) if rest and rest[0] in PER_TIME else None
    if rest:
        raise ConfigurationError(field, text, allowed)
    return DoseUnit(text, parts[0], per_body, per_time)


def parse_concentration_unit(text: object, field: str = "concentration_unit") -> str:
    """``amount/mL``: returns the amount unit."""
    allowed = "amount/mL with amount one of " + ", ".join(AMOUNTS)
    if not isinstance(text, str):
        raise ConfigurationError(field, text, allowed)
    parts = [p.strip() for p in text.split("/")]
    if len(parts) != 2 or parts[1] != "mL" or parts[0] not in AMOUNTS:
        raise ConfigurationError(field, text, allowed)
    return parts[0]


def symbolic(x: object) -> bool:
    """A Z3 term from ``proofs/edge.py`` (rule 3); every run-time value is an int or a Fraction."""
    return type(x).__module__.split(".")[0] == "z3"


def _conc_in(unit: DoseUnit, conc: Fraction, conc_amount: str, field: str) -> Fraction:
    """Concentration expressed in the dose's amount unit per mL."""
    dim, f_conc = AMOUNTS[conc_amount]
    if dim != unit.dimension:
        raise ConfigurationError(field, unit.text,
                                 f"a dose unit measured in {dim} (the drug's concentration is {conc_amount}/mL)",
                                 "unit mismatch: check the dose unit against the drug library entry")
    if not symbolic(conc) and conc <= 0:
        raise ConfigurationError("concentration", conc, "more than 0")
    return conc * f_conc / AMOUNTS[unit.amount][1]


def body_factor(unit: DoseUnit, weight_kg: Fraction | None, bsa_m2: Fraction | None) -> Fraction:
    if unit.per_body == "kg":
        if weight_kg is None or (not symbolic(weight_kg) and weight_kg <= 0):
            raise ConfigurationError("weight_kg", weight_kg, "more than 0 kg (the dose is per kg)")
        return weight_kg
    if unit.per_body == "m2":
        if bsa_m2 is None or (not symbolic(bsa_m2) and bsa_m2 <= 0):
            raise ConfigurationError("bsa_m2", bsa_m2, "more than 0 m2 (the dose is per m2)")
        return bsa_m2
    return Fraction(1)


def dose_to_ml_h(dose: Fraction, unit: DoseUnit, conc: Fraction, conc_amount: str,
                 weight_kg: Fraction | None = None, bsa_m2: Fraction | None = None) -> Fraction:
    """Exact mL/h for a dose rate (REQ-DRG-004)."""
    if unit.per_time is None:
        raise ConfigurationError("dose_unit", unit.text, "a dose *rate* (ending in /min or /h)")
    per_ml = _conc_in(unit, conc, conc_amount, "dose_unit")
    return dose * body_factor(unit, weight_kg, bsa_m2) * PER_TIME[unit.per_time] / per_ml


def ml_h_to_dose(ml_h: Fraction, unit: DoseUnit, conc: Fraction, conc_amount: str,
                 weight_kg: Fraction | None = None, bsa_m2: Fraction | None = None) -> Fraction:
    """The inverse of ``dose_to_ml_h`` (exact)."""
    if unit.per_time is None:
        raise ConfigurationError("dose_unit", unit.text, "a dose *rate* (ending in /min or /h)")
    per_ml = _conc_in(unit, conc, conc_amount, "dose_unit")
    return ml_h * per_ml / (body_factor(unit, weight_kg, bsa_m2) * PER_TIME[unit.per_time])


def amount_to_ml(amount: Fraction, unit: DoseUnit, conc: Fraction, conc_amount: str,
                 weight_kg: Fraction | None = None, bsa_m2: Fraction | None = None) -> Fraction:
    """Volume of an amount (a bolus or window limit given as a dose amount, maybe per kg)."""
    per_ml = _conc_in(unit, conc, conc_amount, "dose_unit")
    return amount * body_factor(unit, weight_kg, bsa_m2) / per_ml
