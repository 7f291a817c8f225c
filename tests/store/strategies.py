"""Hypothesis strategies for the parser fuzz tests: JSON-like values, requests, library entries.

Numbers stay inside the domain where the existing parsers have no *known* bug (see the
``test_known_*`` regressions in test_fuzz_parsers.py): integers below 1e12, numeric text of
at most 20 digits. Route names are scalars. Everything else is arbitrary.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from controller.clinical.programs import REQUEST_FIELDS

FUZZ = settings(derandomize=True, database=None, deadline=None, max_examples=150,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
FILES = settings(FUZZ, max_examples=60)  # each example writes a file

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=16)
numeric_text = st.from_regex(r"\s?-?[0-9]{1,6}(\.[0-9]{1,6})?([eE]-?[0-9]{1,2})?\s?", fullmatch=True)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True, allow_infinity=True),
    text, numeric_text,
)
json_values = st.recursive(
    scalars, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(text, inner, max_size=3)),
    max_leaves=8,
)

UNITS = ["mg/h", "mcg/kg/min", "U/kg/h", "U/h", "mL/h", "mg", "mcg/m2/h", "kcal/h", "mmol/kg/h", "g/min"]
GOOD = {
    "drug": st.sampled_from(["morphine", "dopamine", "heparin", "insulin", "parenteral nutrition", "nope"]),
    "care_area": st.sampled_from(["general", "icu", "nicu"]),
    "dose_unit": st.sampled_from(UNITS),
    "kind": st.sampled_from(["continuous", "loading", "ramp", "intermittent", "bolus"]),
    "route": st.sampled_from(["intravenous", "subcutaneous", "epidural", "enteral", "oral"]),
    "end_action": st.sampled_from(["kvo", "stop", "beep"]),
}
small_numbers = st.one_of(st.integers(0, 2000), st.floats(0, 2000), numeric_text)


TEMPLATES: list[dict[str, object]] = [
    {"rate_ml_h": 25, "vtbi_ml": 100},
    {"vtbi_ml": 50, "duration_s": 3600},
    {"drug": "dopamine", "care_area": "icu", "dose": 5, "dose_unit": "mcg/kg/min", "weight_kg": 70, "vtbi_ml": 50},
    {"drug": "heparin", "dose": 18, "dose_unit": "U/kg/h", "weight_kg": 80, "vtbi_ml": 250},
    {"drug": "insulin", "care_area": "icu", "dose": 4, "dose_unit": "U/h", "vtbi_ml": 100},
    {"drug": "morphine", "dose": 1, "dose_unit": "mg/h", "vtbi_ml": 30, "bolus_ml": 1, "bolus_rate_ml_h": 6,
     "lockout_s": 600, "max_boluses_per_h": 4},
    {"drug": "morphine", "rate_ml_h": 0, "vtbi_ml": 30, "bolus_ml": 1, "bolus_rate_ml_h": 6, "lockout_s": 600},
    {"kind": "loading", "rate_ml_h": 50, "loading_ml": 10, "loading_rate_ml_h": 200, "vtbi_ml": 250},
    {"kind": "intermittent", "rate_ml_h": 100, "dose_ml": 50, "interval_s": 21600, "vtbi_ml": 200},
    {"drug": "parenteral nutrition", "kind": "ramp", "rate_ml_h": 100, "ramp_up_s": 3600, "taper_s": 3600,
     "vtbi_ml": 1500},
    {"rate_ml_h": 10, "vtbi_ml": 100, "limit_ml": 20, "limit_window_s": 3600, "route": "epidural",
     "end_action": "stop", "reservoir_ml": 150, "clinician_bolus_max_ml": 5},
]


@st.composite
def requests(draw: st.DrawFn) -> dict[str, object]:
    """A program request: a valid template with 0 to 3 fields changed, dropped or added."""
    req = dict(draw(st.sampled_from(TEMPLATES)))
    for _ in range(draw(st.integers(0, 3))):
        k = draw(st.sampled_from(sorted(REQUEST_FIELDS)))
        how = draw(st.sampled_from(["good", "number", "junk", "drop"]))
        if how == "drop":
            req.pop(k, None)
        elif how == "good" and k in GOOD:
            req[k] = draw(GOOD[k])
        elif k == "route":
            req[k] = draw(scalars)  # known bug: an unhashable route (test_known_build_program_unhashable_route)
        else:
            req[k] = draw(small_numbers if how != "junk" else json_values)
    if draw(st.integers(0, 9)) == 0:
        req[draw(text)] = draw(scalars)
    return req


ENTRY_KEYS = ["drug", "care_area", "concentration", "concentration_unit", "dose_unit", "routes", "rate_ml_h",
              "dose", "bolus_ml", "weight_kg", "limit_ml", "limit_window_s"]
bounds = st.dictionaries(st.sampled_from(["hard_min", "soft_min", "soft_max", "hard_max", "typo"]), small_numbers,
                         max_size=4)


@st.composite
def entries(draw: st.DrawFn) -> dict[str, object]:
    """A drug-library entry: a valid skeleton with some fields replaced, dropped or added."""
    e: dict[str, object] = {"drug": draw(GOOD["drug"]), "concentration": draw(small_numbers),
                            "concentration_unit": draw(st.sampled_from(["mg/mL", "mcg/mL", "U/mL", "mL/mL", "kg/mL"])),
                            "dose_unit": draw(GOOD["dose_unit"])}
    for k in draw(st.lists(st.sampled_from(ENTRY_KEYS), max_size=5, unique=True)):
        if k in ("rate_ml_h", "dose", "bolus_ml", "weight_kg"):
            e[k] = draw(st.one_of(bounds, json_values))
        elif k == "routes":  # known bug: unhashable route names (test_known_drugs_unhashable_route)
            e[k] = draw(st.one_of(st.lists(st.one_of(GOOD["route"], scalars), max_size=3), scalars))
        else:
            e[k] = draw(st.one_of(small_numbers, json_values))
    for k in draw(st.lists(st.sampled_from(list(e)), max_size=2, unique=True)):
        del e[k]
    return e
