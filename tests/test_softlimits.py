"""Soft limits in every entry mode: the edge says which soft bound was crossed, in the request's
field, and its list is non-empty exactly when the core asks for a confirmation (issue 10 point 1,
REQ-DRG-003)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.clinical import softlimits
from controller.clinical.dosebounds import Patient
from controller.clinical.drugs import Library
from controller.clinical.programs import REQUEST_FIELDS, build_program
from controller.clinical.wording import EntryMode
from controller.core.libbounds import LibBounds
from controller.core.limits import Limits
from controller.core.program import N_STEPS, STEPS_OF_KIND, Kind, Program, program_ok, soft_exceeded
from controller.errors import ConfigurationError
from controller.library.gate import LibraryGate
from controller.log.eventlog import EventLog
from tests.clinical_strategies import EDGE_FUZZ, as_raw, entries, example_libraries, requests
from tests.store.helpers import EXAMPLE, TODAY, example_key

HEPARIN = {"drug": "heparin", "weight_kg": 70, "vtbi_ml": 100}  # example library: 100 U/mL, soft 10-25 U/kg/h
LIB = example_libraries()[0]


@pytest.mark.req("REQ-DRG-003")
@pytest.mark.parametrize("extra, field, says", [
    ({"dose": 28.6}, "dose", "10 to 25 U/kg/h, 7 to 17.5 mL/h for this patient"),
    ({"rate_ml_h": 20}, "rate_ml_h", "7 to 17.5 mL/h (soft limits of heparin: dose 10 to 25 U/kg/h at 70 kg"),
    ({"duration_s": 18000}, "duration_s", "20571.4 to 51428.6 s for vtbi_ml = 100 (7 to 17.5 mL/h)"),
    ({"rate_ml_h": 5}, "rate_ml_h", "7 to 17.5 mL/h"),  # below the soft minimum
    ({"rate_ml_h": 10, "kind": "loading", "loading_ml": 70, "loading_rate_ml_h": 100}, "loading_ml", "0 to 60 mL"),
    ({"rate_ml_h": 20, "kind": "intermittent", "dose_ml": 20, "interval_s": 3600}, "rate_ml_h", "17.5 mL/h"),
    ({"rate_ml_h": 30, "weight_kg": 200}, "weight_kg", "0 to 150 kg (soft limits)"),
])
def test_each_entry_mode_says_which_soft_limit(extra: dict[str, Any], field: str, says: str) -> None:
    built = build_program({**HEPARIN, **extra}, Limits(), LIB)
    assert built.needs_confirmation and soft_exceeded(built.program)
    assert [s.field for s in built.soft] == [field], [str(s) for s in built.soft]
    assert says in str(built.soft[0])


@pytest.mark.req("REQ-DRG-003")
@pytest.mark.parametrize("extra, field, says", [
    ({"rate_ml_h": 1, "bolus_ml": 2.5, "lockout_s": 600}, "bolus_ml", "0 to 2 mL (soft limits)"),  # PCA
    ({"rate_ml_h": 1, "clinician_bolus_max_ml": 2.5}, "clinician_bolus_max_ml", "0 to 2 mL"),  # falls back to PCA's
    ({"dose": 3}, "dose", "0 to 2 mg/h"),
])
def test_morphine_pca_and_clinician_bolus_soft_limits(extra: dict[str, Any], field: str, says: str) -> None:
    built = build_program({"drug": "morphine", "vtbi_ml": 50, **extra}, Limits(), LIB)
    assert [s.field for s in built.soft] == [field] and says in str(built.soft[0]), [str(s) for s in built.soft]
    assert built.program.needs_confirm


@pytest.mark.req("REQ-DRG-003")
def test_a_ramp_plateau_and_a_vtbi_soft_limit_are_confirmed_too() -> None:
    """Soft limits the core's own bounds do not hold (the plateau of a ramp, the VTBI) are recorded in
    soft_edge, so the core asks for the confirmation the edge lists."""
    lib = Library.from_data({"drug": [{"drug": "m", "concentration": 1, "concentration_unit": "mg/mL",
                                       "dose_unit": "mg/h", "dose": {"soft_max": 5, "hard_max": 10},
                                       "vtbi_ml": {"soft_max": 50, "hard_max": 500}}]})
    ramp = build_program({"drug": "m", "kind": "ramp", "rate_ml_h": 8, "ramp_up_s": 600, "taper_s": 600,
                          "vtbi_ml": 50}, Limits(), lib)
    assert [s.field for s in ramp.soft] == ["rate_ml_h"] and "for the plateau" in str(ramp.soft[0])
    assert ramp.program.lib.soft_edge and soft_exceeded(ramp.program)
    vtbi = build_program({"drug": "m", "rate_ml_h": 1, "vtbi_ml": 60}, Limits(), lib)
    assert [s.field for s in vtbi.soft] == ["vtbi_ml"] and vtbi.program.needs_confirm


@pytest.mark.req("REQ-DRG-003", "REQ-SEC-002")
def test_the_gate_message_and_log_name_the_soft_limit(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "log.db")
    gate = LibraryGate(example_key(), log, today=lambda: TODAY)
    assert gate.load(EXAMPLE, 1).ok
    r = gate.program({**HEPARIN, "rate_ml_h": 20}, Limits(), 2)
    assert r.ok and "rate_ml_h = 20 is outside 7 to 17.5 mL/h" in r.message, r.message
    logged = log.records("program_checked")[-1].payload["soft_limits"]
    assert len(logged) == 1 and logged[0].startswith("rate_ml_h = 20 is outside 7 to 17.5 mL/h")


def _check_built(req: dict[str, Any], lib: Library, limits: Limits) -> None:
    try:
        built = build_program(req, limits, lib)
    except ConfigurationError:
        return
    p = built.program
    assert bool(built.soft) == soft_exceeded(p) == p.needs_confirm, ([str(s) for s in built.soft], req)
    assert all(s.field in REQUEST_FIELDS for s in built.soft)
    assert program_ok(p, limits)


@pytest.mark.req("REQ-DRG-003")
@EDGE_FUZZ
@given(st.data())
def test_the_soft_list_is_non_empty_exactly_when_the_core_asks_for_confirmation(data: st.DataObject) -> None:
    entry = data.draw(entries())
    lib = Library.from_data({"drug": [entry]})
    _check_built(data.draw(requests(entry)), lib, Limits())


@pytest.mark.req("REQ-DRG-003")
@EDGE_FUZZ
@given(st.data())
def test_the_same_holds_for_the_example_libraries(data: st.DataObject) -> None:
    lib = data.draw(st.sampled_from(example_libraries()))
    e = data.draw(st.sampled_from(lib.entries))
    _check_built(data.draw(requests(as_raw(e))), lib, Limits())


VU = 3_600_000_000


@st.composite
def programs_with_soft_bounds(draw: st.DrawFn) -> Program:
    """Any program shape against any compiled soft bounds, near each other (integers, core units)."""
    kind = draw(st.sampled_from(list(Kind)))
    n = STEPS_OF_KIND[kind]
    rates = tuple(draw(st.integers(0, 40_000)) for _ in range(n)) + (0,) * (N_STEPS - n)
    vols = tuple(draw(st.integers(0, 10 * VU)) for _ in range(n)) + (0,) * (N_STEPS - n)
    lib = LibBounds(rate_soft_max=draw(st.integers(0, 40_000)), rate_soft_min=draw(st.integers(0, 20_000)),
                    bolus_soft_max=draw(st.integers(0, 10 * VU)), clin_bolus_soft_max=draw(st.integers(0, 10 * VU)),
                    load_soft_max=draw(st.integers(0, 10 * VU)), dose_soft_max=draw(st.integers(0, 10 * VU)))
    return Program(loaded=True, n_steps=n, kind=kind, step_rate=rates, step_vol=vols, vtbi=100 * VU,
                   pca_vol=draw(st.integers(0, 10 * VU)), clin_bolus_max=draw(st.integers(0, 10 * VU)), lib=lib)


@pytest.mark.req("REQ-DRG-003")
@settings(max_examples=2000, deadline=None, derandomize=True, database=None)
@given(programs_with_soft_bounds())
def test_for_any_program_the_soft_list_fires_exactly_with_the_core(p: Program) -> None:
    """softlimits.crossed against controller.core.program.soft_exceeded, disjunct by disjunct: on
    random programs and bounds the list is non-empty exactly when the core's soft check fires."""
    mode = EntryMode("rate_ml_h", Fraction(p.step_rate[p.n_steps - 1], 1000), Fraction(100), None, Patient())
    values = dict.fromkeys(("bolus_ml", "clinician_bolus_max_ml", "loading_ml", "dose_ml", "vtbi_ml"), Fraction(1))
    listed = softlimits.crossed(p, mode, None, (), values)
    assert bool(listed) == soft_exceeded(p), [str(s) for s in listed]
    assert len({s.field for s in listed}) == len(listed)  # one entry per soft limit crossed
