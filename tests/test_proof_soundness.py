"""The proof engine's verdicts cannot be fooled: each way an audit fooled it, injected on purpose.

- a solver that answers ``unknown`` (base case, bounded checks, inductive step) never yields
  ``proved`` and the run fails;
- an unsatisfiable assumption (``False``) in the step solver is a vacuous step: an error, not a proof;
- ``--only`` still runs the well-formedness checks: an impossible domain fails the run;
- the symbolic event kind compares with ``==`` and ``!=`` and refuses everything else;
- REC-001 can end as a counterexample (a restore that forgets window volume);
- a mutant is killed only by a counterexample that replays on the mutated runtime.
"""

from __future__ import annotations

import pytest
import z3

from controller.core.logic import any_of
from pumpctl.proofs import encode as E
from pumpctl.proofs.engine import Engine, VacuousStep
from pumpctl.proofs.prove import run
from pumpctl.specs.invariants import StepInv

ONE = ["INV-DEL-004"]


@pytest.mark.req("REQ-CFG-001")
def test_an_unknown_from_the_solver_is_never_proved(monkeypatch: pytest.MonkeyPatch) -> None:
    real_check = z3.Solver.check

    def unknown(self: z3.Solver, *a: object) -> z3.CheckSatResult:
        r = real_check(self, *a)
        return z3.unknown if r == z3.unsat else r  # every "no counterexample" becomes "don't know"

    monkeypatch.setattr(z3.Solver, "check", unknown)
    # one obligation that is inductive on its own: the same paths (base case, step, bounded search,
    # k-induction), without minutes of every obligation answered twice
    from pumpctl.proofs.engine import obligations

    eng = Engine(invs=[inv for inv in obligations() if inv.id in ONE])
    r = run(only=ONE, wellformed=False, engine=eng)
    assert r.verdicts and all(v.verdict == "unknown" for v in r.verdicts), [(v.id, v.verdict) for v in r.verdicts]
    assert not r.ok


def test_a_false_assumption_makes_the_step_vacuous_not_proved() -> None:
    eng = Engine(extra_assumptions=[z3.BoolVal(False)])
    with pytest.raises(VacuousStep):
        eng.inductive_step()
    r = run(only=ONE, wellformed=False, engine=eng)
    assert r.verdicts and all(v.verdict == "unknown" and "vacuous" in v.detail for v in r.verdicts)
    assert not r.ok


def test_only_still_checks_well_formedness(monkeypatch: pytest.MonkeyPatch) -> None:
    """An impossible domain (no state code is a state) must fail ``--only`` runs too."""
    monkeypatch.setattr(E, "domain", lambda f: z3.BoolVal(False))
    r = run(only=ONE)
    assert not r.ok
    assert r.wellformed is None or r.wellformed.unsat_rows or r.wellformed.unreachable


def test_the_symbolic_event_kind_refuses_python_fallbacks() -> None:
    e = E.new_event(0).e
    assert isinstance(e.kind != "tick", z3.BoolRef) and isinstance(e.kind == "tick", z3.BoolRef)
    for misuse in (lambda: e.kind in ("tick", "start"), lambda: bool(e.kind), lambda: e.kind < "tick",
                   lambda: e.kind == "no_such_kind", lambda: "tick" in e.kind):  # type: ignore[operator]
        with pytest.raises(TypeError):
            misuse()


def test_a_false_obligation_written_with_not_equal_is_refuted() -> None:
    """``e.kind != "tick"`` used to become plain Python True, so this false claim was 'proved'."""
    bogus = StepInv("BOGUS-NE", (), "time never passes on a clinician's event (false: ticks advance the clock)",
                    lambda s0, v0, e, s1, v1: any_of(v1.flow.clock == v0.flow.clock, e.kind != "tick"))
    eng = Engine(invs=[bogus])
    found = eng.bmc(2, only=["BOGUS-NE"])
    assert found["BOGUS-NE"].verdict == "counterexample" and found["BOGUS-NE"].replayed


@pytest.mark.slow
def test_rec_001_can_end_as_a_counterexample() -> None:
    from pumpctl.proofs.mutants import MUTANTS, evaluate

    r = evaluate(next(m for m in MUTANTS if m.id == "M27-restore-forgets-windows"))
    assert r.killed and r.replayed and ("REC-001" in r.by or "TL-AUX" in r.by), r


@pytest.mark.req("REQ-THR-002")
def test_a_search_from_a_concrete_prefix_replays_from_power_on() -> None:
    """A deep fault (M38: the next intermittent dose one tick late, 63 events from power-on) is
    searched from the end of a concrete runtime prefix; the counterexample is the whole run from
    power-on and replays there; the unmutated code has none from the same state; and a prefix the
    runtime refuses is an error, never a starting point."""
    from controller.core.events import Event
    from controller.core.limits import Limits
    from pumpctl.proofs.engine import run_prefix
    from pumpctl.proofs.mutants import MUTANTS, applied

    m = next(x for x in MUTANTS if x.id == "M38-intermittent-restart-late")
    assert m.prefix is not None
    with applied(m) as table:
        pre = run_prefix(*m.prefix(), table=table)
        found = Engine(table=table).bmc(2, only=["INV-UND-001"], first=True, prefix=pre)
    v = found["INV-UND-001"]
    assert v.verdict == "counterexample" and v.replayed
    assert v.trace[0].state == "POST" and v.trace[0].event is None and len(v.trace) > len(pre)
    assert Engine().bmc(2, only=["INV-UND-001"], prefix=run_prefix(*m.prefix())) == {}
    with pytest.raises(ValueError, match="refused"):
        run_prefix(Limits(), [Event("start")])


