"""Refusals at the edge name the request's field, the clinician's value and the allowed range in
that field's unit, never a core field (pca_rate, step_rate[0], lib.dose_rate_max): issue 10 point 5."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.clinical import refusals
from controller.clinical.drugs import Library
from controller.clinical.programs import REQUEST_FIELDS, build_program
from controller.core.limits import Limits
from controller.core.program import PROGRAM_CHECKS
from controller.errors import ConfigurationError
from tests.clinical_strategies import EDGE_FUZZ, as_raw, entries, example_libraries, requests

LIB = example_libraries()[0]
CORE_NAMES = {c.field for c in PROGRAM_CHECKS}
LIBRARY_FIELD = re.compile(r"^(\w[\w %.-]*|care_area\[[^\]]+\])\.[a-z_]+(\.[a-z_]+)?$")


def refused(req: dict[str, Any], limits: Limits | None = None, lib: Library | None = LIB) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as exc:
        build_program(req, limits or Limits(), lib)
    return exc.value


MORPHINE = {"drug": "morphine", "vtbi_ml": 50}  # 1 mg/mL, dose hard 4 mg/h, rate hard 10 mL/h, bolus hard 3 mL
DOPAMINE = {"drug": "dopamine", "care_area": "icu", "weight_kg": 70, "vtbi_ml": 250}  # 1600 mcg/mL, 1-50 mcg/kg/min


@pytest.mark.req("REQ-PRG-002", "REQ-DRG-002")
@pytest.mark.parametrize("req, field, value, allowed", [
    # the PCA bolus on top of the basal: was pca_rate = '100.000 mL/h'
    ({**MORPHINE, "rate_ml_h": 1, "bolus_ml": 1, "lockout_s": 600, "bolus_rate_ml_h": 9.5},
     "bolus_rate_ml_h", "9.5", "at most 9 mL/h (this program's rate cap 10 mL/h, the library's rate hard max, less its "
     "highest rate 1 mL/h)"),
    # a dose over the rate cap, said in the dose unit: was step_rate[0] / lib.dose_rate_max
    ({**DOPAMINE, "dose": 45}, "dose", "45", "1 to 38.0952 mcg/kg/min, 2.625 to 100 mL/h for this patient (the "
     "library's rate hard max)"),
    ({**DOPAMINE, "dose": 0.9}, "dose", "0.9", "1 to 50 mcg/kg/min (hard limits)"),  # clinical units, first
    ({**MORPHINE, "vtbi_ml": 20, "duration_s": 3600}, "duration_s", "3600",
     "18000 to 720000 s for vtbi_ml = 20 (0.1 to 4 mL/h) (the library's dose hard limit for this patient)"),
    ({"drug": "heparin", "weight_kg": 70, "vtbi_ml": 500, "kind": "loading", "loading_ml": 50,
      "loading_rate_ml_h": 150, "dose": 10}, "loading_rate_ml_h", "150", "0.1 to 100 mL/h (the library's rate hard "
     "max)"),
    ({"drug": "insulin", "care_area": "icu", "vtbi_ml": 50, "dose": 0.05}, "dose", "0.05", "0.1 to 30 U/h (hard"),
    ({"rate_ml_h": 0.05, "vtbi_ml": 10}, "rate_ml_h", "0.05", "0.1 mL/h or more (this pump's minimum rate)"),
    ({"rate_ml_h": 0, "vtbi_ml": 10}, "rate_ml_h", "0", "more than 0 (or give bolus_ml for a PCA-only program)"),
    ({"rate_ml_h": 1, "vtbi_ml": 10, "bolus_ml": 20, "lockout_s": 60}, "bolus_ml", 20, "at most vtbi_ml (10 mL)"),
    ({"rate_ml_h": 1, "vtbi_ml": 10, "bolus_ml": 1, "lockout_s": 100_000}, "lockout_s", 100_000, "0 to 86400 s"),
    ({"rate_ml_h": 1, "vtbi_ml": 10, "clinician_bolus_max_ml": 20}, "clinician_bolus_max_ml", 20, "vtbi_ml (10 mL)"),
    ({"rate_ml_h": 1, "vtbi_ml": 10, "kind": "loading", "loading_ml": 20, "loading_rate_ml_h": 5}, "loading_ml", 20,
     "at most vtbi_ml"),
    ({"rate_ml_h": 1, "vtbi_ml": 10, "kind": "intermittent", "dose_ml": 20, "interval_s": 3600}, "dose_ml", 20,
     "at most vtbi_ml"),
    ({"rate_ml_h": 1, "vtbi_ml": 10, "kind": "intermittent", "dose_ml": 2, "interval_s": 30}, "interval_s", 30,
     "60 to 86400 s"),
    ({"rate_ml_h": 1, "vtbi_ml": 10, "limit_ml": 5, "limit_window_s": 6}, "limit_window_s", 6, "12 to 86400 s"),
    ({"rate_ml_h": 1, "vtbi_ml": 10, "limit2_ml": 5, "limit2_window_s": 6}, "limit2_window_s", 6, "12 to 86400 s"),
    ({"rate_ml_h": 1, "vtbi_ml": 10, "reservoir_ml": 20_000}, "reservoir_ml", 20_000, "10000 mL"),
    ({"rate_ml_h": 1, "vtbi_ml": 20_000}, "vtbi_ml", 20_000, "9999"),
    ({"rate_ml_h": 0.15, "vtbi_ml": 500, "kind": "ramp", "ramp_up_s": 600, "taper_s": 600}, "rate_ml_h", "0.15",
     "0.2 mL/h or more (this pump's minimum rate)"),  # the ramp's ends run at half of it
])
def test_refusals_name_the_request_field_value_and_range(req: dict[str, Any], field: str, value: object,
                                                         allowed: str) -> None:
    exc = refused(req, lib=LIB if "drug" in req else None)
    assert (exc.field, exc.value) == (field, str(value)), str(exc)
    assert allowed in exc.allowed, str(exc)
    assert exc.field not in CORE_NAMES - REQUEST_FIELDS


@pytest.mark.req("REQ-PRG-002", "REQ-DRG-002")
def test_a_core_refusal_left_is_reworded_to_the_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the edge's own wording switched off, the core's refusal still reaches the clinician in the
    request's terms (rule 1: the core checks again, and its words are mapped)."""
    monkeypatch.setattr(refusals, "check", lambda *a: None)
    for req, field in (({**MORPHINE, "rate_ml_h": 1, "bolus_ml": 1, "lockout_s": 600, "bolus_rate_ml_h": 9.5},
                        "bolus_rate_ml_h"),
                       ({**DOPAMINE, "dose": 45}, "dose"), ({"rate_ml_h": 50, "vtbi_ml": 9, "route": "epidural"},
                                                            "rate_ml_h"),
                       ({"rate_ml_h": 1, "vtbi_ml": 10, "kind": "intermittent", "dose_ml": 2, "interval_s": 30},
                        "interval_s"),
                       ({"rate_ml_h": 1, "vtbi_ml": 10, "limit2_ml": 5, "limit2_window_s": 6}, "limit2_window_s")):
        exc = refused(req, lib=LIB if "drug" in req else None)
        assert exc.field == field, str(exc)
        assert exc.value == str(req.get(field, req.get("dose"))), str(exc)


