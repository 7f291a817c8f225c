"""Recorded mutant counterexamples (``proofs.witness``): every one still kills its mutant, and the
checker refuses what is not a counterexample of the mutated encoding and runtime."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from controller.core.table import TABLE
from controller.errors import ConfigurationError
from pumpctl.proofs import contracts
from pumpctl.proofs import witness as WI
from pumpctl.proofs.engine import Engine
from pumpctl.proofs.mutants import MUTANTS, Mutant, _breaks_contract, _breaks_safely, applied, evaluate

RECORDED = WI.load()
TABLE_MUTANTS = [m for m in MUTANTS if not m.contracts]


def _mutant(mutant_id: str) -> Mutant:
    return next(m for m in MUTANTS if m.id == mutant_id)


def test_every_project_mutant_has_a_recorded_witness() -> None:
    """That each one still kills its mutant is checked by every pumpctl verify (a mutant whose witness
    does not check is searched for and reported as such; CI fails on it: .ci/run)."""
    assert sorted(RECORDED) == sorted(m.id for m in MUTANTS), "run pumpctl mutate --record-witnesses"


@pytest.fixture(scope="module")
def real_engine() -> Engine:
    return Engine()


@pytest.mark.parametrize("mutant_id", [m.id for m in TABLE_MUTANTS])
def test_no_witness_kills_the_real_controller(real_engine: Engine, mutant_id: str) -> None:
    """On the real table and code every obligation holds: a checker that let any witness through
    here would kill mutants with traces that are not counterexamples."""
    m = _mutant(mutant_id)
    v, why = WI.check(RECORDED[mutant_id], real_engine, TABLE, None if m.prefix is None else m.prefix())
    assert v is None and why


def test_a_runtime_that_leaves_the_encoding_is_refused() -> None:
    """The mutated encoding with the real runtime: the reprogram step the runtime takes is not a step
    of the encoding (which forgets the windows), so the trace proves nothing about the proof."""
    m = _mutant("M26-history-dropped-on-reprogram")
    with applied(m) as table:
        eng = Engine(table=table)
        v, _ = WI.check(RECORDED[m.id], eng, table, None)
        assert v is not None and v.replayed  # with both mutated it kills
        v2, why2 = WI.check(RECORDED[m.id], eng, TABLE, None)
    assert v2 is None and "is not a step of the mutated encoding" in why2


def test_a_witness_that_does_not_start_at_power_on_is_refused(real_engine: Engine) -> None:
    m = _mutant("M26-history-dropped-on-reprogram")
    w = dict(RECORDED[m.id])
    with applied(m) as table:
        eng = Engine(table=table)
        too_few = {**w, "ghost_starts": w["ghost_starts"][:-1]}
        assert "ghost window starts" in WI.check(too_few, eng, table, None)[1]
        bad_pump = {**w, "scenario": re.sub(r"(?m)^max_rate = \d+$", "max_rate = 0", w["scenario"])}
        assert bad_pump != w
        v, why = WI.check(bad_pump, eng, table, None)
        assert v is None and ("power-on" in why or "max_rate" in why)
        for other in ("INV-DEL-001", "NOT-AN-OBLIGATION"):
            v, why = WI.check({**w, "obligation": other}, eng, table, None)
            assert v is None and why


def test_a_witness_cut_short_is_refused() -> None:
    m = _mutant("M15-lockout-off-by-one")
    w = RECORDED[m.id]
    head, _, _ = w["scenario"].rpartition("[[event]]")
    cut = {**w, "scenario": head + w["scenario"][w["scenario"].index("[expect]"):]}
    with applied(m) as table:
        eng = Engine(table=table)
        assert WI.check(w, eng, table, None)[0] is not None
        v, why = WI.check(cut, eng, table, None)
    assert v is None and "holds after the last step" in why


def test_a_stale_witness_makes_the_campaign_search_and_say_so() -> None:
    m = _mutant("M12-silence-too-long")
    stale = {m.id: {**RECORDED["M26-history-dropped-on-reprogram"]}}
    r = evaluate(m, witnesses=stale)
    assert r.killed and r.how == "search" and r.note and r.witness is not None
    assert evaluate(m, witnesses={m.id: r.witness}).how == "witness"  # what the search found checks


def test_an_edge_mutant_is_killed_by_its_recorded_call_and_only_on_the_mutated_code() -> None:
    m = _mutant("M32-clinician-cap-not-compiled")
    r = evaluate(m, witnesses=RECORDED)
    assert r.killed and r.how == "witness" and r.by == ["contract:bolus_bounds_from_the_library"]
    harmless = replace(m, patches=lambda: [])  # the real compile code: the recorded call breaks nothing
    with applied(harmless):
        assert not any(_breaks_contract(getattr(contracts, n), a) for n, a in RECORDED[m.id]["calls"])


def test_the_witness_file_is_checked_when_read(tmp_path: Path) -> None:
    path = tmp_path / "w.json"
    WI.save({"M01": {"obligation": "X"}}, path)
    assert WI.load(path) == {"M01": {"obligation": "X"}}
    path.write_text(json.dumps({"format": "something else", "witnesses": {}}))
    with pytest.raises(ConfigurationError, match="format"):
        WI.load(path)
    for text, field in (("{not json", "file"), (json.dumps({"format": WI.FORMAT, "witnesses": []}), "witnesses"),
                        ("[1, 2]", "format")):
        path.write_text(text)
        with pytest.raises(ConfigurationError, match=field):
            WI.load(path)
    assert WI.load(tmp_path / "absent.json") == {}


def test_malformed_witness_fields_are_refused_not_raised() -> None:
    m = _mutant("M15-lockout-off-by-one")
    w = RECORDED[m.id]
    with applied(m) as table:
        eng = Engine(table=table)
        for bad in ({**w, "ghost_starts": ["x", 0]}, {**w, "ghost_starts": "0,0"},
                    {**w, "scenario": w["scenario"].replace('type = "tick"', 'type = "nonsense"', 1)},
                    {k: v for k, v in w.items() if k != "scenario"}):
            v, why = WI.check(bad, eng, table, None)
            assert v is None and why


def test_a_recorded_call_is_read_as_literals_never_run(tmp_path: Path) -> None:
    m = _mutant("M32-clinician-cap-not-compiled")
    name = RECORDED[m.id]["calls"][0][0]
    marker = tmp_path / "ran"
    code = f"__import__('pathlib').Path({str(marker)!r}).write_text('x'), 1, False"
    assert not _breaks_safely(getattr(contracts, name), code)
    with pytest.raises(ValueError, match="not literals"):
        _breaks_contract(getattr(contracts, name), code)
    assert not marker.exists()
    with applied(m):  # the recorded literal call still breaks the mutated code
        assert _breaks_safely(getattr(contracts, name), RECORDED[m.id]["calls"][0][1])


def test_an_unreadable_witness_file_means_search_never_a_survivor(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from pumpctl.proofs.mutants import _evaluate_with_recorded

    bad = tmp_path / "w.json"
    bad.write_text("{not json")
    monkeypatch.setattr(WI, "FILE", bad)
    r = _evaluate_with_recorded("M12-silence-too-long")
    assert r.killed and r.how == "search" and "cannot be read" in r.note
