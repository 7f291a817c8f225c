"""Aggregation: one outcome per infusion, per-kind tallies, totals and the honest claim."""

from __future__ import annotations

import dataclasses
import json

import pytest

from controller.campaign.report import OUTCOMES, aggregate, claim, outcome, summary, table, to_json
from controller.campaign.runner import InfusionResult, LogCheck

H = 3_600_000


def result(index: int = 0, slot: str = "door_open", **kw: object) -> InfusionResult:
    faults = () if slot == "none" else ((slot, "opened", 600_000),)
    base = InfusionResult(index=index, seed=index, slot=slot, program="continuous", route="intravenous",
                          mechanism="syringe", rate_ml_h=25.0, vtbi_ml=100.0, faults=faults, planned_ms=H,
                          simulated_ms=H, final_state="RUNNING", steps=1_800, checked_steps=20,
                          state_ms=(("RUNNING", H - 10_000),))
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("kw", "expected"), [
    ({"error": "ValueError: boom"}, "error"),
    ({"final_state": "FAILED", "failsafe_ms": 5}, "post_failed"),
    ({"failsafe_ms": 700_000, "final_state": "RUNNING"}, "failsafe"),
    ({"final_state": "OFF", "restored": 1}, "off"),
    ({"restored": 1, "alarms": (("door_open", 700_000),)}, "restored"),
    ({"alarms": (("door_open", 700_000),)}, "alarm"),
    ({"alarms": (("door_open", 500_000),)}, "no_effect"),  # raised before the fault: not the fault's
    ({"alarms": (("vtbi_complete", 700_000), ("near_end", 800_000))}, "no_effect"),  # routine
    ({"refusals_after": (("resume", "stop_alarm_condition", "PAUSED", 1),)}, "refused"),
    ({"refusals_after": (("resume", "not_allowed_in_state", "RUNNING", 3),)}, "no_effect"),  # nothing to resume
    ({"refusals_after": (("patient_bolus", "lockout", "PAUSED", 2),)}, "no_effect"),  # routine PCA refusal
    ({}, "no_effect"),
])
def test_outcome_is_the_first_that_applies(kw: dict[str, object], expected: str) -> None:
    assert expected in OUTCOMES
    assert outcome(result(**kw)) == expected  # type: ignore[arg-type]


def test_aggregate_counts_per_kind_variant_and_totals() -> None:  # report arithmetic: no requirement's evidence
    rs = [
        result(0, "none"),
        result(1, "door_open", alarms=(("door_open", 601_000),), final_state="ALARM"),
        result(2, "door_open", simulated_ms=H // 2, stopped_early=True),
        result(3, "motor_runaway", faults=(("motor_runaway", ">100 mL/h", 1000),), failsafe_ms=3_000,
               final_state="FAILSAFE", alarms=(("motor_fault", 3_000),), stop_flow_max_ul=12.5,
               log=LogCheck(records=30, sessions=1, steps=1_800, accounted=1_800, intact=True)),
        result(4, "compound", faults=(("door_open", "opened", 10), ("comm_refuse", "timeout", 20)),
               failsafe_ms=30, final_state="RUNNING", link_refused=2),
    ]
    rep = aggregate(reversed(rs), seed=9, target_h=4.0, settings={"control_period_ms": 2000})
    kinds = {r.kind: r for r in rep.kinds}
    door = kinds["door_open"]
    assert (door.infusions, door.injected, door.count("alarm"), door.count("no_effect")) == (2, 3, 1, 1)
    assert dict(door.alarms) == {"door_open": 1} and dict(door.final_states) == {"ALARM": 1, "RUNNING": 1}
    assert door.simulated_h == 1.5
    assert kinds["comm_refuse"].infusions == 0 and kinds["comm_refuse"].injected == 1
    comp = kinds["compound"]
    assert comp.count("failsafe") == 1 and comp.failsafe_recovered == 1
    assert kinds["motor_runaway"].failsafe == 1 and kinds["motor_runaway"].failsafe_recovered == 0
    assert {(v.kind, v.variant) for v in rep.variants} == {("door_open", "opened"), ("motor_runaway", ">100 mL/h")}
    t = rep.totals
    assert (t.infusions, t.simulated_h, t.stopped_early, t.steps, t.checked_steps) == (5, 4.5, 1, 9_000, 100)
    assert t.ok and t.logs == t.logs_intact == 1 and t.log_steps == t.log_steps_accounted == 1_800
    assert t.stop_flow_max_ul == 12.5 and t.link_refused == 2
    assert dict(t.state_h)["OFF"] == pytest.approx(4.5 - 5 * (H - 10_000) / H, abs=1e-3)
    assert rep.violations == ()


def test_any_violation_error_or_bad_log_fails_the_campaign_and_is_named() -> None:
    bad_log = LogCheck(records=5, sessions=1, steps=10, accounted=9, intact=True)
    for kw in ({"invariant_violations": 1, "invariant_examples": ("t=1 ms tick in RUNNING: INV-X",)},
               {"physical_violations": 2}, {"error": "RuntimeError: x"}, {"log": bad_log}):
        rep = aggregate([result(0), result(7, **kw)], 1, 1.0, {"control_period_ms": 2000})
        assert not rep.totals.ok
        assert [v["index"] for v in rep.violations] == [7]
        assert "FAILURES FOUND" in claim(rep)


def test_overruns_within_the_lead_screw_error_are_told_apart() -> None:
    screw = result(1, physical_violations=2, therapy_overruns=2, therapy_over_ul=0.5, screw_pp_ul=1.77)
    beyond = result(2, physical_violations=1, therapy_overruns=1, therapy_over_ul=2.5, screw_pp_ul=1.77)
    stop_flow = result(3, physical_violations=2, therapy_overruns=1, therapy_over_ul=0.1, screw_pp_ul=1.77)
    t = aggregate([result(0), screw], 1, 2.0, {"control_period_ms": 2000}).totals
    assert not t.ok and t.ok_but_screw_term and (t.physical_infusions, t.screw_explained) == (1, 1)
    assert t.therapy_over_max_ul == 0.5
    for bad in (beyond, stop_flow):
        t = aggregate([screw, bad], 1, 2.0, {"control_period_ms": 2000}).totals
        assert not t.ok_but_screw_term and (t.physical_infusions, t.screw_explained) == (2, 1)
    rep = aggregate([result(0), screw], 1, 2.0, {"control_period_ms": 2000})
    assert "within the syringe lead-screw error" in claim(rep)


def test_text_and_json_outputs_say_what_was_checked() -> None:
    rep = aggregate([result(i, s) for i, s in enumerate(("none", "door_open", "clock_jump"))], 3, 2.0,
                    {"control_period_ms": 2000})
    text = table(rep) + "\n" + summary(rep)
    assert "door_open" in text and "by variant" in text
    assert "simulated hours" in text and "not a proof" in text and "of 5400 steps" in text
    data = to_json(rep)
    json.dumps(data, allow_nan=False)
    assert data["totals"]["ok"] is True and data["totals"]["checked_fraction"] == round(60 / 5400, 6)
    assert [k["kind"] for k in data["kinds"]][:2] == ["none", "sensor_stuck"]
