"""Regression tests for issue 10 that had none: scenario ``type``/``actor`` of the wrong TOML type,
the defect-4a slot move, and the point-6 defaults (a 100 mL/h pump, an undeclared container,
``accounted_ml`` as a running total); and the gaps the red team found: F1 (a ramp's plateau over
a soft limit started unconfirmed; fixed), F2 and F3 (one mechanism: a ring re-armed with a longer
window forgot what that window still covers; fixed: a ring starts a new window only when nothing
went into the patient on the line within it, guards.history_fits).
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from controller.cli import main
from controller.clinical.drugs import Library
from controller.clinical.programs import build_program
from controller.core.commands import SetFlow, StopMotor
from controller.core.events import ev, tick
from controller.core.limits import Limits
from controller.core.machine import Controller, Step
from controller.core.units import VU_PER_ML
from tests.redteam_timeline import window_max

HOUR_MS, TICK_MS = 3_600_000, 10_000


# --- point 5: a scenario event's type or actor as an array or a table --------------------------

@pytest.mark.req("REQ-PRG-002")
@pytest.mark.parametrize(("line", "field"), [
    ('type = ["start"]', "event[0].type"),
    ("type = { name = \"start\" }", "event[0].type"),
    ('type = "start"\nactor = ["clinician"]', "event[0].actor"),
    ('type = "start"\nactor = { role = "clinician" }', "event[0].actor"),
])
def test_a_scenario_type_or_actor_of_the_wrong_toml_type_exits_2_naming_the_field(
        line: str, field: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "bad.toml"
    scenario.write_text(f'name = "bad"\nduration_s = 10\n[[event]]\nat_s = 1\n{line}\n')
    assert main(["simulate", str(scenario)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pumpctl simulate: ") and f"{field} = " in err and "allowed: one of" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


# --- defect 4a: the same limit moved from one window slot to the other --------------------------

SALINE = Library.from_data({"drug": [{"drug": "saline", "concentration": 1, "concentration_unit": "mL/mL",
                                      "dose_unit": "mL/h", "dose": {"hard_max": 500}}]})
LIMITS = Limits(max_tick_ms=TICK_MS)


class Line:
    """A controller on one line, with delivery integrated from its motor commands (as the red team does)."""

    def __init__(self) -> None:
        self.ctl = Controller(LIMITS)
        self.t = self.odo = self.rate = self.cap = 0
        self.pieces: list[tuple[int, Fraction, int]] = []
        self.handle(ev("self_test", flag=True))

    def handle(self, e: Any) -> Step:
        step = self.ctl.handle(e)
        for c in step.commands:
            if isinstance(c, StopMotor):
                self.rate, self.cap = 0, self.odo
            elif isinstance(c, SetFlow):
                self.rate, self.cap = c.rate, c.cap
        return step

    def run(self, ms: int) -> None:
        for _ in range(ms // TICK_MS):
            moved = min(self.rate * TICK_MS, self.cap - self.odo)
            if moved > 0:
                self.pieces.append((self.t, self.t + Fraction(moved, self.rate), self.rate))
            self.odo, self.t = self.odo + max(0, moved), self.t + TICK_MS
            self.handle(tick(TICK_MS))

    def program(self, **req: Any) -> Step:
        """Stop whatever runs, load the program; if accepted, confirm what needs it and start."""
        if self.ctl.state not in ("IDLE", "READY", "STOPPED"):
            self.handle(ev("stop"))
        step = self.handle(ev("program", program=build_program({"drug": "saline", "vtbi_ml": 100, **req}, LIMITS,
                                                                 SALINE).program))
        if step.accepted:
            self.handle(ev("confirm_soft_limit"))
            assert self.handle(ev("start")).accepted
        return step

    def most_in(self, window_ms: int) -> Fraction:
        return window_max(self.pieces, [], window_ms) / VU_PER_ML


@pytest.mark.req("REQ-DOS-006", "REQ-DOS-004")
@pytest.mark.parametrize("slot0", [(20, 14_400), (20, 3_600)])
def test_a_limit_moved_to_the_other_window_slot_keeps_its_history_or_is_refused(slot0: tuple[int, int]) -> None:
    """Issue 10 defect 4a: 10 mL / 4 h in slot 0, 8 mL given, then the same 10 mL / 4 h moved to slot 1
    by a reprogram (slot 0 now holds another limit). Before the fix 12 mL reached the patient in one
    4 h window. Now the program either counts the 8 mL already given (same window in slot 0: the
    rings belong to the line) or is refused with window_history (slot 0's history is over another
    window)."""
    line = Line()
    assert line.program(rate_ml_h=20, limit_ml=10, limit_window_s=14_400).accepted
    line.run(24 * 60_000)
    assert line.most_in(4 * HOUR_MS) == 8
    step = line.program(rate_ml_h=20, limit_ml=slot0[0], limit_window_s=slot0[1], limit2_ml=10,
                        limit2_window_s=14_400)
    if slot0[1] != 14_400:
        assert not step.accepted and (step.reason or "").startswith("window_history")
        return
    assert step.accepted
    line.run(2 * HOUR_MS)
    assert line.most_in(4 * HOUR_MS) <= 10


@pytest.mark.req("REQ-DOS-006")
def test_a_limit_moved_into_a_ring_that_aged_out_over_a_shorter_window_keeps_its_history() -> None:
    """As above, but slot 1's ring was armed with a 1 h window by an earlier program and aged out
    before the move: it is re-armed empty with 4 h, and the 8 mL given within those 4 h are lost
    (18 mL reach the patient in one 4 h window under programs that each say 10 mL / 4 h)."""
    line = Line()
    assert line.program(rate_ml_h=20, limit_ml=50, limit_window_s=14_400, limit2_ml=50, limit2_window_s=3_600).accepted
    line.run(60_000)
    line.handle(ev("stop"))
    line.run(70 * 60_000)
    start = len(line.pieces)
    assert line.program(rate_ml_h=20, limit_ml=10, limit_window_s=14_400).accepted
    line.run(24 * 60_000)
    line.handle(ev("stop"))
    line.run(70 * 60_000)
    step = line.program(rate_ml_h=20, limit_ml=20, limit_window_s=14_400, limit2_ml=10, limit2_window_s=14_400)
    if step.accepted:
        line.run(HOUR_MS)
    assert window_max(line.pieces[start:], [], 4 * HOUR_MS) <= 10 * VU_PER_ML


@pytest.mark.req("REQ-DOS-006", "REQ-DOS-007")
def test_a_new_concentration_of_the_same_drug_counts_what_its_window_still_covers() -> None:
    """DEC-035: a new container of another concentration waits until the line's history has aged
    out. Heparin 100 U/mL (general: 1000 U per 10 min), given with a 10-minute clinician window, ages
    out of both rings 11 minutes after it stops; heparin 1000 U/mL (ICU: 1000 U per hour) then
    starts with an empty history although 1000 U went in within that hour: 1500 U of heparin in
    one hour under a 1000 U/h limit."""
    lib = Library.from_data({"drug": [
        {"drug": "heparin", "care_area": "general", "concentration": 100, "concentration_unit": "U/mL",
         "dose_unit": "U/h", "dose": {"hard_max": 10_000}, "limit_dose": 1000, "limit_window_s": 600},
        {"drug": "heparin", "care_area": "icu", "concentration": 1000, "concentration_unit": "U/mL",
         "dose_unit": "U/h", "dose": {"hard_max": 10_000}, "limit_dose": 1000, "limit_window_s": 3600}]})
    line = Line()
    units: list[tuple[int, Fraction, int]] = []

    def give(per_ml: int, minutes: int, **req: Any) -> None:
        step = line.handle(ev("program", program=build_program({"drug": "heparin", "vtbi_ml": 50, **req}, LIMITS,
                                                                lib).program))
        if step.accepted:
            line.handle(ev("confirm_soft_limit"))
            line.handle(ev("start"))
        done = len(line.pieces)
        line.run(minutes * 60_000)
        units.extend((a, b, r * per_ml) for a, b, r in line.pieces[done:])
        line.handle(ev("stop"))
        line.handle(ev("clear"))

    give(100, 10, rate_ml_h=60, limit_ml=10, limit_window_s=600)  # 1000 U in 10 min
    line.run(12 * 60_000)
    give(1000, 30, care_area="icu", rate_ml_h=6)
    assert window_max(units, [], HOUR_MS) / VU_PER_ML <= 1000


@pytest.mark.req("REQ-DRG-003")
def test_a_ramp_whose_plateau_is_over_the_dose_soft_maximum_needs_a_confirmation() -> None:
    """Red-team finding F1: a ramp programmed by rate, plateau 8 mL/h over a dose soft max of 5 mL/h
    (1 mg/mL, soft 5 mg/h), ramp-up and taper at 4 mL/h (within). It started unconfirmed: the core
    compared only the last step (the taper) and the edge only ``rate_ml_h`` with the rate bounds.
    The plateau is most of the infusion, so it must be confirmed like any other setting outside a
    soft limit (REQ-DRG-003: in every mode)."""
    lib = Library.from_data({"drug": [{"drug": "m", "concentration": 1, "concentration_unit": "mg/mL",
                                       "dose_unit": "mg/h", "dose": {"soft_max": 5, "hard_max": 10}}]})
    built = build_program({"drug": "m", "kind": "ramp", "rate_ml_h": 8, "ramp_up_s": 600, "taper_s": 600,
                           "vtbi_ml": 50}, LIMITS, lib)
    ctl = Controller(LIMITS)
    ctl.handle(ev("self_test", flag=True))
    assert ctl.handle(ev("program", program=built.program)).accepted
    start = ctl.handle(ev("start"))
    assert not start.accepted and (start.reason or "").startswith("soft_limit_unconfirmed")


# --- point 6: defaults a clinician would expect --------------------------------------------------

def _simulate(tmp: Path, body: str) -> dict[str, Any]:
    scenario, out = tmp / "s.toml", tmp / "s.json"
    scenario.write_text(body)
    code = main(["simulate", str(scenario), "--json", str(out), "-q"])
    data = json.loads(out.read_text())
    assert code == 0, data["expect"]
    return data


@pytest.mark.req("REQ-CFG-001")
def test_a_pump_configured_to_100_ml_h_runs_and_primes(tmp_path: Path) -> None:
    """The default prime rate (600 mL/h) is capped by max_rate where it is used, not refused."""
    data = _simulate(tmp_path, """name = "pump max 100 mL/h"
