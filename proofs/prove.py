"""``pumpctl prove``: every obligation proved, refuted with a trace, or honestly unknown.

Theory of operation
-------------------
``run`` builds the encoding of the table once and then

1. checks the base case: every obligation holds in every power-on state (any valid
   configuration);
2. runs the row-by-row inductive step for all obligations together;
3. for each obligation whose step failed, searches for a real counterexample from power-on
   (BMC up to ``depth`` events, that obligation only); if none, tries k-induction for
   k = 2..``kmax``; otherwise the verdict is ``unknown`` with the reason;
4. well-formedness: every row's guard is satisfiable in some state satisfying every invariant,
   every state is reachable from power-on (with a witness trace), and a determinism report
   lists the rows of one (state, trigger) whose guards overlap (order decides).

Timings are reported separately from verdicts so the verdicts are byte-stable. ``progress``, when
given, hears each phase start and end and each follow-up obligation as
``progress(task, done, total, note)`` (``controller.cli.progress``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import z3

from controller.core.state import STATES
from controller.core.table import TABLE, Row
from pumpctl.proofs import edge, horizon, shortcuts
from pumpctl.proofs import encode as E
from pumpctl.proofs.engine import Engine, Inv, TraceStep, VacuousStep, Verdict, pre_holds
from pumpctl.specs.invariants import StateInv

Step = Callable[[str, int, int, str], None]


def _quiet(task: str, done: int, total: int, note: str) -> None:
    pass


@dataclass
class WellFormed:
    unsat_rows: list[str] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)
    witnesses: dict[str, list[TraceStep]] = field(default_factory=dict)
    overlaps: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class ProofRun:
    verdicts: list[Verdict]
    wellformed: WellFormed | None
    z3_version: str
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        wf_ok = self.wellformed is None or not (self.wellformed.unsat_rows or self.wellformed.unreachable)
        return wf_ok and bool(self.verdicts) and all(v.verdict == "proved" for v in self.verdicts)


def run(table: tuple[Row, ...] = TABLE, *, only: list[str] | None = None, depth: int = 6, kmax: int = 3,
        timeout_ms: int = 30_000, wellformed: bool = True, engine: Engine | None = None, jobs: int = 1,
        progress: Step = _quiet) -> ProofRun:
    """``jobs``: processes for the inductive step (``Engine.inductive_step``; the real table only)."""
    t_start = time.perf_counter()
    progress("proofs encoding", 0, 1, "the table as a Z3 transition relation")
    eng = engine if engine is not None else Engine(table=table, timeout_ms=timeout_ms)
    timings = {"encode": time.perf_counter() - t_start}
    progress("proofs encoding", 1, 1, f"{len(eng.invs)} obligations")
    t0 = time.perf_counter()
    progress("proofs base case", 0, 1, "every obligation at power-on")
    base = eng.bmc(0)
    timings["base case"] = time.perf_counter() - t0
    progress("proofs base case", 1, 1, f"{len(base)} broken at power-on")
    progress("proofs inductive step", 0, 1, f"every row, every obligation ({jobs} process{'es' * (jobs > 1)})")
    try:
        inductive, dropped, spent_total = eng.houdini(jobs)
    except VacuousStep as exc:
        progress("proofs inductive step", 1, 1, f"vacuous: {exc}")
        vacuous = [Verdict(inv.id, inv.reqs, inv.text, inv.safety, "unknown", None, 0.0, str(exc))
                   for inv in eng.invs if not only or inv.id in only]
        return ProofRun(vacuous, None, z3.get_version_string(), time.perf_counter() - t_start, timings)
    timings["inductive step"] = spent_total
    progress("proofs inductive step", 1, 1, f"{len(inductive)} of {len(eng.invs)} inductive at k=1")
    share = spent_total / max(1, len(eng.invs))
    proved_ids = {inv.id for inv in inductive}
    verdicts: list[Verdict] = []
    follow = [inv.id for inv in eng.invs if (not only or inv.id in only) and inv.id not in base
              and inv.id not in proved_ids]
    if follow:
        progress("proofs follow-up", 0, len(follow), "counterexample search, then k-induction")
    for inv in eng.invs:
        if only and inv.id not in only:
            continue
        t0 = time.perf_counter()
        if inv.id in base:
            verdicts.append(base[inv.id])
            continue
        if inv.id in proved_ids:
            verdicts.append(Verdict(inv.id, inv.reqs, inv.text, inv.safety, "proved", 1, share,
                                    f"inductive (k=1) together with {len(inductive) - 1} other obligations; "
                                    "base case at power-on"))
            continue
        first, spent = dropped[inv.id], share
        found = eng.bmc(depth, only=[inv.id])
        if inv.id in found:
            verdicts.append(found[inv.id])
            _followed(progress, follow, found[inv.id])
            continue
        verdict = Verdict(inv.id, inv.reqs, inv.text, inv.safety, "unknown", None, 0.0,
                          f"k=1 step failed ({first}); no counterexample within {depth} events")
        for k in range(2, kmax + 1):
            r = eng.k_induction(inv, k, inductive)
            if r == "proved":
                verdict = Verdict(inv.id, inv.reqs, inv.text, inv.safety, "proved", k, 0.0,
                                  f"{k}-induction; no counterexample within {depth} events")
                break
            verdict.detail += f"; k={k}: {r}"
        verdict.seconds = time.perf_counter() - t0 + spent
        verdicts.append(verdict)
        _followed(progress, follow, verdict)
    t0 = time.perf_counter()
    # the run-time shortcuts, proved exact over every value
    progress("proofs shortcuts", 0, 1, "the runtime shortcuts, exact over every value")
    verdicts.extend(v for v in shortcuts.verdicts(eng.timeout_ms) if not only or v.id in only)
    timings["shortcuts"] = time.perf_counter() - t0
    progress("proofs shortcuts", 1, 1, "")
    # the quiet horizon (long quiet ticks are the short ticks they replace) and the program-building
    # edge (compiled library bounds, exact over every value); with jobs and the real table each in
    # a process of its own, beside the well-formedness check in this one (all three are CPU-bound)
    want_horizon = not only or any(i in only for i in horizon.IDS)
    side = jobs > 1 and eng._parallel_ok(eng.invs, eng.invs)
    pool = _side_pool() if side else None
    try:
        t0 = time.perf_counter()
        progress("proofs horizon", 0, 1, "a quiet tick is exactly the short ticks it replaces, every state")
        progress("proofs edge", 0, 1, "compiled library bounds round toward less drug, every value")
        inductive_ids = [inv.id for inv in inductive]
        later_h = (pool.submit(_horizon_job, inductive_ids, sorted(base), eng.timeout_ms)
                   if pool is not None and want_horizon else None)
        later_e = pool.submit(edge.verdicts, eng.timeout_ms, only) if pool is not None else None
        # --only still needs the well-formedness its obligations rest on: an impossible domain or an
        # unsatisfiable row would make any "proved" vacuous
        wf = None
        if wellformed:
            progress("proofs well-formedness", 0, 1, "every guard satisfiable, every state reachable")
            wf = check_wellformed(eng, depth)
            timings["well-formedness"] = wf.seconds
            progress("proofs well-formedness", 1, 1, f"{len(wf.unsat_rows)} unsatisfiable row(s), "
                                                       f"{len(wf.unreachable)} unreachable state(s)")
        if want_horizon:
            proved_h: list[Verdict] = later_h.result() if later_h is not None else _horizon(eng, inductive, base)
            verdicts.extend(v for v in proved_h if not only or v.id in only)
        progress("proofs horizon", 1, 1, "")
        verdicts.extend(later_e.result() if later_e is not None else edge.verdicts(eng.timeout_ms, only))
        progress("proofs edge", 1, 1, "")
        spent = time.perf_counter() - t0
        if side:
            timings["horizon, edge, well-formedness (side by side)"] = spent
        else:
            timings["horizon and edge"] = spent - (wf.seconds if wf is not None else 0.0)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return ProofRun(verdicts, wf, z3.get_version_string(), time.perf_counter() - t_start, timings)


def _side_pool() -> Any:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"))


def _horizon_job(inductive_ids: list[str], broken: list[str], timeout_ms: int) -> list[Verdict]:
    """``_horizon`` in a fresh process (the real table, encoded again from the source)."""
    eng = Engine(timeout_ms=timeout_ms)
    by_id = {inv.id: inv for inv in eng.invs}
    base = {i: Verdict(i, (), "", True, "counterexample") for i in broken}
    return _horizon(eng, [by_id[i] for i in inductive_ids], base)


def _horizon(eng: Engine, inductive: list[Inv], base: dict[str, Verdict]) -> list[Verdict]:
    """The horizon proofs over the reachable states the inductive obligations describe; those
    hold in every reachable state only if none is broken at power-on (else: unknown, said why)."""
    if any(inv.id in base for inv in inductive):
        return [Verdict(i, horizon.REQS, "", True, "unknown", None, 0.0,
                        "its premise (the inductive obligations) includes one broken at power-on") for i in horizon.IDS]
    # the state obligations are enough for additivity (the ghosts and step claims add only work)
    return horizon.verdicts([inv for inv in inductive if isinstance(inv, StateInv)], eng.timeout_ms,
                            engine=eng if eng.table is TABLE else None)


def _followed(progress: Step, follow: list[str], v: Verdict) -> None:
    progress("proofs follow-up", follow.index(v.id) + 1, len(follow), f"{v.id} {v.verdict}")


def check_wellformed(eng: Engine, depth: int) -> WellFormed:
    t0 = time.perf_counter()
    out = WellFormed()
    sol = eng.solver()
    f = eng.f0
    sol.add(E.domain(f), E.event_domain(eng.e0))
    for inv in eng.invs:
        pre = pre_holds(inv, f.st, f.v, f.gh)
        if pre is not None:
            sol.add(E._b(pre))
    by_group: dict[tuple[str, str], list[E.Fired]] = {}
    for x in eng.fired:
        if not x.power:
            by_group.setdefault((x.source, eng.table[x.row].trigger), []).append(x)
        sol.push()
        sol.add(x.fire)
        if eng.decide(sol) != z3.sat:  # unknown (even by work) counts as unsatisfiable: never a silent pass
            out.unsat_rows.append(f"{x.label(eng.table)} from {x.source}")
        sol.pop()
    for (source, trigger), rows in sorted(by_group.items()):
        guards = [_guard_of(eng, x) for x in rows]
        for i in range(len(rows)):
            for j in range(i + 1, len(rows)):
                sol.push()
                sol.add(f.st.term == E.STATE_CODE[source], guards[i], guards[j])
                if eng.decide(sol) == z3.sat:
                    out.overlaps.append(f"{source} on {trigger}: row {rows[i].row} ({eng.table[rows[i].row].label})"
                                        f" before row {rows[j].row} ({eng.table[rows[j].row].label})")
                sol.pop()
    out.witnesses, out.unreachable = reach(eng, depth)
    out.seconds = time.perf_counter() - t0
    return out


def _guard_of(eng: Engine, x: E.Fired) -> z3.BoolRef:
    g = eng.table[x.row].guard(eng.f0.v, E.as_event(eng.e0.e), x.source)
    return g if isinstance(g, z3.BoolRef) else z3.BoolVal(bool(g))


def reach(eng: Engine, depth: int) -> tuple[dict[str, list[TraceStep]], list[str]]:
    """A shortest witness trace from power-on for every state (BMC)."""
    frames = [E.new_frame(300)]
    steps: list[E.StepVars] = []
    sol = eng.solver()
    sol.add(E.domain(frames[0]), E.init(frames[0]))
    witnesses: dict[str, list[TraceStep]] = {}
    for d in range(depth + 1):
        if d > 0:
            s, g = E.new_event(300 + d), E.new_frame(300 + d)
            sol.add(E.event_domain(s), E.domain(g), eng.step_relation(frames[-1], s, g))
            steps.append(s)
            frames.append(g)
        for state in STATES:
            if state in witnesses:
                continue
            sol.push()
            sol.add(frames[d].st.term == E.STATE_CODE[state])
            if eng.decide(sol) == z3.sat:
                witnesses[state] = eng._trace(sol.model(), frames, steps)
            sol.pop()
        if len(witnesses) == len(STATES):
            break
    return witnesses, [s for s in STATES if s not in witnesses]
