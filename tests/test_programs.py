"""Programs, dose units and the drug library at the edge: exact conversion, typed refusals."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.clinical.doses import dose_to_ml_h, ml_h_to_dose, parse_dose_unit
from controller.clinical.drugs import Library
from controller.clinical.programs import build_program, clinician_bolus_payload
from controller.core.events import ev
from controller.core.limits import Limits, validate_limits
from controller.core.machine import Controller
from controller.core.units import RATE_PER_ML_H, VU_PER_ML, ml_h_to_rate, ml_to_vu, to_fraction
from controller.errors import ConfigurationError

LIB = Library.from_data({
    "version": "2026-11",
    "drug": [
        {"drug": "Dopamine", "care_area": "ICU", "concentration": 1600, "concentration_unit": "mcg/mL",
         "dose_unit": "mcg/kg/min", "dose": {"hard_min": 0.5, "soft_min": 2, "soft_max": 20, "hard_max": 50},
         "weight_kg": {"hard_min": 0.5, "soft_max": 150, "hard_max": 350}, "routes": ["intravenous"]},
        {"drug": "Morphine", "concentration": 1, "concentration_unit": "mg/mL", "dose_unit": "mg/h",
         "dose": {"soft_max": 5, "hard_max": 10}, "bolus_ml": {"soft_max": 2, "hard_max": 4},
         "rate_ml_h": {"hard_max": 20}, "limit_ml": 26.5, "limit_window_s": 14400},
        {"drug": "Heparin", "concentration": 100, "concentration_unit": "U/mL", "dose_unit": "U/kg/h",
         "dose": {"hard_max": 40}},
    ],
    "care_area": [{"name": "general", "basic": True}],
})


def build(**req: object):  # type: ignore[no-untyped-def]
    return build_program(req, Limits(), LIB)


@pytest.mark.req("REQ-DRG-004")
def test_dopamine_dose_is_converted_exactly() -> None:
    # 5 mcg/kg/min x 70 kg x 60 / 1600 mcg/mL = 13.125 mL/h exactly
    unit = parse_dose_unit("mcg/kg/min")
    assert dose_to_ml_h(Fraction(5), unit, Fraction(1600), "mcg", Fraction(70)) == Fraction(105, 8)
    b = build(drug="Dopamine", care_area="ICU", dose=5, dose_unit="mcg/kg/min", weight_kg=70, vtbi_ml=250)
    assert b.program.step_rate[0] == 13_125 and not b.needs_confirmation


@pytest.mark.req("REQ-DRG-004")
@given(st.fractions(min_value=Fraction(1, 100), max_value=50), st.fractions(min_value=1, max_value=200))
def test_dose_rate_round_trip_is_exact(dose: Fraction, weight: Fraction) -> None:
    unit = parse_dose_unit("mcg/kg/min")
    rate = dose_to_ml_h(dose, unit, Fraction(1600), "mcg", weight)
    assert ml_h_to_dose(rate, unit, Fraction(1600), "mcg", weight) == dose
    assert ml_h_to_rate(rate, "r") <= rate * RATE_PER_ML_H < ml_h_to_rate(rate, "r") + 1  # rounds down only


@pytest.mark.req("REQ-DRG-003")
def test_soft_limit_needs_confirmation() -> None:
    b = build(drug="Dopamine", care_area="ICU", dose=25, weight_kg=70, vtbi_ml=250)
    assert b.needs_confirmation and b.program.needs_confirm
    assert str(b.soft[0]).startswith("dose = 25 is outside 2 to 20 mcg/kg/min, 5.25 to 52.5 mL/h for this patient "
                                     "(soft limits of Dopamine: dose 2 to 20 mcg/kg/min at 70 kg")
    c = Controller()
    c.handle(ev("self_test", flag=True))
    assert c.handle(ev("program", program=b.program)).accepted
    assert c.handle(ev("start")).reason.startswith("soft_limit_unconfirmed")  # type: ignore[union-attr]
    assert c.handle(ev("confirm_soft_limit")).accepted and c.handle(ev("start")).accepted


@pytest.mark.req("REQ-DRG-002", "REQ-PRG-002", "REQ-DEL-009", "REQ-RTE-001")
@pytest.mark.parametrize("req, field, allowed", [
    ({"drug": "Dopamine", "care_area": "ICU", "dose": 60, "weight_kg": 70}, "dose", "50 mcg/kg/min (hard"),
    ({"drug": "Dopamine", "care_area": "ICU", "dose": 5, "weight_kg": 400}, "weight_kg", "350 kg (hard"),
    ({"drug": "Dopamine", "care_area": "ICU", "dose": 5, "dose_unit": "mg/h", "weight_kg": 70}, "dose_unit",
     "mcg/kg/min"),
    ({"drug": "Heparin", "dose": 10, "dose_unit": "U/kg/h"}, "weight_kg", "weight in kg"),
    ({"drug": "Insulin", "dose": 1}, "drug", "Dopamine (ICU)"),
    ({"drug": "Dopamine", "dose": 5, "weight_kg": 70}, "drug", "Morphine (general)"),
    ({"rate_ml_h": float("nan")}, "rate_ml_h", "a finite number"),
    ({"rate_ml_h": float("inf")}, "rate_ml_h", "a finite number"),
    ({"rate_ml_h": -1}, "rate_ml_h", ">= 0"),
    ({"rate_ml_h": "fast"}, "rate_ml_h", "a number (not text"),
    ({"rate_ml_h": 5000}, "rate_ml_h", "0.1 to 999 mL/h (this pump's max_rate"),
    ({"drug": "Morphine", "dose": 15}, "dose", "10 mg/h (hard"),
    # issue 10 defect 1: a rate is held to the dose hard max (10 mg/h at 1 mg/mL), not only to the rate's 20 mL/h
    ({"drug": "Morphine", "rate_ml_h": 15}, "rate_ml_h", "0.1 to 10 mL/h (the library's dose hard limit for this"),
    ({"drug": "Morphine", "vtbi_ml": 15, "duration_s": 3600}, "duration_s", "5400 to 540000 s for vtbi_ml = 15 "
     "(0.1 to 10 mL/h) (the library's dose hard limit"),
    ({"drug": "Morphine", "rate_ml_h": 1, "clinician_bolus_max_ml": 20}, "clinician_bolus_max_ml", "4 mL (hard"),
    ({"drug": "Dopamine", "care_area": "ICU", "rate_ml_h": 5}, "weight_kg", "every programming mode"),
    ({"drug": "Dopamine", "care_area": "ICU", "rate_ml_h": 5, "weight_kg": 400}, "weight_kg", "350 kg (hard"),
    ({"rate_ml_h": 1, "kind": "intermittent", "dose_ml": 10, "interval_s": 0}, "interval_s", "more than 0"),
    ({"rate_ml_h": 1, "dose": 3}, "rate_ml_h", "absent when dose is given"),
    ({"rate_ml_h": 1, "duration_s": 30}, "duration_s", "absent when rate_ml_h is given"),
    ({"rate_ml_h": 1, "loading_ml": 3}, "loading_ml", 'only with kind = "loading"'),
    ({"rate_ml_h": 1, "interval_s": 60}, "interval_s", 'only with kind = "intermittent"'),
    ({"rate_ml_h": 1, "lockout_s": 60}, "lockout_s", "only with bolus_ml"),
    ({"rate_ml_h": 1, "weight_kg": 60}, "weight_kg", "only with a drug"),
    ({"rate_ml_h": 1, "care_area": "icu"}, "care_area", "only with a drug"),
    ({"rate_ml_h": 1, "vtbi_ml": "100"}, "vtbi_ml", "a number (not text"),
    ({"rate_ml_h": True}, "rate_ml_h", "a number (not text or true/false)"),
    ({"drug": "Morphine", "rate_ml_h": 1, "route": "epidural", "bolus_ml": 5, "lockout_s": 600}, "bolus_ml", "4 mL"),
    ({"rate_ml_h": 1, "route": "intrathecal"}, "route", "intravenous"),
    ({"rate_ml_h": 1, "kind": "bolus"}, "kind", "continuous"),
    ({"rate_ml_h": 1, "rate": 2}, "rate", "rate_ml_h"),
    ({"rate_ml_h": 50, "route": "epidural"}, "rate_ml_h", "0.1 to 25 mL/h (the epidural route's cap)"),
    ({"rate_ml_h": 1, "kind": "intermittent", "dose_ml": 10}, "interval_s", "seconds"),
    ({"rate_ml_h": 1, "bolus_ml": 1}, "lockout_s", "PCA lockout"),
    ({"rate_ml_h": 1, "bolus_ml": 1, "lockout_s": 600, "max_boluses_per_h": 13}, "max_boluses_per_h", "1 to 12"),
    ({"rate_ml_h": 1, "limit_ml": 5}, "limit_window_s", "given together"),
])
def test_bad_requests_name_field_value_and_range(req: dict[str, object], field: str, allowed: str) -> None:
    req.setdefault("vtbi_ml", 100)
    with pytest.raises(ConfigurationError) as exc:
        build_program(req, Limits(), LIB)
    assert exc.value.field == field, str(exc.value)
    assert allowed in exc.value.allowed, str(exc.value)


@pytest.mark.req("REQ-THR-001", "REQ-THR-002")
def test_therapy_kinds_become_step_programs() -> None:
    load = build(rate_ml_h=10, kind="loading", loading_ml=5, loading_rate_ml_h=100, vtbi_ml=100).program
    assert load.n_steps == 2 and load.step_rate[:2] == (100_000, 10_000) and load.step_vol[0] == 5 * VU_PER_ML
    ramp = build(rate_ml_h=100, kind="ramp", ramp_up_s=3600, taper_s=1800, vtbi_ml=1000).program
    assert ramp.step_rate[:3] == (50_000, 100_000, 50_000)
    assert ramp.step_vol[:2] == (50 * VU_PER_ML, 925 * VU_PER_ML)
    inter = build(rate_ml_h=100, kind="intermittent", dose_ml=50, interval_s=21600, vtbi_ml=200).program
    assert inter.interval_ms == 21_600_000 and inter.step_vol[0] == 50 * VU_PER_ML
    pca = build(rate_ml_h=0, bolus_ml=1, lockout_s=600, max_boluses_per_h=4, vtbi_ml=100).program
    assert pca.step_rate[0] == 0 and pca.pca_vol == VU_PER_ML and pca.pca_rate * pca.pca_ms <= pca.pca_vol
    dur = build(vtbi_ml=100, duration_s=3 * 3600).program
    assert dur.step_rate[0] == 33_333  # 33.333... mL/h rounded down


@pytest.mark.req("REQ-DOS-004")
def test_library_window_limit_applies_and_window_rounds_up() -> None:
    p = build(drug="Morphine", rate_ml_h=1, vtbi_ml=100).program  # the library's window is always slot 0
    assert p.lim_vol[0] == ml_to_vu(Fraction(53, 2), "x") and p.lim_bucket_ms[0] * 12 == 14_400_000
    both = build(drug="Morphine", rate_ml_h=1, vtbi_ml=100, limit_ml=100, limit_window_s=86_400).program
    assert both.lim_vol == (ml_to_vu(Fraction(53, 2), "x"), 100 * VU_PER_ML)  # a looser own limit never replaces it
    with pytest.raises(ConfigurationError, match="library's window always stays"):  # issue 10 defect 3
        build(drug="Morphine", rate_ml_h=1, vtbi_ml=100, limit_ml=100, limit_window_s=3600, limit2_ml=100,
              limit2_window_s=7200)
    p = build(rate_ml_h=1, vtbi_ml=100, limit_ml=1, limit_window_s=3601).program
    assert p.lim_bucket_ms[0] * 12 >= 3_601_000


def test_clinician_bolus_payload() -> None:
    vol, rate, dur = clinician_bolus_payload(2, 60)
    assert (vol, dur) == (2 * VU_PER_ML, 60_000) and rate * dur <= vol and rate == 120_000
    with pytest.raises(ConfigurationError, match="duration_s"):
        clinician_bolus_payload(1, 0)


@pytest.mark.req("REQ-DRG-001", "REQ-PRG-002")
def test_library_schema_errors() -> None:
    with pytest.raises(ConfigurationError, match="hard_min"):
        Library.from_data({"drug": [{"drug": "X", "concentration": 1, "dose": {"hard_min": 5, "soft_min": 2}}]})
    with pytest.raises(ConfigurationError, match="concentration_unit"):
        Library.from_data({"drug": [{"drug": "X", "concentration": 1, "concentration_unit": "mg/L"}]})
    with pytest.raises(ConfigurationError, match="unit mismatch"):
        Library.from_data({"drug": [{"drug": "X", "concentration": 1, "concentration_unit": "mg/mL",
                                     "dose_unit": "U/h"}]})
    with pytest.raises(ConfigurationError, match="one entry per drug"):
        Library.from_data({"drug": [{"drug": "X", "concentration": 1}, {"drug": "x", "concentration": 2}]})
    with pytest.raises(ConfigurationError, match="colour"):
        Library.from_data({"drug": [{"drug": "X", "concentration": 1, "colour": "red"}]})


@pytest.mark.req("REQ-CFG-001", "REQ-CFG-003")
def test_limits_validation_names_field() -> None:
    with pytest.raises(ConfigurationError) as exc:
        validate_limits(Limits(silence_ms=600_000))
    assert exc.value.field == "silence_ms" and "120000" in exc.value.allowed
    with pytest.raises(ConfigurationError, match="route_max_rate"):
        validate_limits(Limits(route_max_rate=(1, 2)))
    assert validate_limits(Limits()) == Limits()


def test_to_fraction_reads_decimals_exactly() -> None:
    assert to_fraction(0.1, "x") == Fraction(1, 10) and to_fraction("4.17", "x") == Fraction(417, 100)
    for bad in (math.nan, True, None, [], "1e999999999x"):
        with pytest.raises(ConfigurationError):
            to_fraction(bad, "x")
