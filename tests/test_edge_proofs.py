"""The compiled library bounds are proved to round toward less drug (proofs/edge.py), on the real
compile code, and the proofs fail with a replayed counterexample when that code is broken."""

from __future__ import annotations

import math
from fractions import Fraction
from types import SimpleNamespace

import pytest
import z3
from hypothesis import given
from hypothesis import strategies as st

from controller.clinical import dosebounds, doses
from controller.clinical.dosebounds import Patient, entry_bounds
from controller.clinical.drugs import parse_entry
from pumpctl.proofs import edge


@pytest.mark.slow  # pumpctl verify proves the edge obligations itself; this keeps them in the plain test run
@pytest.mark.req("REQ-DRG-004", "REQ-DRG-005", "REQ-DRG-003", "REQ-DRG-006", "REQ-DOS-007")
def test_every_edge_obligation_is_proved_on_the_real_compile() -> None:
    got = {v.id: (v.verdict, v.detail) for v in edge.verdicts()}
    assert set(got) == set(edge.IDS) and len(edge.IDS) == 6
    assert all(verdict == "proved" for verdict, _ in got.values()), got
    assert all("valid for every value" in detail for _, detail in got.values())


@pytest.mark.req("REQ-DRG-004", "REQ-DRG-005", "REQ-DRG-003", "REQ-DRG-006", "REQ-DOS-007")
@pytest.mark.parametrize("mutant", edge.EDGE_MUTANTS, ids=[m.id for m in edge.EDGE_MUTANTS])
def test_each_rounding_mutant_is_refuted_with_a_replayed_counterexample(mutant: edge.EdgeMutant) -> None:
    verdicts = edge.refute(mutant)
    assert [v.id for v in verdicts] == list(mutant.kills)
    for v in verdicts:
        assert v.verdict == "counterexample", (mutant.id, v.id, v.detail)
        assert v.replayed is True, (mutant.id, v.id, v.detail)  # the same numbers break the run-time compile
    assert dosebounds.floor_to is not edge._ceil_as_floor  # the patch is undone


def test_every_obligation_is_refuted_by_some_mutant() -> None:
    assert {ob for m in edge.EDGE_MUTANTS for ob in m.kills} == set(edge.IDS)


def test_the_spec_covers_every_amount_unit() -> None:
    assert set(edge.SIZE) == set(doses.AMOUNTS) == set(edge.DIMENSION)
    dims = {u: d for u, (d, _) in doses.AMOUNTS.items()}
    assert {u: edge.DIMENSION[u] for u in dims if dims[u] in ("mass", "units")} == {
        u: d for u, d in dims.items() if d in ("mass", "units")}
    rate_units = {f.text for f in edge.RATE_FAMILIES}
    assert {"mg/h", "mcg/kg/min", "ng/kg/min", "U/kg/h", "mU/m2/min", "mL/h"} <= rate_units
    assert {"mg", "mcg/kg", "U/m2"} <= {f.text for f in edge.AMOUNT_FAMILIES}  # per dose (limit_dose)


def test_a_unit_without_a_statement_is_unknown_not_proved(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doses, "AMOUNTS", dict(doses.AMOUNTS, mg2=("mass", Fraction(2, 1000))))
    v = edge.prove(edge.OBLIGATIONS[3])
    assert v.verdict == "unknown" and "mg2" in v.detail


def test_a_compile_that_fails_on_symbolic_input_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*candidates: object) -> int:
        raise TypeError("not dual-use")

    monkeypatch.setattr(dosebounds, "_vol_max", broken)
    v = edge.prove(edge.OBLIGATIONS[3])
    assert v.verdict == "unknown" and "not dual-use" in v.detail


@given(st.fractions(min_value=-10**6, max_value=10**6, max_denominator=10**12))
def test_the_symbolic_floor_is_the_run_time_floor(x: Fraction) -> None:
    """floor_to/ceil_to read by Z3 (ToInt) and run on Fractions (math.floor) are the same function."""
    sym = z3.simplify(dosebounds.floor_to(z3.RealVal(str(x)), 1))  # type: ignore[arg-type]
    assert sym.as_long() == dosebounds.floor_to(x, 1) == math.floor(x)  # type: ignore[attr-defined]
    up = z3.simplify(dosebounds.ceil_to(z3.RealVal(str(x)), 1))  # type: ignore[arg-type]
    assert up.as_long() == dosebounds.ceil_to(x, 1) == math.ceil(x)  # type: ignore[attr-defined]


def test_a_counterexample_replays_on_concrete_fractions() -> None:
    """The replay path runs the run-time compile: a heparin-like entry and a rate one above its bound."""
    entry = parse_entry({"drug": "h", "concentration": 100, "concentration_unit": "U/mL", "dose_unit": "U/kg/h",
                         "dose": {"hard_max": 40}})
    b = entry_bounds(entry, Patient(Fraction(70)))
    assert b.dose_rate_max == 28_000  # 40 U/kg/h x 70 kg / 100 U/mL = 28 mL/h exactly
    fam = edge.Family("U", "U", "kg", "h")
    case = next(c for c in edge.rate_max_cases() if c.label.startswith(str(fam)) and "rate hard max absent" in c.label
                and "dose hard max given" in c.label)
    inputs = {"concentration": Fraction(100), "dose.hard_max": Fraction(40), "weight_kg": Fraction(70)}
    assert not edge._replay(case, case.goals[0], inputs, 28_001, safety=False)  # 28.001 mL/h is over the limit
    assert not edge._replay(case, case.goals[0], inputs, 28_000, safety=True)  # and 28 mL/h is within it



def test_edge_verdicts_are_evidence_labelled_as_validities_not_table_proofs() -> None:
    from pumpctl.proofs.engine import Verdict
    from pumpctl.proofs.evidence import collect
    from pumpctl.proofs.evidence.scope import label

    run = SimpleNamespace(verdicts=[
        Verdict("EDGE-RND-001", ("REQ-DRG-004",), "t", True, "proved", None, 0.1, "valid for every value"),
        Verdict("INV-X", ("REQ-DEL-002",), "t", True, "proved", 1, 0.1, "inductive")])
    items: list[dict[str, object]] = []
    collect._proof_items(run, items)
    edge_item, table_item = items
    assert edge_item["id"] == "EDGE-RND-001" and edge_item["reqs"] == ["REQ-DRG-004"]
    assert "every value" in str(edge_item["claim"]) and "reachable" not in str(edge_item["claim"])
    assert label(edge_item, {}, {}) == ("proved", "Z3 validity over every value of its inputs, on the code the "
                                                  "runtime runs")
    assert "k-induction (k=1)" in str(table_item["scope_detail"])


def test_pumpctl_prove_runs_the_edge_obligations() -> None:
    """proofs.prove.run reports the edge obligations beside the table's (an engine with no table
    obligations stands in for the encoding, which this test does not need)."""
    from pumpctl.proofs.prove import run

    class NoTable:
        invs: tuple[object, ...] = ()
        timeout_ms = 30_000

        def bmc(self, depth: int, only: object = None) -> dict[str, object]:
            return {}

        def houdini(self, jobs: int) -> tuple[list[object], dict[str, str], float]:
            return [], {}, 0.0

    result = run(engine=NoTable(), only=["EDGE-RND-004"], wellformed=False)  # type: ignore[arg-type]
    assert [(v.id, v.verdict) for v in result.verdicts] == [("EDGE-RND-004", "proved")]
    assert any("edge" in k for k in result.timings)
