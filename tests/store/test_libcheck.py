"""Library limits that leave nothing the pump can run are refused readably: at load where the limit
alone decides it, where the library meets this pump and this patient otherwise (issue 10 point 4)."""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from controller.clinical.dosebounds import Patient, compile_entry
from controller.clinical.drugs import Library
from controller.clinical.programs import build_program
from controller.core.limits import Limits
from controller.core.units import RATE_PER_ML_H
from controller.errors import ConfigurationError
from controller.library.errors import LibrarySchemaError
from controller.library.file import load_library, read_document
from controller.library.gate import LibraryGate
from controller.library.sign import sign_file
from tests.store.helpers import EXAMPLE, TODAY, copy_example, example_key

HEPARIN = {"drug": "heparin", "concentration": 100, "concentration_unit": "U/mL", "dose_unit": "U/kg/h",
           "weight_kg": {"hard_max": 250}}


def _readable(exc: Exception) -> None:
    text = str(exc)
    assert not re.search(r"\d{16}", text), text  # never a 300-digit fraction
    assert len(text) < 400, text


@pytest.mark.req("REQ-DRG-001")
@pytest.mark.parametrize("extra, field, allowed", [
    ({"dose": {"hard_max": 1e-300}}, "heparin.dose.hard_max", "at least 0.0004 U/kg/h (0.001 mL/h, the pump's rate "
     "resolution, at 100 U/mL for the largest patient (250 kg))"),
    ({"dose": {"soft_max": 1e-9, "hard_max": 40}}, "heparin.dose.soft_max", "at least 0.0004 U/kg/h"),
    ({"bolus_ml": {"hard_max": 1e-300}}, "heparin.bolus_ml.hard_max", "at least 0.001 mL"),
    ({"clinician_bolus_ml": {"hard_max": 1e-300}}, "heparin.clinician_bolus_ml.hard_max", "at least 0.001 mL"),
    ({"loading_ml": {"soft_max": 1e-12, "hard_max": 5}}, "heparin.loading_ml.soft_max", "at least 0.001 mL"),
    ({"intermittent_ml": {"hard_max": 1e-300}}, "heparin.intermittent_ml.hard_max", "at least 0.001 mL"),
    ({"vtbi_ml": {"hard_max": 1e-300}}, "heparin.vtbi_ml.hard_max", "at least 0.001 mL"),
    ({"rate_ml_h": {"hard_max": 1e-300}}, "heparin.rate_ml_h.hard_max", "at least 0.001 mL/h"),
    ({"limit_ml": 1e-300, "limit_window_s": 3600}, "heparin.limit_ml", "at least 0.001 mL"),
    ({"limit_dose": 1e-300, "limit_window_s": 3600}, "heparin.limit_dose", "at least 0.0004 U/kg (0.001 mL at "
     "100 U/mL for the largest patient (250 kg))"),
    ({"dose_unit": "U/kg", "dose": {"hard_max": 3}}, "heparin.dose", "a dose rate unit"),  # binds nothing
])
def test_a_limit_below_the_pump_s_resolution_is_refused_at_load(extra: dict[str, Any], field: str,
                                                                 allowed: str) -> None:
    with pytest.raises(ConfigurationError) as exc:
        Library.from_data({"drug": [{**HEPARIN, **extra}]})
    assert exc.value.field == field and allowed in exc.value.allowed, str(exc.value)
    _readable(exc.value)


@pytest.mark.req("REQ-DRG-001")
def test_care_area_limits_below_resolution_are_refused_at_load() -> None:
    for key, value in (("rate_ml_h", {"hard_max": 1e-300}), ("bolus_ml", {"hard_max": 1e-300}),
                       ("vtbi_ml", {"soft_max": 1e-300, "hard_max": 5})):
        with pytest.raises(ConfigurationError) as exc:
            Library.from_data({"drug": [HEPARIN], "care_area": [{"name": "ward", "basic": True, key: value}]})
        assert exc.value.field.startswith(f"care_area[ward].{key}") and "at least 0.001" in exc.value.allowed
        _readable(exc.value)


