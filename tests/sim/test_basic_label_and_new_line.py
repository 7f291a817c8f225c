"""Issue 10 point 3 and DEC-035 in the simulator's outputs: every accepted program is labelled a
library drug or a *basic infusion* (with the care area whose limits it runs under) in the JSON
(``programs[].basic_infusion``) and the text report; and a clinician's ``new_line`` is a scenario
event that ends the line's dose history, is reported, and is written to the event log."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from controller.cli import main
from controller.log.eventlog import EventLog
from tests.store.helpers import EXAMPLE, HMAC_KEY_FILE

LIBRARY = """
[[drug]]
drug = "morphine"
concentration = 1
concentration_unit = "mg/mL"
dose_unit = "mg/h"
dose = { hard_max = 10 }
limit_ml = 5
limit_window_s = 3600

[[drug]]
drug = "heparin"
concentration = 100
concentration_unit = "U/mL"
dose_unit = "U/h"
dose = { hard_max = 2000 }

[[care_area]]
name = "general"
basic = true
rate_ml_h = { hard_max = 200 }
vtbi_ml = { hard_max = 500 }
"""


def _event(at: float, kind: str, **fields: Any) -> str:
    body = "".join(f"{k} = {json.dumps(v)}\n" for k, v in fields.items())
    return f'[[event]]\nat_s = {at}\ntype = "{kind}"\n{body}'


def _simulate(tmp: Path, events: list[str], head: str = "", *extra: str) -> tuple[int, dict[str, Any], str]:
    scenario, out = tmp / "s.toml", tmp / "s.json"
    scenario.write_text(f'name = "labels"\nduration_s = 90\ncontrol_period_ms = 500\n{head}\n' + "\n".join(events))
    code = main(["simulate", str(scenario), "--json", str(out), *extra])
    return code, json.loads(out.read_text()), scenario.read_text()


@pytest.mark.req("REQ-DRG-006")
def test_every_program_is_labelled_drug_or_basic_infusion(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "lib.toml").write_text(LIBRARY)
    code, data, _ = _simulate(tmp_path, [
        _event(1, "program", rate_ml_h=20, vtbi_ml=5), _event(2, "start"), _event(60, "stop"), _event(60, "clear"),
        _event(60, "new_line"), _event(61, "program", drug="morphine", rate_ml_h=2, vtbi_ml=5),
    ], 'library = "lib.toml"')
    assert code == 0
    assert [{k: p[k] for k in ("basic_infusion", "care_area", "drug")} for p in data["programs"]] == [
        {"basic_infusion": True, "care_area": "general", "drug": None},
        {"basic_infusion": False, "care_area": None, "drug": "morphine"}]
    assert data["programs"][0]["entry_code"] == 0 and data["programs"][1]["entry_code"] > 0
    assert [p["at_s"] for p in data["programs"]] == [1, 61]
    out = capsys.readouterr().out
    assert "program: BASIC INFUSION, no drug selected (care area general's limits)" in out
    assert "program: morphine (library entry" in out


@pytest.mark.req("REQ-DRG-006")
def test_a_basic_infusion_without_a_library_is_labelled_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, data, _ = _simulate(tmp_path, [_event(1, "program", rate_ml_h=20, vtbi_ml=5), _event(2, "start")])
    assert code == 0 and data["programs"] == [
        {"at_s": 1, "basic_infusion": True, "care_area": None, "drug": None, "entry_code": 0}]
    assert "BASIC INFUSION, no drug selected (no library: pump limits only)" in capsys.readouterr().out


@pytest.mark.req("REQ-DRG-006", "REQ-SEC-001")
def test_programs_checked_by_the_library_gate_are_labelled_too(tmp_path: Path) -> None:
    shutil.copyfile(EXAMPLE, tmp_path / "lib.toml")
    shutil.copyfile(HMAC_KEY_FILE, tmp_path / "lib.key")
    code, data, _ = _simulate(tmp_path, [
        _event(1, "program", rate_ml_h=20, vtbi_ml=5), _event(2, "start"), _event(60, "stop"), _event(60, "clear"),
        _event(60, "new_line"), _event(61, "program", drug="morphine", rate_ml_h=2, vtbi_ml=5),
    ], 'library = "lib.toml"\nlibrary_key = "lib.key"\nlibrary_today = 2027-01-15')
    assert code == 0, data["refusals"]
    assert [(p["basic_infusion"], p["care_area"], p["drug"]) for p in data["programs"]] == [
        (True, "general", None), (False, None, "morphine")]


@pytest.mark.req("REQ-DOS-006")
def test_new_line_ends_the_dose_history_and_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Morphine for a minute, then heparin on the same line: refused (window_history) until the
    clinician declares a new line; then accepted. The new line is in the JSON and the report."""
    (tmp_path / "lib.toml").write_text(LIBRARY)
    events = [_event(1, "program", drug="morphine", rate_ml_h=2, vtbi_ml=5), _event(2, "start"),
              _event(60, "stop"), _event(61, "clear"),
              _event(62, "program", drug="heparin", rate_ml_h=2, vtbi_ml=5),
              _event(63, "new_line"),
              _event(64, "program", drug="heparin", rate_ml_h=2, vtbi_ml=5), _event(65, "start")]
    expect = '[expect]\nfinal_state = "RUNNING"\nrefusals = ["window_history"]\nmax_refusals = 1\n'
    code, data, _ = _simulate(tmp_path, [*events, expect], 'library = "lib.toml"')
    assert code == 0, data["expect"]
    assert data["new_lines"] == [{"at_s": 63}]
    assert [r["event"] for r in data["refusals"]] == ["program"]
    assert [p["drug"] for p in data["programs"]] == ["morphine", "heparin"]
    assert "63.0 s  new patient line: the dose history of the old one ends" in capsys.readouterr().out


@pytest.mark.req("REQ-DOS-006", "REQ-ROL-001")
def test_new_line_is_a_clinicians_event_in_idle_only(tmp_path: Path) -> None:
    events = [_event(1, "new_line", actor="patient"), _event(2, "program", rate_ml_h=20, vtbi_ml=5),
              _event(3, "start"), _event(4, "new_line"), _event(5, "stop"), _event(6, "clear"),
              _event(7, "new_line")]
    code, data, _ = _simulate(tmp_path, events)
    assert code == 0
    assert [(r["at_s"], r["event"], r["reason"].split(":")[0]) for r in data["refusals"]] == [
        (1, "new_line", "actor_not_permitted"), (4, "new_line", "not_allowed_in_state")]
    assert data["new_lines"] == [{"at_s": 7}]


@pytest.mark.req("REQ-DOS-006", "REQ-LOG-001")
def test_new_line_is_written_to_the_event_log(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    events = [_event(1, "program", rate_ml_h=20, vtbi_ml=5), _event(2, "clear"), _event(3, "new_line"),
              _event(4, "new_line", actor="patient")]
    code, _, _ = _simulate(tmp_path, events, "", "--log", str(db))
    assert code == 0
    log = EventLog(db)
    try:
        records = [(r.kind, r.payload) for r in log.records() if r.kind.startswith("event_")]
    finally:
        log.close()
    lines = [(kind, p["event"]["actor"], p["source"], p["state"], p.get("reason", "")[:19])
             for kind, p in records if p["event"]["kind"] == "new_line"]
    assert lines == [("event_accepted", "clinician", "IDLE", "IDLE", ""),
                     ("event_refused", "patient", "IDLE", "IDLE", "actor_not_permitted")]