duration_s = 120
[pump]
max_rate_ml_h = 100
[[event]]
at_s = 1
type = "program"
rate_ml_h = 100
vtbi_ml = 50
[[event]]
at_s = 2
type = "prime"
volume_ml = 1
[[event]]
at_s = 60
type = "start"
[expect]
final_state = "RUNNING"
max_refusals = 0
""")
    assert data["final_state"] == "RUNNING" and data["invariants"]["violations"] == 0
    assert data["primed_ml"] >= 0.9 and data["delivered_ml"] > 1
    assert max(s["rate_ml_h"] for s in data["samples"]) <= 100


@pytest.mark.req("REQ-RES-001", "REQ-DEL-007")
def test_an_undeclared_container_reaches_kvo_without_a_reservoir_alarm(tmp_path: Path) -> None:
    """DEC-036: no reservoir_ml, so no computed reservoir_empty (or low) before or when the VTBI
    completes; the pump goes on at KVO."""
    data = _simulate(tmp_path, """name = "undeclared container"
duration_s = 180
[[event]]
at_s = 1
type = "program"
rate_ml_h = 60
vtbi_ml = 1
[[event]]
at_s = 2
type = "start"
[expect]
final_state = "KVO"
not_alarms = ["reservoir_empty", "reservoir_low"]
""")
    assert data["final_state"] == "KVO"
    assert not [a for a in data["alarms"] if a["alarm"].startswith("reservoir")]
    assert 0.99 <= data["delivered_ml"] <= 1.05


@pytest.mark.req("REQ-LOG-001")
def test_accounted_ml_is_a_running_total_across_program_loads(tmp_path: Path) -> None:
    """1 mL under one program, a clear, 1 mL under the next, a reprogram and 0.5 mL more: accounted_ml
    counts all 2.5 mL (it used to restart at every program load), and never goes down."""
    data = _simulate(tmp_path, """name = "three programs"
duration_s = 400
sample_interval_s = 1
[[event]]
at_s = 1
type = "program"
rate_ml_h = 60
vtbi_ml = 1
end_action = "stop"
[[event]]
at_s = 2
type = "start"
[[event]]
at_s = 100
type = "clear"
[[event]]
at_s = 101
type = "program"
rate_ml_h = 60
vtbi_ml = 1
end_action = "stop"
[[event]]
at_s = 102
type = "start"
[[event]]
at_s = 200
type = "program"
rate_ml_h = 60
vtbi_ml = 0.5
end_action = "stop"
[[event]]
at_s = 201
type = "start"
[expect]
final_state = "STOPPED"
""")
    accounted = [s["accounted_ml"] for s in data["samples"]]
    assert accounted == sorted(accounted)
    assert data["accounted_ml"] == pytest.approx(2.5, abs=1e-6)
    assert data["delivered_ml"] == pytest.approx(2.5, abs=0.05)