def _named_well(exc: ConfigurationError) -> bool:
    return exc.field in REQUEST_FIELDS or exc.field == "program" or (
        bool(LIBRARY_FIELD.match(exc.field)) and not exc.field.startswith("lib."))


@pytest.mark.req("REQ-PRG-002")
@EDGE_FUZZ
@given(st.data())
def test_every_refusal_names_a_request_or_library_field(data: st.DataObject) -> None:
    entry = data.draw(entries())
    try:
        lib = Library.from_data({"drug": [entry]})
    except ConfigurationError as exc:
        assert LIBRARY_FIELD.match(exc.field), str(exc)
        return
    req = data.draw(requests(entry))
    limits = data.draw(st.sampled_from([Limits(), Limits(max_rate=100_000, prime_rate=100_000)]))
    try:
        build_program(req, limits, lib)
    except ConfigurationError as exc:
        assert _named_well(exc), str(exc)
        assert not re.search(r"\d{16}", str(exc)), str(exc)  # no 300-digit fractions, no raw vu


@pytest.mark.req("REQ-PRG-002")
@EDGE_FUZZ
@given(st.data())
def test_basic_infusions_and_library_drugs_too(data: st.DataObject) -> None:
    lib = data.draw(st.sampled_from([*example_libraries(), None]))
    raw: dict[str, Any] | None = None
    if lib is not None and data.draw(st.booleans()):
        raw = as_raw(data.draw(st.sampled_from(lib.entries)))
    try:
        build_program(data.draw(requests(raw)), Limits(), lib)
    except ConfigurationError as exc:
        assert _named_well(exc), str(exc)
