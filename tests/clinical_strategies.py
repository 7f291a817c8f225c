"""Hypothesis strategies for the program-building edge: library entries with random limits and
requests for them in every entry mode (dose, rate, VTBI + duration; continuous, loading, ramp,
intermittent; PCA, clinician bolus), often near or across a soft or hard limit."""

from __future__ import annotations

import tomllib
from fractions import Fraction
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from controller.clinical.drugs import DrugEntry, Library

ROOT = Path(__file__).resolve().parents[1]
LIBRARY_FILES = (ROOT / "specs" / "libraries" / "example.toml", ROOT / "specs" / "scenarios" / "libraries" /
                 "standard.toml")


EDGE_FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                     suppress_health_check=[HealthCheck.too_slow])


def example_libraries() -> list[Library]:
    return [Library.from_data(tomllib.loads(p.read_text())) for p in LIBRARY_FILES]


def as_raw(e: DrugEntry) -> dict[str, Any]:
    """What ``requests`` needs of a parsed entry."""
    raw: dict[str, Any] = {"drug": e.drug, "care_area": e.care_area, "routes": list(e.routes),
                           "dose_unit": e.dose_unit.text, "weight_kg": not e.weight.empty}
    if not e.dose.empty:
        raw["dose"] = {"hard_max": e.dose.hard_max}
    return raw


def _f(x: Fraction) -> float:
    return float(x)


@st.composite
def bounds(draw: st.DrawFn, scale: Fraction, soft: bool = True, low: bool = False) -> dict[str, float]:
    hard = scale * draw(st.sampled_from([Fraction(1, 2), Fraction(1), Fraction(3), Fraction(10)]))
    out = {"hard_max": _f(hard)}
    if soft and draw(st.booleans()):
        out["soft_max"] = _f(hard * draw(st.sampled_from([Fraction(1, 4), Fraction(1, 2), Fraction(9, 10)])))
    if low and draw(st.booleans()):
        lo = hard * Fraction(1, 20)
        out["hard_min"] = _f(lo)
        if "soft_max" in out and draw(st.booleans()):
            out["soft_min"] = _f(lo * 2)
    return out


@st.composite
def entries(draw: st.DrawFn) -> dict[str, Any]:
    amount = draw(st.sampled_from(["mg", "mcg", "U", "mL"]))
    conc_amount = amount if amount in ("U", "mL") else draw(st.sampled_from(["mg", "mcg"]))
    per_kg = amount != "mL" and draw(st.booleans())
    per = draw(st.sampled_from(["h", "min"]))
    conc = draw(st.sampled_from([1, 2, 50, 100, 1600])) if amount != "mL" else 1
    e: dict[str, Any] = {"drug": "d", "concentration": conc, "concentration_unit": f"{conc_amount}/mL",
                         "dose_unit": f"{amount}{'/kg' if per_kg else ''}/{per}",
                         "routes": draw(st.sampled_from([["intravenous"], ["intravenous", "subcutaneous"],
                                                         ["epidural"]]))}
    # a dose bound of about 1 to 40 mL/h for a 70 kg patient
    rate_at_one = Fraction(conc) / ((70 if per_kg else 1) * (60 if per == "min" else 1))
    if amount == "mcg" and conc_amount == "mg":
        rate_at_one *= 1000
    if amount == "mg" and conc_amount == "mcg":
        rate_at_one /= 1000
    if draw(st.booleans()):
        e["dose"] = draw(bounds(rate_at_one * draw(st.sampled_from([2, 10])), low=True))
    if draw(st.booleans()):
        e["rate_ml_h"] = draw(bounds(Fraction(draw(st.sampled_from([10, 40, 90]))), low=True))
    if per_kg or draw(st.booleans()):
        e["weight_kg"] = {"hard_min": 1, "soft_max": 100, "hard_max": 250}
    for key in ("bolus_ml", "clinician_bolus_ml", "loading_ml", "intermittent_ml", "vtbi_ml"):
        if draw(st.booleans()):
            e[key] = draw(bounds(Fraction(draw(st.sampled_from([2, 10, 50]))) * (10 if key == "vtbi_ml" else 1)))
    if draw(st.booleans()):
        e["limit_ml"], e["limit_window_s"] = draw(st.sampled_from([5, 50])), draw(st.sampled_from([600, 14400]))
    return e


@st.composite
def requests(draw: st.DrawFn, entry: dict[str, Any] | None) -> dict[str, Any]:
    """A request for ``entry`` (None: a basic infusion) in a random entry mode and therapy kind."""
    rate = Fraction(draw(st.sampled_from([1, 3, 8, 15, 30, 120])))
    vtbi = draw(st.sampled_from([20, 100, 500]))
    req: dict[str, Any] = {"vtbi_ml": vtbi}
    if entry is not None:
        req["drug"] = entry["drug"]
        if "care_area" in entry:
            req["care_area"] = entry["care_area"]
        if entry.get("weight_kg") or "/kg" in entry.get("dose_unit", ""):
            req["weight_kg"] = draw(st.sampled_from([3, 70, 120]))
        if "/m2" in entry.get("dose_unit", ""):
            req["bsa_m2"] = 1.8
        if len(entry.get("routes", ["intravenous"])) > 1:
            req["route"] = draw(st.sampled_from(entry["routes"]))
    modes = ["rate", "duration"] + (["dose"] if entry is not None and "dose" in entry else [])
    mode = draw(st.sampled_from(modes))
    kind = draw(st.sampled_from(["continuous", "continuous", "loading", "ramp", "intermittent"]))
    if mode == "dose":
        hard = Fraction(str(entry["dose"]["hard_max"])) if entry is not None else Fraction(1)
        req["dose"] = float(hard * draw(st.sampled_from([Fraction(1, 10), Fraction(1, 2), Fraction(9, 10), 2])))
    elif mode == "duration":
        req["duration_s"] = float(vtbi * 3600 / rate)
    else:
        req["rate_ml_h"] = float(rate)
    if kind != "continuous":
        req["kind"] = kind
    if kind == "loading":
        req.update(loading_ml=draw(st.sampled_from([1, 5, 40])), loading_rate_ml_h=draw(st.sampled_from([20, 100])))
    elif kind == "ramp":
        req.update(ramp_up_s=600, taper_s=600, vtbi_ml=max(vtbi, 500))
    elif kind == "intermittent":
        req.update(dose_ml=draw(st.sampled_from([2, 10])), interval_s=draw(st.sampled_from([3600, 21600])))
    if kind == "continuous" and draw(st.booleans()):
        req.update(bolus_ml=draw(st.sampled_from([0.5, 1, 4])), lockout_s=600)
        if draw(st.booleans()):
            req["bolus_rate_ml_h"] = draw(st.sampled_from([5, 50, 200]))
        if mode == "rate" and draw(st.booleans()):
            req["rate_ml_h"] = 0  # PCA only
    if draw(st.booleans()):
        req["clinician_bolus_max_ml"] = draw(st.sampled_from([1, 5, 20]))
    return req