def test_the_inductive_step_split_over_processes_gives_the_same_verdicts() -> None:
    """``jobs=2`` (``pumpctl prove``'s default) re-encodes the table in two fresh processes and
    checks half the row cases in each; the verdicts and first failing rows must be those of one
    process, including a failing obligation (a goal that is not inductive on its own)."""
    eng = Engine()
    by_id = {inv.id: inv for inv in eng.invs}
    assumed = [by_id[i] for i in ("AUX-FLOW", "INV-DEL-001")]  # too weak: AUX-FLOW needs AUX-CFG
    one = eng.inductive_step(assumed, jobs=1)
    two = eng.inductive_step(assumed, jobs=2)
    assert {k: v[:2] for k, v in one.items()} == {k: v[:2] for k, v in two.items()}
    assert not one["AUX-FLOW"][0] and one["INV-DEL-001"][0]


def test_the_split_step_is_refused_for_code_this_process_changed() -> None:
    """A mutant or an injected fault lives in this process only: fresh processes would not see it."""
    eng = Engine(extra_assumptions=[z3.BoolVal(True)])
    assert not eng._parallel_ok(eng.invs, eng.invs)
    inv = StepInv("X-1", (), "a private obligation", lambda s0, v0, e, s1, v1: True)
    assert not Engine()._parallel_ok([inv], [inv])


@pytest.mark.req("REQ-CFG-001")
@pytest.mark.parametrize("replays", [True, False])
def test_a_counterexample_that_does_not_replay_kills_no_mutant(replays: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rule 3 of the campaign: a mutant is killed only by a counterexample that reproduces on the
    mutated runtime. The solver is stood in for by one that finds the same counterexample for every
    query (and a failing step for every obligation); only whether it replays differs."""
    from pumpctl.proofs import engine
    from pumpctl.proofs.mutants import MUTANTS, evaluate

    def bmc(self: Engine, depth: int, only: list[str] | None = None, **kw: object) -> dict[str, engine.Verdict]:
        ids = only or ["INV-DEL-004"]
        return {i: engine.Verdict(i, (), "", True, "counterexample", replayed=replays) for i in ids}

    monkeypatch.setattr(engine.Engine, "bmc", bmc)
    monkeypatch.setattr(engine.Engine, "inductive_step", lambda self, *a, **kw: {"INV-DEL-004": (False, None, None)})
    r = evaluate(next(m for m in MUTANTS if m.id == "M10-bolus-during-alarm"))
    assert r.killed is replays and r.replayed is replays and bool(r.by) is replays, r


@pytest.fixture
def starved(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every Z3 query with a wall-clock limit runs out of time, as on a starved CI machine."""
    from pumpctl.proofs.engine import NO_TIMEOUT

    real_set, real_check = z3.Solver.set, z3.Solver.check
    nets: dict[int, object] = {}

    def set_(self: z3.Solver, *args: object, **kw: object) -> None:
        if args and args[0] == "timeout":
            nets[id(self)] = args[1]
        real_set(self, *args, **kw)

    def check(self: z3.Solver, *a: object) -> z3.CheckSatResult:
        if nets.get(id(self), NO_TIMEOUT) != NO_TIMEOUT:
            return z3.unknown  # out of time
        return real_check(self, *a)

    monkeypatch.setattr(z3.Solver, "set", set_)
    monkeypatch.setattr(z3.Solver, "check", check)


@pytest.mark.req("REQ-CFG-001")
def test_a_machine_too_loaded_for_every_timed_query_gets_the_idle_verdicts(starved: None) -> None:
    """Every query with a wall-clock limit runs out (as on a starved CI machine); the step's last try
    per goal is bounded by work (rlimit), not time, so the obligations are still proved - and a
    false one is still refuted, not left unknown."""
    from pumpctl.proofs.engine import obligations

    invs = [inv for inv in obligations() if inv.id in ONE]  # inductive on its own: seconds, not a minute
    step = Engine(invs=invs).inductive_step()
    assert step and all(ok for ok, _, _ in step.values()), {i: d for i, (ok, d, _) in step.items() if not ok}
    bogus = StepInv("BOGUS-LOAD", (), "time never passes (false: ticks advance the clock)",
                    lambda s0, v0, e, s1, v1: v1.flow.clock == v0.flow.clock)
    step = Engine(invs=[*invs, bogus]).inductive_step()
    assert not step["BOGUS-LOAD"][0] and "counterexample" in str(step["BOGUS-LOAD"][1]), step["BOGUS-LOAD"]


def test_a_loaded_machine_finds_every_row_satisfiable(starved: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """The well-formedness check decides by work too: a CI run under load once reported a row of
    the real table unsatisfiable because its query ran out of time (unknown counts as unsatisfiable)."""
    from pumpctl.proofs import prove

    monkeypatch.setattr(prove, "reach", lambda eng, depth: ({}, []))  # the rows, not the reachability
    wf = prove.check_wellformed(Engine(), 1)
    assert wf.unsat_rows == []
