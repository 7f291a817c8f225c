"""The red team's own clinical arithmetic: random libraries and patients, and each limit for them.

Theory of operation
-------------------
A life (``tests/redteam.py``) has one patient (weight, body surface) and a library of two to
four drug entries and a care area, written in the library file schema, as a pharmacist would
write them: doses per kg, per m2 or per patient, per minute or per hour, concentrations in
another amount unit of the same dimension (mg/mL for a mcg/kg/min dose), hard and soft minima
and maxima, weight limits, routes, bolus, clinician-bolus, loading, intermittent and VTBI
maxima, and a dose window in mL or in drug amount (``limit_dose``, per kg or m2 when the dose
is). Some entries are one drug at two concentrations (one *family*). The limits are drawn
around a target rate for this patient, so that programs near them are common.

``Drug`` reads an entry (or the care area, for a basic infusion) back with exact rationals and
gives every bound for this patient in mL/h, mL and ms: computed here, never by
``controller.clinical``. The conversion is ``rate = dose x body x (60 if per min) /
concentration``, the concentration expressed in the dose's amount unit.

Rules
1. Every number written to a library is a short decimal, so the float a file carries means
   exactly the rational used here (the pump reads floats by their shortest repr).
2. Nothing here imports the controller.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

VU_PER_ML = 3_600_000_000  # restated on purpose: 1 vu = 1 uL/h x 1 ms
AMOUNTS = {"mass": {"g": Fraction(1), "mg": Fraction(1, 1000), "mcg": Fraction(1, 10**6)},
           "units": {"kU": Fraction(1000), "U": Fraction(1), "mU": Fraction(1, 1000)}}
BASE = {unit: f for units in AMOUNTS.values() for unit, f in units.items()}
PER_TIME = {"h": Fraction(1), "min": Fraction(60)}
ROUTES = ("intravenous", "subcutaneous", "epidural", "enteral")
VOLUMES = ("bolus_ml", "clinician_bolus_ml", "loading_ml", "intermittent_ml", "vtbi_ml")


def pick(rng: random.Random, *options: Any) -> Any:
    return options[rng.randrange(len(options))]


def dec(x: Fraction, digits: int = 3) -> Fraction:
    """``x`` rounded down to ``digits`` significant decimal digits (rule 1); 0 for x <= 0."""
    if x <= 0:
        return Fraction(0)
    k = digits - 1 - math.floor(math.log10(x))
    scale = Fraction(10) ** k
    while x * scale >= 10**digits:
        scale /= 10
    while x * scale < 10 ** (digits - 1):
        scale *= 10
    return Fraction(math.floor(x * scale)) / scale


def num(x: Fraction) -> int | float:
    """The number as a library file or a request carries it."""
    if x.denominator == 1:
        return int(x)
    out = float(x)
    assert Fraction(repr(out)) == x, x  # rule 1
    return out


@dataclass(frozen=True)
class Patient:
    weight: Fraction
    bsa: Fraction


def random_patient(rng: random.Random) -> Patient:
    return Patient(Fraction(pick(rng, 3, 12, 40, 70, 95, 140)), Fraction(pick(rng, "0.25", "0.6", "1.3", "1.8", "2.3")))


def _bounds(rng: random.Random, hard: Fraction, soft: bool = True) -> dict[str, int | float]:
    out = {"hard_max": num(dec(hard))}
    if soft and rng.random() < 0.5:
        out["soft_max"] = num(dec(hard * pick(rng, Fraction(1, 2), Fraction(3, 4))))
    return out


def random_entry(rng: random.Random, name: str, patient: Patient, pump_ml_h: int, tick_s: int,
                 family: dict[str, Any] | None = None) -> dict[str, Any]:
    """A library entry (file schema); ``family`` reuses another entry's drug at a new concentration."""
    if family is None:
        dim = pick(rng, "mass", "units")
        amount = pick(rng, *AMOUNTS[dim])
        per_body = pick(rng, None, None, None, "kg", "kg", "m2")
        per_time = pick(rng, "h", "min")
        conc_amount = pick(rng, *AMOUNTS[dim])
    else:
        unit = family["dose_unit"].split("/")
        amount, per_time = unit[0], unit[-1]
        per_body = unit[1] if len(unit) == 3 else None
        conc_amount = family["concentration_unit"].split("/")[0]
    conc = Fraction(pick(rng, 1, 2, 5, 10, 40, 100, 250, 1000, 1600)) * pick(rng, 1, 1, Fraction(1, 10))
    body = patient.weight if per_body == "kg" else patient.bsa if per_body == "m2" else Fraction(1)
    per_ml = conc * BASE[conc_amount] / BASE[amount]  # dose amount per mL
    target = Fraction(pick(rng, 2, 5, 10, 25, 60, 150)) * pump_ml_h / 999  # the dose hard max here, roughly, mL/h
    hard = dec(target * per_ml / (body * PER_TIME[per_time]))
    dose: dict[str, Any] = {"hard_max": num(hard)}
    if rng.random() < 0.6:
        dose["soft_max"] = num(dec(hard * pick(rng, Fraction(1, 2), Fraction(3, 4))))
    if rng.random() < 0.25:
        dose["hard_min"] = num(dec(hard / pick(rng, 20, 50)))
        if rng.random() < 0.5:
            dose["soft_min"] = num(dec(hard / 10))
    entry: dict[str, Any] = {
        "drug": name, "care_area": "general", "concentration": num(conc),
        "concentration_unit": f"{conc_amount}/mL",
        "dose_unit": "/".join(u for u in (amount, per_body, per_time) if u), "dose": dose,
    }
    if rng.random() < 0.5:
        rate = _bounds(rng, min(target * pick(rng, Fraction(7, 10), Fraction(3, 2), 3), Fraction(pump_ml_h)))
        if rng.random() < 0.2:
            rate["hard_min"] = num(dec(target / pick(rng, 10, 40)))
        entry["rate_ml_h"] = rate
    if per_body == "kg" or rng.random() < 0.3:
        lo, soft, hi = pick(rng, *[(Fraction(3, 10), Fraction(6, 5), 2)] * 10, (Fraction(3, 10), Fraction(9, 10), 2),
                            (Fraction(1, 5), Fraction(1, 2), Fraction(4, 5)), (Fraction(11, 10), Fraction(3, 2), 3))
        w = patient.weight
        entry["weight_kg"] = {"hard_min": num(dec(w * lo)), "soft_max": num(dec(w * soft)),
                              "hard_max": num(dec(min(w * hi, Fraction(500))))}
    for key, share, scale in (("bolus_ml", 0.6, (Fraction(1, 200), Fraction(1, 100), Fraction(1, 50))),
                              ("clinician_bolus_ml", 0.5, (Fraction(1, 100), Fraction(1, 25))),
                              ("loading_ml", 0.4, (Fraction(1, 10), Fraction(3, 10))),
                              ("intermittent_ml", 0.4, (Fraction(1, 20), Fraction(1, 5))),
                              ("vtbi_ml", 0.4, (Fraction(1, 2), 2, 8))):
        if rng.random() < share:
            entry[key] = _bounds(rng, max(target * pick(rng, *scale), Fraction(1, 20)))
    if rng.random() < 0.3:
        entry["routes"] = sorted(rng.sample(ROUTES, rng.randint(1, 3)), key=ROUTES.index)
    if rng.random() < 0.75:
        window = max(60, tick_s * pick(rng, 36, 60, 120))
        limit_ml = dec(target * window / 3600 * pick(rng, Fraction(3, 20), Fraction(2, 5), Fraction(7, 10), 1))
        entry["limit_window_s"] = window
        if rng.random() < 0.5:
            entry["limit_dose"] = num(dec(limit_ml * per_ml / body))  # in the dose's amount (per kg / m2)
        else:
            entry["limit_ml"] = num(limit_ml)
    return entry


