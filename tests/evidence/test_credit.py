"""Evidence is credited by coverage, not by tag: recording, targets, and the judgement."""

from __future__ import annotations

from typing import Any

import pytest

from controller.core.alarms import CATALOG
from controller.core.events import ev, tick
from controller.core.machine import Controller
from controller.core.table import TABLE
from pumpctl.proofs.evidence import credit as C
from pumpctl.proofs.walk import walk
from pumpctl.specs.catalog import load
from pumpctl.specs.checker import check_step, recording
from tests.helpers import pca_program, program


def _targets() -> dict[str, C.Target]:
    return C.targets([r.id for r in load().requirements], TABLE, CATALOG, C.read_extra())


def _run(events: list[Any]) -> dict[str, Any]:
    c = Controller()
    with recording() as cov:
        for e in events:
            s0, v0 = c.state, c.vars
            check_step(s0, c.handle(e), v0)
    return cov.to_json()


def _item(cov: dict[str, Any] | None, verdict: str = "pass", method: str = "stateful") -> dict[str, Any]:
    return {"type": "test", "id": "t", "verdict": verdict, "method": method, "coverage": cov}


def test_recording_notes_states_rows_triggers_and_alarms() -> None:
    cov = _run([ev("self_test", flag=True), ev("program", program=program()), ev("start"), tick(1000),
                ev("door_open"), ev("program", program=program())])
    assert {"IDLE", "READY", "RUNNING", "ALARM"} <= set(cov["states"]) and "self_test@POST" in cov["accepted"]
    assert "door_open" in cov["alarms"] and "start@READY" in cov["accepted"]
    assert "program@ALARM" in cov["refused"] and cov["steps"] == 6
    fired = {TABLE[i].trigger for i in cov["rows"]}
    assert {"self_test", "program", "start", "tick", "door_open"} <= fired


def test_nothing_is_recorded_outside_a_recording_block() -> None:
    with recording() as cov:
        pass
    c = Controller()
    s0, v0 = c.state, c.vars
    check_step(s0, c.handle(ev("self_test", flag=True)), v0)
    assert cov.steps == 0


def test_a_run_that_never_bolused_is_refused_for_the_bolus_requirements_and_counted_once_it_does() -> None:
    t = _targets()
    basal = _run([ev("self_test", flag=True), ev("program", program=program()), ev("start")] + [tick(1000)] * 5)
    ok, why = C.judge(_item(basal), t["REQ-BOL-002"])
    assert not ok and why.startswith("refused: the run reached none of its targets")
    assert C.judge(_item(basal), t["REQ-DEL-001"])[0]  # but it did deliver: the VTBI requirement counts
    bolus = _run([ev("self_test", flag=True), ev("program", program=pca_program()), ev("start"), tick(1000),
                  ev("patient_bolus")])
    ok, why = C.judge(_item(bolus), t["REQ-BOL-002"])
    assert ok and "patient_bolus" in why


def test_failures_always_count_and_unjudged_methods_count_as_tagged() -> None:
    t = _targets()["REQ-BOL-002"]
    assert C.judge(_item(None, "fail"), t) == (True, "failed: a failure always counts")
    assert C.judge(_item(None, method="unit"), t) == (True, "tagged")
    assert C.judge(_item(None), t) == (False, "refused: no coverage was recorded for this run")


def test_requirements_below_the_core_count_by_tag_and_say_so() -> None:
    ok, why = C.judge(_item({"steps": 1}), _targets()["REQ-LOG-002"])
    assert ok and why.startswith("by tag: core coverage cannot judge it")


def test_every_implemented_requirement_asking_for_stateful_evidence_has_a_target() -> None:
    t = _targets()
    lacking = [r.id for r in load().requirements
               if r.status == "implemented" and "stateful" in r.verification and t[r.id].empty and not t[r.id].outside]
    assert lacking == [], f"give these a target in specs/coverage.toml: {lacking}"


def test_a_target_spelled_with_a_state_matches_only_that_state() -> None:
    t = C.Target(refused=frozenset({"program@RUNNING"}))
    assert not C.reached({"refused": ["program@ALARM"]}, t)
    assert C.reached({"refused": ["program@RUNNING"]}, t) == ["refused program@RUNNING"]
    assert C.reached({"refused": ["program@ALARM"]}, C.Target(refused=frozenset({"program"})))


def test_the_seeded_walk_reaches_bolus_and_kvo() -> None:
    cov = walk(20_000, 1).coverage.to_json()
    assert {"BOLUS", "KVO", "ALARM", "PAUSED"} <= set(cov["states"])
    assert len(cov["rows"]) >= len(TABLE) // 2


@pytest.mark.parametrize("bad", [{"target": [{"requirement": 3}]}, {"target": [{"requirement": "R", "states": "X"}]}])
def test_a_malformed_coverage_file_is_a_typed_error(tmp_path: Any, bad: dict[str, Any]) -> None:
    import json

    from controller.errors import ConfigurationError

    path = tmp_path / "coverage.toml"
    row = bad["target"][0]
    path.write_text("[[target]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in row.items()))
    with pytest.raises(ConfigurationError):
        C.read_extra(path)
