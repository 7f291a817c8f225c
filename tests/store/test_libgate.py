"""The library gate: a bad library or an unknown drug keeps the pump stopped, alarms and is logged."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from controller import Controller, ev
from controller.core.commands import Annunciate, ClearAlarm, RaiseAlarm
from controller.core.limits import Limits
from controller.library.gate import LIBRARY_ALARM, LibraryGate
from controller.log.eventlog import EventLog
from tests.store.helpers import EXAMPLE, TODAY, copy_example, example_key, raw

MORPHINE = {"drug": "morphine", "dose": 1, "dose_unit": "mg/h", "vtbi_ml": 20, "bolus_ml": 1, "bolus_rate_ml_h": 6,
            "lockout_s": 600}


@pytest.fixture
def log(tmp_path: Path) -> EventLog:
    return EventLog(tmp_path / "log.db")


def _gate(log: EventLog | None, today: date = TODAY) -> LibraryGate:
    return LibraryGate(example_key(), log, today=lambda: today)


@pytest.mark.req("REQ-SEC-001", "REQ-SEC-002")
def test_good_library_then_program_reaches_the_core(log: EventLog) -> None:
    gate = _gate(log)
    assert gate.display == "NO DRUG LIBRARY IN USE"
    loaded = gate.load(EXAMPLE, 1)
    assert loaded.ok and loaded.commands == () and gate.current is not None
    assert gate.display.startswith("Drug library: Example general ward and ICU v2026.11-1")
    result = gate.program(MORPHINE, Limits(), 2)
    assert result.ok and result.event is not None and result.event.kind == "program"
    ctl = Controller(Limits())
    ctl.handle(ev("self_test", flag=True))
    assert ctl.handle(result.event).accepted  # what the gate builds, the core accepts
    checked = log.records("program_checked")[-1].payload
    assert checked["identity"] == gate.current.info.identity  # REQ-SEC-002: library and entry recorded
    assert checked["entry"]["drug"] == "morphine" and checked["request"]["dose"] == 1
    assert log.records("library_loaded")[-1].payload["digest"] == gate.current.info.digest


@pytest.mark.req("REQ-SEC-001")
def test_a_refused_load_keeps_the_library_in_use_and_alarms_once(log: EventLog, tmp_path: Path) -> None:
    gate = _gate(log)
    gate.load(EXAMPLE, 1)
    before = gate.current
    bad = copy_example(tmp_path)
    bad.write_text(bad.read_text().replace("hard_max = 4 }", "hard_max = 400 }"))
    r1 = gate.load(bad, 2)
    assert not r1.ok and r1.code == "corrupt" and r1.event is None and gate.current is before
    assert r1.alarm is not None and r1.alarm.priority == "medium"
    assert r1.commands == (RaiseAlarm(LIBRARY_ALARM, "medium"), Annunciate(LIBRARY_ALARM, "medium", True))
    r2 = gate.load(tmp_path / "missing.toml", 3)
    assert not r2.ok and not any(isinstance(c, RaiseAlarm) for c in r2.commands)  # already raised
    rejected = log.records("library_rejected")
    assert [r.payload["code"] for r in rejected] == ["corrupt", "corrupt"]
    assert "integrity.digest" == rejected[0].payload["field"]
    ok = gate.load(EXAMPLE, 4)
    assert ok.ok and ok.commands == (ClearAlarm(LIBRARY_ALARM),) and not gate.alarm_active


@pytest.mark.req("REQ-SEC-001")
def test_unsigned_library_with_a_key_configured_is_refused(log: EventLog, tmp_path: Path) -> None:
    from controller.library.sign import sign_file

    lib = copy_example(tmp_path)
    sign_file(lib, None)
    r = _gate(log).load(lib, 1)
    assert not r.ok and r.code == "unsigned" and r.alarm is not None


@pytest.mark.req("REQ-SEC-001")
@pytest.mark.parametrize(("request_", "code", "alarm"), [
    ({**MORPHINE, "drug": "morfine"}, "unknown_drug", True),
    ({**MORPHINE, "dose": 5}, "program", False),  # above the hard limit: refused, shown, no alarm
    ({**MORPHINE, "route": "epidural"}, "program", False),
    ({**MORPHINE, "route": []}, "program", False),  # a bad route is a typed refusal (was a parser bug)
])
def test_refused_programs_never_reach_the_core(log: EventLog, request_: dict[str, object], code: str,
                                               alarm: bool) -> None:
    gate = _gate(log)
    gate.load(EXAMPLE, 1)
    r = gate.program(request_, Limits(), 2)
    assert not r.ok and r.event is None and r.code == code and (r.alarm is not None) == alarm, r
    assert log.records("program_refused")[-1].payload["code"] == code


@pytest.mark.req("REQ-SEC-001")
def test_no_library_or_a_stale_one_keeps_the_pump_stopped(log: EventLog) -> None:
    assert _gate(log).program(MORPHINE, Limits(), 1).code == "no_library"
    day = [TODAY]
    gate = LibraryGate(example_key(), log, today=lambda: day[0])
    assert gate.load(EXAMPLE, 2).ok
    day[0] = date(2027, 11, 1)  # the library went stale while loaded
    r = gate.program(MORPHINE, Limits(), 3)
    assert not r.ok and r.code == "expired" and r.event is None and r.alarm is not None


def test_basic_infusion_when_allowed(log: EventLog) -> None:
    gate = LibraryGate(None, log, allow_basic=True, today=lambda: TODAY)
    r = gate.program({"rate_ml_h": 10, "vtbi_ml": 10}, Limits(), 1)
    assert r.ok and r.event is not None
    assert log.records("program_checked")[-1].payload["identity"] is None


@pytest.mark.req("REQ-SEC-001", "REQ-LOG-004")
def test_a_log_failure_never_changes_the_decision(log: EventLog, tmp_path: Path) -> None:
    con = raw(tmp_path / "log.db")
    con.execute("CREATE TRIGGER boom BEFORE INSERT ON record BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    con.close()
    gate = _gate(log)
    loaded = gate.load(EXAMPLE, 1)
    assert loaded.ok and loaded.log_error is not None and "disk full" in loaded.log_error
    refused = gate.program({**MORPHINE, "drug": "nope"}, Limits(), 2)
    assert not refused.ok and refused.log_error is not None


def test_soft_limits_are_passed_on_for_confirmation(log: EventLog) -> None:
    gate = _gate(log)
    gate.load(EXAMPLE, 1)
    r = gate.program({**MORPHINE, "dose": 3}, Limits(), 2)
    assert r.ok and r.built is not None and r.built.needs_confirmation
    assert log.records("program_checked")[-1].payload["soft_limits"]


@pytest.mark.req("REQ-SEC-001")
def test_an_internal_error_while_checking_fails_closed(log: EventLog, monkeypatch: pytest.MonkeyPatch) -> None:
    import controller.library.gate as G

    def broken(*args: object, **kw: object) -> object:
        raise RuntimeError("simulated parser bug")

    gate = _gate(log)
    gate.load(EXAMPLE, 1)
    monkeypatch.setattr(G, "build_program", broken)
    r = gate.program(MORPHINE, Limits(), 2)
    assert not r.ok and r.event is None and r.code == "internal" and r.alarm is not None, r


@pytest.mark.req("REQ-DRG-006")
def test_basic_infusion_follows_the_care_area_and_is_labelled(log: EventLog) -> None:
    """Basic infusion (no drug) is the care area's recorded choice, under its own limits (issue 10)."""
    general = LibraryGate(example_key(), log, today=lambda: TODAY)
    general.load(EXAMPLE, 1)
    ok = general.program({"rate_ml_h": 100, "vtbi_ml": 500}, Limits(), 2)
    assert ok.ok and ok.built is not None and ok.built.basic and ok.built.care_area == "general"
    assert ok.built.program.drug == 0 and ok.built.program.lib.rate_max == 500_000  # the care area's 500 mL/h
    over = general.program({"rate_ml_h": 600, "vtbi_ml": 500}, Limits(), 3)
    assert not over.ok and over.event is None and "500 mL/h" in over.message
    too_much = general.program({"rate_ml_h": 100, "vtbi_ml": 1500}, Limits(), 4)
    assert not too_much.ok and "vtbi" in too_much.message
    icu = LibraryGate(example_key(), log, today=lambda: TODAY, care_area="icu")
    icu.load(EXAMPLE, 5)
    refused = icu.program({"rate_ml_h": 10, "vtbi_ml": 10}, Limits(), 6)
    assert not refused.ok and refused.event is None and refused.code == "unknown_drug" and refused.alarm is not None
    assert "does not allow a basic infusion" in refused.message
    checked = [r for r in log.records() if r.kind == "program_checked"]
    assert checked and checked[-1].payload["basic"] is True and checked[-1].payload["care_area"] == "general"


@pytest.mark.req("REQ-SEC-001")
def test_an_unauthenticated_library_needs_the_logged_development_flag(log: EventLog) -> None:
    """Issue 10 defect 6: with no key configured a library used to load whenever its digest matched."""
    strict = LibraryGate(None, log, today=lambda: TODAY)
    r = strict.load(EXAMPLE, 1)
    assert not r.ok and r.code == "unsigned" and strict.current is None and "NO DRUG LIBRARY" in strict.display
    dev = LibraryGate(None, log, today=lambda: TODAY, allow_unsigned=True)
    assert dev.load(EXAMPLE, 2).ok and "UNAUTHENTICATED" in dev.display
    loaded = [r for r in log.records() if r.kind == "library_loaded"][-1]
    assert loaded.payload["authenticated"] is False and loaded.payload["development_flag"] == "allow_unsigned"