def random_area(rng: random.Random, pump_ml_h: int, tick_s: int) -> dict[str, Any]:
    target = Fraction(pick(rng, 20, 100, 300)) * pump_ml_h / 999
    area: dict[str, Any] = {"name": "general", "basic": rng.random() < 0.7,
                            "rate_ml_h": _bounds(rng, target), "vtbi_ml": _bounds(rng, target * pick(rng, 1, 3))}
    if rng.random() < 0.5:
        area["bolus_ml"] = _bounds(rng, max(target / pick(rng, 20, 50), Fraction(1, 20)))
    if rng.random() < 0.3:
        window = tick_s * pick(rng, 60, 120)
        area["limit_window_s"], area["limit_ml"] = window, num(dec(target * window / 3600 * Fraction(2, 5)))
    return area


def random_library(rng: random.Random, patient: Patient, pump_ml_h: int, tick_s: int) -> dict[str, Any]:
    """Two to four entries (one drug sometimes at two concentrations) and the care area."""
    entries: list[dict[str, Any]] = []
    for i in range(rng.randint(2, 4)):
        if entries and rng.random() < 0.3:
            base = entries[0]
            entries.append(random_entry(rng, f"{base['drug'].split('@')[0]}@{i}", patient, pump_ml_h, tick_s, base))
        else:
            entries.append(random_entry(rng, f"drug{i}", patient, pump_ml_h, tick_s))
    return {"drug": entries, "care_area": [random_area(rng, pump_ml_h, tick_s)]}