@pytest.mark.req("REQ-DRG-001", "REQ-SEC-001")
def test_a_signed_file_with_a_tiny_dose_maximum_is_refused_by_the_signer_and_the_pump(tmp_path: Path) -> None:
    lib = copy_example(tmp_path)
    text = lib.read_text()
    lib.write_text(text.replace("dose = { soft_min = 10, soft_max = 25, hard_max = 40 }",
                                "dose = { hard_max = 1e-300 }", 1))
    with pytest.raises(LibrarySchemaError) as exc:
        sign_file(lib, example_key())
    assert exc.value.field == "heparin.dose.hard_max"
    doc = read_document(lib)
    old = next(line for line in lib.read_text().splitlines() if line.startswith("digest = "))
    lib.write_text(lib.read_text().replace(old, f'digest = "{doc.digest}"'))
    with pytest.raises(LibrarySchemaError) as exc2:
        load_library(lib, None, TODAY, allow_unsigned=True)
    assert exc2.value.field == "heparin.dose.hard_max"
    _readable(exc2.value)


@pytest.mark.req("REQ-DRG-001", "REQ-DRG-002")
def test_a_dose_maximum_below_the_minimum_rate_for_this_patient_is_refused_when_compiled() -> None:
    """Loads (a 250 kg patient could run it), but not for a 2 kg one: said in the drug's unit."""
    lib = Library.from_data({"drug": [{**HEPARIN, "dose": {"hard_max": 0.01}}]})
    with pytest.raises(ConfigurationError) as exc:
        build_program({"drug": "heparin", "weight_kg": 2, "rate_ml_h": 0.1, "vtbi_ml": 5}, Limits(), lib)
    assert exc.value.field == "heparin.dose.hard_max"
    assert "at least 5 U/kg/h for this patient (0.1 mL/h, this pump's minimum rate)" in exc.value.allowed
    _readable(exc.value)
    assert build_program({"drug": "heparin", "weight_kg": 250, "rate_ml_h": 0.02, "vtbi_ml": 5},
                         Limits(min_rate=10), lib).program.step_rate[0] == 20


@pytest.mark.req("REQ-DRG-001", "REQ-DOS-007")
def test_a_window_limit_that_rounds_to_nothing_for_this_patient_is_refused_not_dropped() -> None:
    entry = Library.from_data({"drug": [{**HEPARIN, "limit_dose": 0.001, "limit_window_s": 3600}]}).entries[0]
    assert compile_entry(entry, Patient(weight_kg=Fraction(250)), Limits()).bounds.win_vol > 0  # at load: fine
    with pytest.raises(ConfigurationError) as exc:  # 1e-9 kg: no volume unit left; never "no window"
        compile_entry(entry, Patient(weight_kg=Fraction(1, 10**9)), Limits())
    assert exc.value.field == "heparin.limit_dose" and "would drop the window" in str(exc.value)


@pytest.mark.req("REQ-DRG-001", "REQ-DEL-002")
def test_a_pump_configured_below_the_library_runs_every_entry_within_its_own_maximum() -> None:
    """A library written for a faster pump is not refused on a pump configured slower: the tighter
    maximum binds (the program's rate_hard_max and the core's rate_cap take the minimum), so a
    program within both runs, and one above the pump's maximum is refused naming it."""
    gate = LibraryGate(example_key(), None, today=lambda: TODAY)
    assert gate.load(EXAMPLE).ok
    slow = Limits(max_rate=50 * RATE_PER_ML_H, prime_rate=50 * RATE_PER_ML_H)
    ok = gate.program({"drug": "heparin", "weight_kg": 70, "rate_ml_h": 10, "vtbi_ml": 50}, slow)
    assert ok.ok and ok.event is not None and ok.event.program.rate_hard_max == 50 * RATE_PER_ML_H
    basic = gate.program({"rate_ml_h": 10, "vtbi_ml": 50}, slow)  # the general care area allows 500 mL/h
    assert basic.ok and basic.event is not None and basic.event.program.rate_hard_max == 50 * RATE_PER_ML_H
    fast = gate.program({"rate_ml_h": 60, "vtbi_ml": 50}, slow)
    assert not fast.ok and fast.event is None and "50 mL/h" in fast.message