def _f(raw: dict[str, Any], key: str, bound: str) -> Fraction | None:
    value = raw.get(key, {}).get(bound)
    return None if value is None else Fraction(repr(value)) if isinstance(value, float) else Fraction(value)


@dataclass(frozen=True)
class Drug:
    """One entry (or the care area: ``basic``) read back exactly, and its limits for the patient."""

    name: str  # the entry's drug, or "basic"
    family: str
    raw: dict[str, Any]
    patient: Patient
    basic: bool = False

    @property
    def per_body(self) -> str | None:
        parts = self.raw.get("dose_unit", "mL/h").split("/")
        return parts[1] if len(parts) == 3 else None

    @property
    def body(self) -> Fraction:
        p = self.per_body
        return self.patient.weight if p == "kg" else self.patient.bsa if p == "m2" else Fraction(1)

    @property
    def per_ml(self) -> Fraction:
        """Dose amount per mL."""
        amount = self.raw["dose_unit"].split("/")[0]
        conc = self.raw["concentration"]
        conc = Fraction(repr(conc)) if isinstance(conc, float) else Fraction(conc)
        return conc * BASE[self.raw["concentration_unit"].split("/")[0]] / BASE[amount]

    def dose_rate(self, dose: Fraction) -> Fraction:
        """mL/h for a dose in the entry's dose unit."""
        per_time = PER_TIME[self.raw["dose_unit"].split("/")[-1]]
        return dose * self.body * per_time / self.per_ml

    def _rate(self, bound: str) -> list[Fraction]:
        out = [x for x in (_f(self.raw, "rate_ml_h", bound),) if x is not None]
        if not self.basic and _f(self.raw, "dose", bound) is not None:
            out.append(self.dose_rate(_f(self.raw, "dose", bound)))  # type: ignore[arg-type]
        return out

    @property
    def dose_max(self) -> Fraction | None:
        """Every step but a loading dose (mL/h): the dose and rate hard maxima."""
        return min(self._rate("hard_max"), default=None)

    @property
    def speed(self) -> Fraction | None:
        """Every commanded rate, a bolus on top of the basal included: the rate hard max alone."""
        return _f(self.raw, "rate_ml_h", "hard_max")

    @property
    def rate_min(self) -> Fraction | None:
        return max(self._rate("hard_min"), default=None)

    @property
    def soft_max(self) -> Fraction | None:
        return min(self._rate("soft_max"), default=None)

    @property
    def soft_min(self) -> Fraction | None:
        return max(self._rate("soft_min"), default=None)

    def volume(self, key: str, bound: str = "hard_max") -> Fraction | None:
        """A volume bound (mL); the clinician bolus falls back to the patient bolus's, and a basic
        infusion's boluses are the care area's bolus_ml."""
        if self.basic and key == "clinician_bolus_ml":
            key = "bolus_ml"
        if key == "clinician_bolus_ml" and "clinician_bolus_ml" not in self.raw:
            key = "bolus_ml"
        return _f(self.raw, key, bound)

    @property
    def window(self) -> tuple[Fraction, int] | None:
        """(limit mL, window ms) of the library (or care area) window."""
        w = self.raw.get("limit_window_s")
        if w is None:
            return None
        if "limit_dose" in self.raw:
            limit = Fraction(repr(self.raw["limit_dose"])) * self.body / self.per_ml
        else:
            limit = Fraction(repr(self.raw["limit_ml"]))
        return limit, int(w) * 1000

    @property
    def routes(self) -> tuple[str, ...]:
        return tuple(self.raw.get("routes", ROUTES))

    def weight_problem(self, weight: Fraction | None) -> tuple[str, str] | None:
        """("hard" | "soft", why) when the patient's weight is missing or outside the entry's limits."""
        if self.basic:
            return None
        needs = self.per_body == "kg" or "weight_kg" in self.raw
        if not needs:
            return None
        if weight is None:
            return "hard", "weight missing"
        lo, hi = _f(self.raw, "weight_kg", "hard_min"), _f(self.raw, "weight_kg", "hard_max")
        if (lo is not None and weight < lo) or (hi is not None and weight > hi):
            return "hard", f"weight {weight} outside {lo}..{hi} kg"
        slo, shi = _f(self.raw, "weight_kg", "soft_min"), _f(self.raw, "weight_kg", "soft_max")
        if (slo is not None and weight < slo) or (shi is not None and weight > shi):
            return "soft", f"weight {weight} outside the soft {slo}..{shi} kg"
        return None


def drugs_of(data: dict[str, Any], patient: Patient) -> list[Drug]:
    out = [Drug(e["drug"], e["drug"].split("@")[0], e, patient) for e in data["drug"]]
    return [*out, Drug("basic", "basic", data["care_area"][0], patient, basic=True)]
